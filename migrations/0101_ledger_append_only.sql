-- The balance ledger is append-only (issue 5, item 6): a row, once written, is history. A
-- correction is a new row (kind 'admin' or 'refund'), never an edit, so the sum of a user's rows
-- always tells how their balance came to be.
CREATE FUNCTION balance_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'balance_ledger is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER balance_ledger_append_only
    BEFORE UPDATE OR DELETE ON balance_ledger
    FOR EACH ROW EXECUTE FUNCTION balance_ledger_append_only();

-- Plan changes with proration (issue 12.4). What is left of a subscription is worth what was
-- paid for it per day (common/shop/proration.py reads the grants: activations with their days,
-- and what paid for each); trial, gift, bonus and admin days are worth nothing but are kept.
-- A change converts that value into days of the new plan; what it does not cover is paid from the
-- balance, then by an invoice (a purchase of kind 'change', whose settlement completes the change).
ALTER TABLE purchases DROP CONSTRAINT purchases_kind_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_kind_check
    CHECK (kind IN ('subscription', 'topup', 'gift', 'change'));

CREATE TABLE plan_changes (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id),
    request_id    text NOT NULL,                      -- the confirmation's key: a second tap is the same change
    from_plan_id  integer REFERENCES plans(id),
    to_plan_id    integer NOT NULL REFERENCES plans(id),
    value_left    numeric(14, 2) NOT NULL CHECK (value_left >= 0),    -- of the old plan, when it was done
    from_balance  numeric(14, 2) NOT NULL DEFAULT 0 CHECK (from_balance >= 0),
    purchase_id   bigint UNIQUE REFERENCES purchases(id),            -- the invoice for what the balance lacked
    paid          numeric(14, 2) NOT NULL DEFAULT 0 CHECK (paid >= 0),   -- by that invoice
    days          integer CHECK (days > 0),           -- of the new plan, when done
    free_seconds  bigint NOT NULL DEFAULT 0 CHECK (free_seconds >= 0),  -- unpaid time carried over
    state         text NOT NULL DEFAULT 'awaiting_payment' CHECK (state IN ('awaiting_payment', 'done', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    done_at       timestamptz,
    UNIQUE (user_id, request_id),
    CHECK (state <> 'done' OR days IS NOT NULL)
);
CREATE INDEX plan_changes_user_idx ON plan_changes (user_id, id DESC) WHERE state = 'done';

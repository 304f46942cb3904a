-- Telegram Stars subscriptions (issue 13.1). A monthly plan sold through createInvoiceLink with
-- subscription_period: Telegram charges the user every 30 days on its own clock, and every charge
-- (the first and each renewal) arrives as a successful_payment carrying the first invoice's
-- payload. The first charge settles the purchase the link was made for; each renewal becomes a
-- purchase of its own (renewal_of names the first), settled by the same function and keyed like
-- any Stars payment by its telegram_payment_charge_id, so a refund takes back exactly its days.
ALTER TABLE purchases
    ADD COLUMN recurring  boolean NOT NULL DEFAULT false,   -- sold as a Stars subscription
    ADD COLUMN renewal_of bigint REFERENCES purchases(id);  -- a renewal: the subscription's first purchase
CREATE INDEX purchases_renewal_idx ON purchases (renewal_of) WHERE renewal_of IS NOT NULL;

-- One row per Stars subscription, written when its first charge settles. charge_id is what
-- editUserStarSubscription names; period_end is Telegram's subscription_expiration_date as last
-- reported. canceled: the renewal is switched off (by the user from "My subscription"); the
-- subscription still runs to period_end, and a renewal that never comes simply lets it lapse.
CREATE TABLE star_subscriptions (
    purchase_id  bigint PRIMARY KEY REFERENCES purchases(id),
    user_id      bigint NOT NULL REFERENCES users(id),
    charge_id    text NOT NULL UNIQUE,
    plan_id      integer REFERENCES plans(id),
    amount       integer NOT NULL CHECK (amount > 0),
    period_end   timestamptz,
    canceled     boolean NOT NULL DEFAULT false,
    renewals     integer NOT NULL DEFAULT 0 CHECK (renewals >= 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX star_subscriptions_user_idx ON star_subscriptions (user_id, created_at DESC);

-- Refunds (issue 13.2): one row per refunded purchase, however the refund came (an admin in the
-- console, a chargeback seen as a refunded_payment update or in getStarTransactions). The unique
-- purchase is what makes a second report of one refund a no-op; like the balance ledger the
-- table is history, so it refuses updates and deletes.
CREATE TABLE payment_refunds (
    id            bigserial PRIMARY KEY,
    purchase_id   bigint NOT NULL UNIQUE REFERENCES purchases(id),
    user_id       bigint NOT NULL REFERENCES users(id),
    provider      text NOT NULL CHECK (provider IN ('cryptobot', 'stars')),
    provider_ref  text,                              -- the refunded charge (Stars) or invoice (Crypto Pay)
    source        text NOT NULL CHECK (source IN ('admin', 'refunded_payment', 'star_transactions')),
    admin_id      bigint,                            -- who refunded, when an admin did
    amount        numeric(14, 2) NOT NULL,
    currency      text NOT NULL,
    days_taken    integer NOT NULL DEFAULT 0 CHECK (days_taken >= 0),
    revoked       boolean NOT NULL DEFAULT false,    -- nothing was left: the key was disabled
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (source = 'admin' OR admin_id IS NULL)       -- a refund through the REFUND RPC may name no admin
);
CREATE INDEX payment_refunds_user_idx ON payment_refunds (user_id, created_at);

CREATE FUNCTION payment_refunds_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payment_refunds is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER payment_refunds_append_only
    BEFORE UPDATE OR DELETE ON payment_refunds
    FOR EACH ROW EXECUTE FUNCTION payment_refunds_append_only();

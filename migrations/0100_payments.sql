-- Payments (issue 5): what settlement needs beside the core tables.

-- A purchase remembers what it sells at the price and length of the moment it was bought, so an
-- admin editing a plan cannot change an invoice already in a user's hands.
ALTER TABLE purchases
    ADD COLUMN request_id          text,            -- create_invoice idempotency key (per user)
    ADD COLUMN days                integer CHECK (days IS NULL OR days > 0),
    ADD COLUMN traffic_limit_bytes bigint,
    ADD COLUMN paid_asset          text,            -- what the payer actually sent (Crypto Pay)
    ADD COLUMN paid_amount         numeric(38, 18),
    ADD COLUMN settled_via         text,            -- webhook | reconcile | stars_update | stars_reconcile | check
    ADD COLUMN refunded_at         timestamptz;
CREATE UNIQUE INDEX purchases_request_uq ON purchases (user_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX purchases_open_idx ON purchases (method, id) WHERE status = 'pending';

-- One row per payment the provider told us about (a Crypto Pay invoice, a Stars charge), whoever
-- told us first: the webhook, reconciliation, the bot's successful_payment or an admin's check.
-- The primary key is what makes a second report of the same payment a no-op. Crypto Pay's
-- update_id is kept for the log only: the provider documents it as non-unique.
CREATE TABLE payment_events (
    provider     text NOT NULL CHECK (provider IN ('cryptobot', 'stars')),
    provider_ref text NOT NULL,                     -- Crypto Pay invoice_id | telegram_payment_charge_id
    source       text NOT NULL CHECK (source IN ('webhook', 'reconcile', 'stars_update', 'stars_reconcile', 'check')),
    outcome      text NOT NULL CHECK (outcome IN ('settled', 'flagged', 'unknown')),
    purchase_id  bigint REFERENCES purchases(id),
    update_id    bigint,
    reason       text,
    detail       jsonb NOT NULL DEFAULT '{}',
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, provider_ref)
);
CREATE INDEX payment_events_purchase_idx ON payment_events (purchase_id) WHERE purchase_id IS NOT NULL;
CREATE INDEX payment_events_attention_idx ON payment_events (received_at) WHERE outcome <> 'settled';

-- Where each reconciliation scan has got to (e.g. the offset into getStarTransactions, which
-- lists a bot's Star transactions in chronological order).
CREATE TABLE payments_cursors (
    name       text PRIMARY KEY,
    position   bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

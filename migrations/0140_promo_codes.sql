-- Promo codes (issue 12.1). An admin creates a code; a purchase carries it from its invoice on.
--
-- A use is held, not spent, while the purchase that carries the code is pending: the hold is
-- what the count of uses sees, so two invoices cannot both take the last use. A purchase that
-- leaves 'pending' unpaid (expired, failed) releases its hold by that alone — an abandoned
-- invoice gives the use back. The use is spent in the settlement's own transaction, as a
-- promo_uses row, under a lock of the code's row.
CREATE TABLE promo_codes (
    id                  serial PRIMARY KEY,
    code                text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),   -- stored upper case
    kind                text NOT NULL CHECK (kind IN ('percent', 'amount', 'days', 'free_plan')),
    -- percent: 1..100 off; amount: off the price, in ATCS_CRYPTOPAY_FIAT (Stars in proportion);
    -- days: added to what the plan gives; free_plan: 0 (the plan costs nothing).
    value               numeric(12, 2) NOT NULL DEFAULT 0,
    plan_ids            integer[] NOT NULL DEFAULT '{}',     -- the plans it applies to; empty: every plan
    valid_from          timestamptz NOT NULL DEFAULT now(),
    valid_until         timestamptz,
    max_uses            integer CHECK (max_uses IS NULL OR max_uses > 0),   -- NULL: no limit
    once_per_user       boolean NOT NULL DEFAULT true,
    first_purchase_only boolean NOT NULL DEFAULT false,
    disabled_at         timestamptz,
    created_by          bigint NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until IS NULL OR valid_until > valid_from),
    CHECK (CASE kind WHEN 'percent' THEN value BETWEEN 1 AND 100 AND value = trunc(value)
                     WHEN 'amount' THEN value > 0
                     WHEN 'days' THEN value BETWEEN 1 AND 3650 AND value = trunc(value)
                     ELSE value = 0 END),
    CHECK (kind <> 'free_plan' OR cardinality(plan_ids) > 0)
);

-- What a purchase paid against what the plan cost: the discount, for the admin's statistics.
ALTER TABLE purchases
    ADD COLUMN promo_code_id integer REFERENCES promo_codes(id),
    ADD COLUMN list_amount   numeric(14, 2);
CREATE INDEX purchases_promo_held_idx ON purchases (promo_code_id) WHERE status = 'pending' AND promo_code_id IS NOT NULL;
CREATE INDEX purchases_promo_idx ON purchases (promo_code_id) WHERE promo_code_id IS NOT NULL;

-- One row per spent use, written by the settlement that spent it.
CREATE TABLE promo_uses (
    purchase_id   bigint PRIMARY KEY REFERENCES purchases(id),
    code_id       integer NOT NULL REFERENCES promo_codes(id),
    user_id       bigint NOT NULL REFERENCES users(id),
    once_per_user boolean NOT NULL,                   -- the code's rule when it was spent
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX promo_uses_code_idx ON promo_uses (code_id);
-- The last word on "one use per user", whatever a lock or a count got wrong.
CREATE UNIQUE INDEX promo_uses_once_uq ON promo_uses (code_id, user_id) WHERE once_per_user;

-- A plan given free by a code is a purchase too (method 'promo', amount 0): it has an id for the
-- activation key, shows in the user's purchases, and counts as the code's use.
ALTER TABLE purchases DROP CONSTRAINT purchases_method_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_method_check
    CHECK (method IN ('cryptobot', 'stars', 'balance', 'admin', 'promo'));

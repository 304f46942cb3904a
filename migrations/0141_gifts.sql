-- Gift subscriptions (issue 12.2). A gift is a purchase of kind 'gift': paid like any other, but
-- its settlement credits no days to the buyer; it makes a gifts row whose token is the link
-- (t.me/<bot>?start=gift_<token>). Redeeming moves the row ready -> redeemed in one statement
-- (whoever is first wins) and grants the days in the same transaction.
ALTER TABLE purchases DROP CONSTRAINT purchases_kind_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_kind_check CHECK (kind IN ('subscription', 'topup', 'gift'));

CREATE TABLE gifts (
    id                  bigserial PRIMARY KEY,
    purchase_id         bigint NOT NULL UNIQUE REFERENCES purchases(id),
    giver_id            bigint NOT NULL REFERENCES users(id),
    token               text NOT NULL UNIQUE CHECK (token ~ '^[A-Za-z0-9_-]{22,43}$'),   -- 128+ random bits
    plan_id             integer REFERENCES plans(id),
    days                integer NOT NULL CHECK (days > 0),
    traffic_limit_bytes bigint,
    state               text NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'redeemed', 'refunded')),
    valid_until         timestamptz NOT NULL,
    recipient_id        bigint REFERENCES users(id),
    redeemed_at         timestamptz,
    refunded_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (recipient_id IS NULL OR recipient_id <> giver_id),
    CHECK ((state = 'redeemed') = (recipient_id IS NOT NULL))
);
CREATE INDEX gifts_giver_idx ON gifts (giver_id, created_at DESC);

-- A refunded charge of a Telegram Stars subscription cancels its renewal (issue 13.2).
--
-- Telegram's refundStarPayment gives the Stars back and nothing more: the subscription keeps
-- renewing until the bot cancels it (editUserStarSubscription, is_canceled = true). The refund's
-- transaction marks the subscription cancelled here (what "My subscription" and the reminders
-- read) and queues the Telegram call in star_renewal_cancels, which payments works like any
-- outbox: claimed with a lease, retried with backoff while Telegram is unreachable, done once.

-- The refunded purchase that cancelled the subscription; such a subscription cannot be re-enabled
-- (the user subscribes again instead).
ALTER TABLE star_subscriptions ADD COLUMN canceled_by_refund bigint REFERENCES purchases(id);

CREATE TABLE star_renewal_cancels (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL UNIQUE REFERENCES star_subscriptions(purchase_id),
    refund_of       bigint NOT NULL REFERENCES purchases(id),   -- the refunded purchase
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX star_renewal_cancels_due_idx ON star_renewal_cancels (next_attempt_at) WHERE state = 'pending';

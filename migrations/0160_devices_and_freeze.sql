-- Device limits (issue 13.3) and pauses of a paid subscription (issue 13.4).

-- How many devices a plan allows at once (0 = no limit). The subscription keeps the limit of the
-- plan it was bought or changed to, as it keeps its traffic allowance: vpn_gateway writes it to
-- the panel (Remnawave hwidDeviceLimit, 3x-ui limitIp) on every activation and renewal.
ALTER TABLE plans ADD COLUMN device_limit integer NOT NULL DEFAULT 0
    CHECK (device_limit BETWEEN 0 AND 100);
UPDATE plans SET device_limit = CASE code WHEN 'month_1' THEN 3 WHEN 'month_3' THEN 3
                                          WHEN 'month_6' THEN 5 WHEN 'year_1' THEN 5 ELSE 0 END;

ALTER TABLE subscriptions ADD COLUMN device_limit integer NOT NULL DEFAULT 0
    CHECK (device_limit BETWEEN 0 AND 100);
UPDATE subscriptions s SET device_limit = p.device_limit FROM plans p WHERE p.id = s.plan_id;

-- A paused subscription: frozen_at is when the pause began, frozen_until when it ends by itself.
-- expires_at is left as it was; the unfreeze moves it by the time paused (common/shop/freeze.py),
-- so the days left come back to the second. Timed jobs skip it while frozen_at is set.
ALTER TABLE subscriptions ADD COLUMN frozen_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN frozen_until timestamptz;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_frozen_check
    CHECK ((frozen_at IS NULL) = (frozen_until IS NULL) AND (frozen_until IS NULL OR frozen_until > frozen_at));
CREATE INDEX subscriptions_thaw_idx ON subscriptions (frozen_until) WHERE frozen_at IS NOT NULL;

-- Every pause, for the yearly allowance (ATCS_FREEZE_DAYS_PER_YEAR): a pause counts what it
-- lasted (ended_at - started_at), one still running what it may last (until - started_at).
CREATE TABLE subscription_freezes (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id),
    started_at  timestamptz NOT NULL,
    until       timestamptz NOT NULL CHECK (until > started_at),
    ended_at    timestamptz CHECK (ended_at >= started_at),
    ended_by    text CHECK (ended_by IN ('user', 'schedule')),
    CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);
CREATE UNIQUE INDEX subscription_freezes_open_uq ON subscription_freezes (user_id) WHERE ended_at IS NULL;
CREATE INDEX subscription_freezes_user_idx ON subscription_freezes (user_id, started_at);

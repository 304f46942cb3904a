-- Core shop schema shared by the services. Each service owns the tables it writes most and adds
-- its own in later files (payments 01xx, vpn_gateway 02xx, bot 03xx, scheduler 04xx).
-- Money is numeric, never float. Idempotency lives in unique constraints.

CREATE TABLE users (
    id              bigint PRIMARY KEY,               -- Telegram user id
    username        text,
    first_name      text NOT NULL DEFAULT '',
    language        text NOT NULL DEFAULT 'en',
    referral_code   text NOT NULL UNIQUE,
    referred_by     bigint REFERENCES users(id),
    is_banned       boolean NOT NULL DEFAULT false,
    blocked_bot     boolean NOT NULL DEFAULT false,   -- Telegram answered 403: skip in broadcasts
    trial_used_at   timestamptz,                      -- set once: the free trial is once per user
    balance         numeric(14, 2) NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (referred_by IS NULL OR referred_by <> id)
);
CREATE INDEX users_username_idx ON users (lower(username));
CREATE INDEX users_referred_by_idx ON users (referred_by) WHERE referred_by IS NOT NULL;

CREATE TABLE plans (
    id              serial PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    days            integer NOT NULL CHECK (days > 0),
    price           numeric(12, 2) NOT NULL CHECK (price > 0),   -- in the fiat of ATCS_CRYPTOPAY_FIAT
    stars_price     integer NOT NULL CHECK (stars_price > 0),     -- Telegram Stars (XTR)
    traffic_gb      integer NOT NULL DEFAULT 0 CHECK (traffic_gb >= 0),  -- 0 = unlimited
    is_active       boolean NOT NULL DEFAULT true,
    sort_order      integer NOT NULL DEFAULT 0
);
INSERT INTO plans (code, days, price, stars_price, traffic_gb, sort_order) VALUES
    ('month_1', 30, 3.00, 150, 100, 1),
    ('month_3', 90, 8.00, 400, 300, 2),
    ('month_6', 180, 15.00, 750, 0, 3),
    ('year_1', 365, 27.00, 1350, 0, 4);

-- One subscription per user; renewals extend expires_at from max(now, expires_at).
CREATE TABLE subscriptions (
    user_id             bigint PRIMARY KEY REFERENCES users(id),
    expires_at          timestamptz NOT NULL,
    traffic_limit_bytes bigint NOT NULL DEFAULT 0,    -- 0 = unlimited
    is_trial            boolean NOT NULL DEFAULT false,
    auto_renew          boolean NOT NULL DEFAULT false,
    plan_id             integer REFERENCES plans(id),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'revoked')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_expiry_idx ON subscriptions (expires_at) WHERE status = 'active';

CREATE TABLE purchases (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id),
    plan_id         integer REFERENCES plans(id),       -- NULL for a balance top-up
    kind            text NOT NULL CHECK (kind IN ('subscription', 'topup')),
    method          text NOT NULL CHECK (method IN ('cryptobot', 'stars', 'balance', 'admin')),
    amount          numeric(14, 2) NOT NULL CHECK (amount >= 0),
    currency        text NOT NULL,                      -- USD/EUR/... or XTR
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'paid', 'expired', 'cancelled', 'refunded', 'flagged')),
    provider_invoice_id text,                           -- Crypto Pay invoice_id
    provider_charge_id  text,                           -- telegram_payment_charge_id for Stars
    invoice_url     text,
    flag_reason     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    paid_at         timestamptz,
    expires_at      timestamptz
);
CREATE UNIQUE INDEX purchases_invoice_uq ON purchases (method, provider_invoice_id) WHERE provider_invoice_id IS NOT NULL;
CREATE UNIQUE INDEX purchases_charge_uq ON purchases (method, provider_charge_id) WHERE provider_charge_id IS NOT NULL;
CREATE INDEX purchases_pending_idx ON purchases (method, created_at) WHERE status = 'pending';
CREATE INDEX purchases_user_idx ON purchases (user_id, created_at DESC);

-- Append-only: every change of a balance is a row, applied once (unique kind + reference).
CREATE TABLE balance_ledger (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users(id),
    amount      numeric(14, 2) NOT NULL CHECK (amount <> 0),
    kind        text NOT NULL CHECK (kind IN ('topup', 'renewal', 'refund', 'referral_bonus', 'admin', 'purchase')),
    reference   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, reference)
);
CREATE INDEX balance_ledger_user_idx ON balance_ledger (user_id, created_at);

-- Outbox for vpn_gateway: written in the same transaction as the change that needs it.
CREATE TABLE activations (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id),
    action          text NOT NULL CHECK (action IN ('issue', 'extend', 'revoke', 'reissue', 'expire', 'set_limit')),
    idempotency_key text NOT NULL UNIQUE,               -- e.g. purchase:<id>, trial:<user>, expiry:<user>:<date>
    payload         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    done_at         timestamptz
);
CREATE INDEX activations_due_idx ON activations (next_attempt_at) WHERE state = 'pending';

-- Outbox for messages to one user, sent by the bot process.
CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id),
    kind            text NOT NULL,                      -- translation key family, e.g. key_ready, payment_received
    params          jsonb NOT NULL DEFAULT '{}',
    idempotency_key text UNIQUE,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE state = 'pending';

-- The referrer's bonus is credited once per invitee, on the invitee's first payment.
CREATE TABLE referral_bonuses (
    invitee_id  bigint PRIMARY KEY REFERENCES users(id),
    referrer_id bigint NOT NULL REFERENCES users(id),
    purchase_id bigint NOT NULL REFERENCES purchases(id),
    days        integer NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Alerts for the admins (supervisord FATAL, failed activations, flagged payments), sent by the bot.
CREATE TABLE admin_alerts (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    subject     text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX admin_alerts_unsent_idx ON admin_alerts (created_at) WHERE sent_at IS NULL;

-- Every admin action, for the audit log screen.
CREATE TABLE admin_audit (
    id          bigserial PRIMARY KEY,
    admin_id    bigint NOT NULL,
    action      text NOT NULL,
    target      text,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The user's account on a VPN panel, kept by vpn_gateway. access_key is a secret: shown only to
-- its owner, never logged. The bot reads it to show "My subscription".
CREATE TABLE vpn_accounts (
    user_id             bigint PRIMARY KEY REFERENCES users(id),
    server              text NOT NULL,                 -- name of the server in ATCS_VPN_SERVERS
    backend             text NOT NULL,                 -- outline | remnawave
    external_id         text NOT NULL UNIQUE,          -- our id on the panel (name/username): finds a half-made account
    panel_id            text,                          -- the panel's own id (Outline key id, Remnawave uuid)
    access_key          text,
    expires_at          timestamptz,                   -- as applied on the panel
    traffic_limit_bytes bigint NOT NULL DEFAULT 0,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    used_bytes          bigint,
    used_checked_at     timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vpn_accounts_server_idx ON vpn_accounts (server) WHERE status = 'active';

-- Scheduler (issue 7): runs of periodic jobs, durable broadcasts, CSV export jobs.
-- The timed jobs on subscriptions keep no state of their own: the idempotency keys of the
-- notifications and activations they write are what makes each happen once per period.

-- One row per run of a job that must happen once per period (the daily backup: period =
-- '2026-02-12') or on an admin's request (period = 'manual:<request_id>'). The primary key is
-- the "exactly once"; a row left 'running' by a killed scheduler is taken again after a timeout.
CREATE TABLE scheduler_job_runs (
    job          text NOT NULL,
    period       text NOT NULL,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    requested_by bigint,                              -- admin id for a manual run
    result       jsonb NOT NULL DEFAULT '{}',
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (job, period)
);
CREATE INDEX scheduler_job_runs_open_idx ON scheduler_job_runs (job, created_at) WHERE state IN ('queued', 'running');

-- A broadcast is a row; its recipients are rows written once when it starts (the audience is
-- frozen then). Counters are kept here, in the transaction that moves recipient rows, so that
-- progress is one cheap read whatever the size.
CREATE TABLE broadcasts (
    id                  bigserial PRIMARY KEY,
    admin_id            bigint NOT NULL,
    request_id          text NOT NULL,                -- the admin console's idempotency key
    text                text NOT NULL,
    parse_mode          text CHECK (parse_mode IN ('HTML')),
    link_preview        boolean NOT NULL DEFAULT false,
    audience            text NOT NULL CHECK (audience IN ('all', 'active', 'inactive', 'trial', 'never_subscribed')),
    language            text,                         -- only users with this language, if set
    progress_chat_id    bigint,                       -- the admin's message edited with progress
    progress_message_id bigint,
    locale              text NOT NULL DEFAULT 'en',   -- language of the progress texts
    progress_shown      text,                         -- the state the progress message shows
    state               text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'paused', 'cancelled', 'done', 'failed')),
    total               integer NOT NULL DEFAULT 0,
    sent                integer NOT NULL DEFAULT 0,
    failed              integer NOT NULL DEFAULT 0,
    blocked             integer NOT NULL DEFAULT 0,
    in_doubt            integer NOT NULL DEFAULT 0,   -- rows found mid-send after a crash, sent again
    throttled           integer NOT NULL DEFAULT 0,   -- 429 answers received
    rate                real NOT NULL DEFAULT 0,      -- recent messages per second
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (admin_id, request_id)
);
CREATE INDEX broadcasts_open_idx ON broadcasts (id) WHERE state IN ('queued', 'running', 'paused');

-- One delivery per recipient: the primary key. 'sending' marks rows handed to the sender, so
-- after a crash the rows whose fate is unknown can be counted (and are sent again).
-- No foreign key to users: recipients are inserted in bulk (up to every user), and users are
-- never deleted.
CREATE TABLE broadcast_recipients (
    broadcast_id    bigint NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    user_id         bigint NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
    attempts        smallint NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    error           text,
    done_at         timestamptz,
    PRIMARY KEY (broadcast_id, user_id)
);
CREATE INDEX broadcast_recipients_open_idx ON broadcast_recipients (broadcast_id, user_id)
    WHERE state IN ('pending', 'sending');

CREATE TABLE export_jobs (
    id                  bigserial PRIMARY KEY,
    admin_id            bigint NOT NULL,
    request_id          text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('users', 'subscriptions', 'payments')),
    chat_id             bigint NOT NULL,              -- where the document goes
    progress_chat_id    bigint,
    progress_message_id bigint,
    locale              text NOT NULL DEFAULT 'en',
    state               text NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'running', 'sending', 'done', 'failed')),
    attempts            integer NOT NULL DEFAULT 0,
    rows                bigint,
    bytes               bigint,
    file_name           text,                         -- as the admin sees it
    file_path           text,                         -- on the scheduler's disk
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz,
    UNIQUE (admin_id, request_id)
);
CREATE INDEX export_jobs_open_idx ON export_jobs (id) WHERE state IN ('queued', 'running', 'sending');

-- Exported text that a spreadsheet would run as a formula (=, +, -, @ first) gets a leading
-- apostrophe: usernames and names are chosen by strangers (CSV injection).
CREATE FUNCTION scheduler_csv_text(value text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN value ~ '^[=+@\t\r-]' THEN '''' || value ELSE value END $$;

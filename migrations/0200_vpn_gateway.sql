-- vpn_gateway: leases on the activation outbox, and durable bulk reissue jobs.

-- A claimed row is hidden from other claims until leased_until; a worker that dies mid-attempt
-- (SIGKILL) leaves a lease that runs out, so the row is worked again and nothing is lost.
-- While one row of a user is leased no other row of that user is claimed: a user's rows never
-- race each other on the panel.
ALTER TABLE activations ADD COLUMN leased_until timestamptz;
-- Set once when admins were alerted about this row (and the user told it is delayed).
ALTER TABLE activations ADD COLUMN alerted_at timestamptz;
CREATE INDEX activations_pending_user_idx ON activations (user_id) WHERE state = 'pending';

-- An admin's "reissue every key": the target users are fixed when the job is made, then fed to
-- the activation queue a few at a time (vpn_bulk_items.state waiting -> queued -> done/failed).
-- All progress lives here, so a restarted gateway carries on where it stopped.
CREATE TABLE vpn_bulk_jobs (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'reissue' CHECK (kind IN ('reissue')),
    admin_id    bigint NOT NULL,
    request_id  text NOT NULL UNIQUE,                   -- the admin's idempotency key
    scope       text NOT NULL,
    state       text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'cancelled')),
    total       integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX vpn_bulk_jobs_open_idx ON vpn_bulk_jobs (id) WHERE state = 'running';

CREATE TABLE vpn_bulk_items (
    job_id          bigint NOT NULL REFERENCES vpn_bulk_jobs(id),
    user_id         bigint NOT NULL REFERENCES users(id),
    state           text NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'queued', 'done', 'failed', 'skipped')),
    activation_id   bigint REFERENCES activations(id),
    PRIMARY KEY (job_id, user_id)
);
CREATE INDEX vpn_bulk_items_open_idx ON vpn_bulk_items (job_id, state) WHERE state IN ('waiting', 'queued', 'failed');

-- A signed invoice_paid webhook is a claim, not a payment (issue 10.2): a replay, a leaked token
-- or a forged body is signed just as well. The webhook stores the claim and answers; a worker
-- asks Crypto Pay (getInvoices) and settles only what the provider confirms.
--
-- One row per distinct claim: an invoice and what the body says about it (digest of the invoice
-- as claimed). Crypto Pay's re-deliveries of one update are the same claim; a forged body for the
-- same invoice is another one, judged on its own.
CREATE TABLE payment_claims (
    invoice_id      bigint NOT NULL CHECK (invoice_id > 0),
    digest          bytea NOT NULL,                 -- sha256 of the claimed invoice (canonical JSON)
    claimed         jsonb NOT NULL,                 -- the invoice as the webhook described it
    update_id       bigint,                         -- for the log only: Crypto Pay says it is not unique
    request_date    text,                           -- for the log only: never a reason to drop a delivery
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'confirmed', 'contradicted')),
    outcome         text,                           -- the settlement's answer, once confirmed
    verdict         text,                           -- what Crypto Pay contradicted, once contradicted
    attempts        integer NOT NULL DEFAULT 0,     -- confirmations that got no usable answer
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    resolved_at     timestamptz,
    PRIMARY KEY (invoice_id, digest)
);
CREATE INDEX payment_claims_due_idx ON payment_claims (next_attempt_at) WHERE state = 'pending';

-- The bot's inbox of updates taken from Telegram (issue 15). An update is written here, in one
-- statement per batch, before its offset is confirmed to Telegram: from then on it is ours, and
-- durable. `handled_at` is set when its handling finished. A poller that takes over (the previous
-- one died) handles again the rows left unfinished (attempts > 1): nothing is lost; a finished row
-- that Telegram gives again is skipped: nothing is answered twice. Finished rows are kept a while
-- as the record of who handled what, then deleted by the poller.
CREATE TABLE bot_updates (
    bot_id      bigint      NOT NULL,
    update_id   bigint      NOT NULL,
    payload     jsonb       NOT NULL,
    poller      text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 1,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz,
    PRIMARY KEY (bot_id, update_id)
);
CREATE INDEX bot_updates_unfinished_idx ON bot_updates (bot_id) WHERE handled_at IS NULL;

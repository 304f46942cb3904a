-- The bot's journal of updates taken from Telegram (issue 15): which poller took each update and
-- whether its handling finished. Telegram keeps every update above the confirmed offset, so a
-- poller that takes over after another died is given again what the dead one had not confirmed:
-- those finished are skipped, those it had started are handled again (attempts > 1), never lost.
-- Rows below the confirmed offset can never come back and are deleted by the poller.
CREATE TABLE bot_updates (
    bot_id      bigint      NOT NULL,
    update_id   bigint      NOT NULL,
    poller      text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 1,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz,
    PRIMARY KEY (bot_id, update_id)
);

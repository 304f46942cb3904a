-- The bot's FSM state (aiogram BaseStorage), so a restart in the middle of a flow continues
-- where the user was. One row per aiogram StorageKey, built by DefaultKeyBuilder.
CREATE TABLE bot_fsm (
    key         text PRIMARY KEY,
    state       text,
    data        jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- For clearing abandoned flows by age (a timed job: the scheduler's, not the bot's).
CREATE INDEX bot_fsm_updated_idx ON bot_fsm (updated_at);

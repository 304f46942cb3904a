-- Paid broadcasts (issue 13.5): sent with Telegram's allow_paid_broadcast, up to 1000 messages/s
-- instead of about 30, each message beyond the free limit costing the bot 0.1 Star. The mode is
-- chosen once, when the admin confirms the broadcast (after seeing its cost), and kept across a
-- pause or a scheduler restart so a resumed broadcast keeps its pace.
ALTER TABLE broadcasts ADD COLUMN paid boolean NOT NULL DEFAULT false;

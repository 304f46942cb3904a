-- The admin console's statistics (services/bot/repositories/admin_stats.py) are aggregate
-- queries over time windows; these indexes keep them to index scans as the tables grow.
CREATE INDEX purchases_paid_at_idx ON purchases (paid_at) WHERE status = 'paid';
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE INDEX users_trial_idx ON users (id) WHERE trial_used_at IS NOT NULL;

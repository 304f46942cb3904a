-- A purchase whose invoice could not be created is closed at once as 'failed' (issue 10.7), not
-- left pending until reconciliation expires it an hour later. "Try again" repeats the same
-- request and reopens it. Like 'expired', it still settles should an invoice exist after all.
ALTER TABLE purchases DROP CONSTRAINT purchases_status_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_status_check
    CHECK (status IN ('pending', 'paid', 'expired', 'cancelled', 'refunded', 'flagged', 'failed'));

"""Shop rules that more than one service applies inside its own transactions: granting access
(trial, purchase, referral bonus, auto-renewal, admin grant) and writing outbox rows."""

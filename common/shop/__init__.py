"""Shop rules that more than one service applies inside its own transactions: granting access
(trial, purchase, referral bonus, auto-renewal, admin grant), writing outbox rows and reading the
plans on sale."""

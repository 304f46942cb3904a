-- Traffic packages (issue 12.3). A package is a purchase of kind 'traffic' whose bytes
-- (purchases.traffic_limit_bytes) are added to subscriptions.extra_traffic_bytes when it settles.
-- traffic_limit_bytes stays the plan's allowance (every grant and plan change sets it); the
-- panel's limit is allowance + extra (common/shop/traffic.py), so a renewal, which sets the
-- allowance again, never touches what was bought.
ALTER TABLE subscriptions ADD COLUMN extra_traffic_bytes bigint NOT NULL DEFAULT 0
    CHECK (extra_traffic_bytes >= 0);

ALTER TABLE purchases DROP CONSTRAINT purchases_kind_check;
ALTER TABLE purchases ADD CONSTRAINT purchases_kind_check
    CHECK (kind IN ('subscription', 'topup', 'gift', 'change', 'traffic'));
-- A package bought with the balance is paid by a ledger row of kind 'purchase'; its purchase
-- carries the package id so that a repeated request is recognised as the same package.
ALTER TABLE purchases ADD COLUMN traffic_package text;
ALTER TABLE purchases ADD CONSTRAINT purchases_traffic_check
    CHECK (kind <> 'traffic' OR (traffic_package IS NOT NULL AND traffic_limit_bytes > 0));

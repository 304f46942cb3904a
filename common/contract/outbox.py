"""The outbox rows services write for one another (DESIGN.md, rule 1): activation actions for
vpn_gateway and notification kinds for the bot. Writers and readers share these names and
payload shapes; a row is written in the same transaction as the change that needs it.
"""
from __future__ import annotations

from enum import StrEnum


class Activation(StrEnum):
    """activations.action. `issue` and `extend` both mean: make the user's panel account match
    their subscriptions row (create it if missing). Reading the expiry from the row at run time
    makes the rows idempotent and order-independent."""
    ISSUE = "issue"
    EXTEND = "extend"
    SET_LIMIT = "set_limit"
    REISSUE = "reissue"      # rotate the key
    REVOKE = "revoke"        # refund, ban, admin
    EXPIRE = "expire"        # expiry cleanup, a pause (common/shop/freeze.py): switch the account off


class Notice(StrEnum):
    """notifications.kind; params in the comment. The bot renders each from translation files.
    A VPN key is never in params: the bot reads it from vpn_accounts when it renders."""
    KEY_READY = "key_ready"                      # {expires_at, is_trial}
    SUBSCRIPTION_EXTENDED = "subscription_extended"  # {expires_at}
    KEY_REISSUED = "key_reissued"                # {}
    ACCESS_REVOKED = "access_revoked"            # {reason}
    ACTIVATION_DELAYED = "activation_delayed"    # {}
    PAYMENT_RECEIVED = "payment_received"        # {amount, currency, plan_code, expires_at}
    PAYMENT_FLAGGED = "payment_flagged"          # {purchase_id}
    TOPUP_RECEIVED = "topup_received"            # {amount, currency, balance}
    REFERRAL_BONUS = "referral_bonus"            # {days, expires_at}
    EXPIRY_REMINDER = "expiry_reminder"          # {days_left, expires_at}
    TRIAL_ENDING = "trial_ending"                # {expires_at}
    SUBSCRIPTION_EXPIRED = "subscription_expired"  # {}
    AUTO_RENEWED = "auto_renewed"                # {expires_at, amount, currency}
    AUTO_RENEW_FAILED = "auto_renew_failed"      # {needed, balance, currency}
    REFUNDED = "refunded"                        # {amount, currency, days, expires_at, revoked, renewal_canceled}
    ADMIN_GRANT = "admin_grant"                  # {days, expires_at}: days given by an admin
    # A paid gift, to its giver: {token, days, valid_until, amount, currency}. The token is the link
    # (t.me/<bot>?start=gift_<token>), which only the bot can spell: it knows its own username.
    GIFT_READY = "gift_ready"
    GIFT_REDEEMED = "gift_redeemed"              # {days, name}: to the giver, when someone opened the link
    PLAN_CHANGED = "plan_changed"                # {plan_code, expires_at}
    PLAN_CHANGE_FAILED = "plan_change_failed"    # {amount, currency}: its payment went to the balance
    TRAFFIC_ADDED = "traffic_added"              # {gb, limit_bytes, amount, currency}: a paid traffic package
    # Before Telegram renews an active Stars subscription by itself (instead of an expiry reminder):
    # {renews_at, amount} (Stars).
    STARS_RENEWS = "stars_renews"


# Optional in any params: {"edit": {"chat_id": int, "message_id": int}} — the "working on it"
# message to replace with this notice instead of sending a new one.

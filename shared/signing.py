"""Standard Webhooks signatures (webhook-id, webhook-timestamp, webhook-signature; HMAC-SHA256),
used by every push gongkai sends and by the platform sandbox that checks them."""

from datetime import datetime

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

__all__ = ["WebhookVerificationError", "signed_headers", "verify"]


def signed_headers(secret: str, webhook_id: str, body: str, at: datetime) -> dict[str, str]:
    """The webhook id doubles as the receiver's idempotency key: a retry repeats it unchanged."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def verify(secret: str, body: bytes, headers: dict[str, str]) -> None:
    """Raise WebhookVerificationError unless the body carries a valid, fresh signature."""
    Webhook(secret).verify(body, headers, json_parse=False)

"""Webhook delivery of alert events: an HTTP POST of the event's JSON, signed, retried with backoff.

The signature header is ``X-Repurpose-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact
body bytes with the setting ``alert_webhook_secret`` (no header without a secret); a receiver
recomputes it over the body it got and compares in constant time. A try that fails to connect,
times out, or gets a 5xx or a 429 is retried after 0.5 s, 1 s, 2 s… (at most ``MAX_BACKOFF_SECONDS``),
``tries`` tries in all; any other answer ends the delivery (a 4xx will not change on its own).

A URL is a secret: logs and ``Delivery.error`` name only its origin (``scheme://host[:port]``) and
the kind of failure, never the URL or httpx's message (which repeats it). A URL httpx cannot use,
or one to a loopback, private or link-local address without ``allow_private``, is not tried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from repurpose.contracts.alerts import check_webhook_url, webhook_host_is_private, webhook_origin
from repurpose.errors import InvalidInput

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Repurpose-Signature"
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10.0
USER_AGENT = "repurpose-alerts"


def signature(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_webhook_target(url: str, *, allow_private: bool) -> str:
    """``url`` if a webhook may be sent to it: a URL httpx can use (host, numeric port), and public
    unless ``allow_private``; InvalidInput otherwise (naming its origin only)."""
    try:
        check_webhook_url(url)
        parsed = httpx.URL(url)
        parsed.port  # noqa: B018  # checked by httpx.URL, read here so a bad one fails now, not on sending
    except (ValueError, httpx.InvalidURL):
        raise InvalidInput(
            f"{webhook_origin(url)!r:.80} is not a webhook URL: give http(s)://host[:port]/path"
        ) from None
    if not allow_private and webhook_host_is_private(url):
        raise InvalidInput(
            f"webhook {webhook_origin(url)} points at a loopback, private or link-local address: refused "
            "(the setting alert_webhooks_allow_private allows it)"
        )
    return url


@dataclass(frozen=True)
class Delivery:
    url: str = field(repr=False)  # the full URL: a secret, never logged or shown (``origin``)
    delivered: bool
    tries: int
    status: int | None  # the last answer's status (None: no answer)
    error: str | None

    @property
    def origin(self) -> str:
        return webhook_origin(self.url)


async def deliver(
    url: str,
    body: bytes,
    *,
    secret: str | None,
    tries: int,
    timeout: float,
    allow_private: bool = False,
    first_backoff: float = FIRST_BACKOFF_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Delivery:
    """POST ``body`` (JSON) to ``url`` until a 2xx answer, a final refusal, or ``tries`` tries; a URL
    that may not be sent to (``check_webhook_target``) is not tried (0 tries). Never raises."""
    try:
        check_webhook_target(url, allow_private=allow_private)
    except InvalidInput as refused:
        return Delivery(url, False, 0, None, refused.message)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret)
    status: int | None = None
    error: str | None = None
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(1, tries + 1):
            try:
                response = await client.post(url, content=body, headers=headers)
            except (httpx.HTTPError, httpx.InvalidURL) as failure:
                status, error = None, type(failure).__name__  # its message may repeat the URL
            else:
                status = response.status_code
                if response.is_success:
                    return Delivery(url, True, attempt, status, None)
                error = f"answered {status}"
                if status < 500 and status != 429:
                    return Delivery(url, False, attempt, status, error)
            if attempt < tries:
                await sleep(min(first_backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS))
    return Delivery(url, False, tries, status, error)


async def deliver_all(
    urls: list[str], body: bytes, *, secret: str | None, tries: int, timeout: float, allow_private: bool = False
) -> list[Delivery]:
    """Deliver to every URL at once; each delivery's failure is logged (by the URL's origin), none raised."""
    sent = (
        deliver(url, body, secret=secret, tries=tries, timeout=timeout, allow_private=allow_private) for url in urls
    )
    deliveries = await asyncio.gather(*sent)
    for d in deliveries:
        if d.delivered:
            logger.info("alert webhook %s: delivered (%d tries)", d.origin, d.tries)
        else:
            logger.warning("alert webhook %s: not delivered after %d tries: %s", d.origin, d.tries, d.error)
    return list(deliveries)

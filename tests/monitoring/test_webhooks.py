"""Webhook delivery against a real HTTP receiver on 127.0.0.1: the signature, retries, and giving up;
URLs refused (unusable, or pointing inside without ``allow_private``) and never logged in full."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import pytest

from repurpose.contracts.alerts import AlertRule, check_webhook_url, webhook_host_is_private, webhook_origin
from repurpose.errors import InvalidInput
from repurpose.monitoring.webhooks import (
    SIGNATURE_HEADER,
    Delivery,
    check_webhook_target,
    deliver,
    deliver_all,
    signature,
)
from tests.monitoring.webhook_receiver import webhook_receiver

BODY = b'{"rule":"dataset-drift","status":"firing"}'
SECRET = "s3cret"


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def send(url: str, tries: int = 4, secret: str | None = SECRET, allow_private: bool = True) -> Delivery:
    return asyncio.run(
        deliver(url, BODY, secret=secret, tries=tries, timeout=5.0, allow_private=allow_private, first_backoff=0.01)
    )


def test_a_failing_receiver_is_retried_until_it_takes_the_signed_body() -> None:
    with webhook_receiver(statuses=[503, 500]) as receiver:
        delivery = send(receiver.url)
    assert (delivery.delivered, delivery.tries, delivery.status) == (True, 3, 200)
    assert len(receiver.received) == 3
    for got in receiver.received:
        assert got.body == BODY and got.path == "/hook"
        assert got.headers["content-type"] == "application/json"
        assert got.headers[SIGNATURE_HEADER.lower()] == expected_signature(got.body) == signature(BODY, SECRET)


def test_a_refusal_is_not_retried_and_tries_are_bounded() -> None:
    with webhook_receiver(statuses=[400]) as receiver:
        refused = send(receiver.url)
    assert (refused.delivered, refused.tries, refused.status) == (False, 1, 400)
    with webhook_receiver(statuses=[500] * 10) as receiver:
        failing = send(receiver.url, tries=3)
    assert (failing.delivered, failing.tries, failing.error) == (False, 3, "answered 500")
    assert len(receiver.received) == 3


def test_an_unreachable_receiver_and_no_secret() -> None:
    with webhook_receiver() as receiver:
        url = receiver.url
        unsigned = send(url, secret=None)
        assert unsigned.delivered and SIGNATURE_HEADER.lower() not in receiver.received[0].headers
    gone = send(url, tries=2)  # the server is closed: nothing listens there
    assert not gone.delivered and gone.tries == 2 and gone.status is None and "Connect" in (gone.error or "")


PRIVATE = [
    "http://127.0.0.1:8080/hook",
    "http://127.1/hook",  # the resolver's short form of 127.0.0.1
    "http://2130706433/hook",  # and its decimal form
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://169.254.169.254/latest/meta-data",  # a cloud's metadata service
    "http://10.1.2.3/hook",
    "http://192.168.0.7:9000/hook",
    "http://0.0.0.0/hook",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
]


@pytest.mark.parametrize("url", PRIVATE)
def test_webhooks_inside_are_refused_unless_allowed(url: str) -> None:
    assert webhook_host_is_private(url)
    with pytest.raises(InvalidInput, match="loopback, private or link-local"):
        check_webhook_target(url, allow_private=False)
    assert check_webhook_target(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/services/T0KEN", "http://8.8.8.8/hook", "http://dead.beef/"]
)
def test_public_webhooks_are_accepted(url: str) -> None:
    assert not webhook_host_is_private(url)
    assert check_webhook_target(url, allow_private=False) == url


def test_a_url_httpx_cannot_use_is_refused_and_never_breaks_a_delivery() -> None:
    for bad in ("http://h:abc/x", "http://h:99999/x", "http://a b/x"):
        with pytest.raises(ValueError, match="not a webhook URL"):
            check_webhook_url(bad)
        with pytest.raises(InvalidInput, match="not a webhook URL"):
            check_webhook_target(bad, allow_private=True)
    with webhook_receiver() as receiver:  # one bad URL (stored before the check) costs only its delivery
        deliveries = asyncio.run(
            deliver_all(["http://h:abc/x", receiver.url], BODY, secret=None, tries=2, timeout=5.0, allow_private=True)
        )
    assert [(d.delivered, d.tries) for d in deliveries] == [(False, 0), (True, 1)]
    assert len(receiver.received) == 1


def test_a_receiver_inside_is_not_called_without_allow_private() -> None:
    with webhook_receiver() as receiver:
        refused = send(receiver.url, allow_private=False)
    assert (refused.delivered, refused.tries, refused.status) == (False, 0, None)
    assert "loopback, private or link-local" in (refused.error or "") and receiver.received == []


def test_logs_and_answers_show_a_webhook_only_by_its_origin(caplog: pytest.LogCaptureFixture) -> None:
    with webhook_receiver(statuses=[400]) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        secret_url = f"http://user:pa55@127.0.0.1:{port}/hook/T0KEN?sig=abc"
        gone = f"http://127.0.0.1:{port}/gone/T0KEN"
        with caplog.at_level(logging.INFO, logger="repurpose.monitoring.webhooks"):
            refused = asyncio.run(
                deliver_all([secret_url], BODY, secret=None, tries=1, timeout=5.0, allow_private=True)
            )
    with caplog.at_level(logging.INFO, logger="repurpose.monitoring.webhooks"):
        unreachable = asyncio.run(deliver_all([gone], BODY, secret=None, tries=1, timeout=5.0, allow_private=True))
    assert refused[0].status == 400 and unreachable[0].error == "ConnectError"
    logged = caplog.text
    assert f"alert webhook http://127.0.0.1:{port}: not delivered" in logged
    assert "T0KEN" not in logged and "pa55" not in logged and "sig=abc" not in logged
    assert webhook_origin(secret_url) == f"http://127.0.0.1:{port}"
    rule = AlertRule(name="r", metric="drift_share", threshold=0.5, webhooks=[secret_url], source="api")
    assert rule.shown().webhooks == [f"http://127.0.0.1:{port}"] and rule.webhooks == [secret_url]

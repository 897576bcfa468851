"""The gateway client's handling of answers: error bodies, retries of refused requests, bad URLs;
and what importing it costs.

The happy paths run against the real gateway (tests/gateway/test_cli_remote.py); here httpx's
MockTransport plays answers a live gateway rarely gives on demand (a 429 then a 200, a proxy's
HTML page, a dropped connection).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import pytest

from repurpose.client import MAX_RETRIES, GatewayClient
from repurpose.errors import GatewayError

HEAVY_MODULES = ("torch", "rdkit", "ray", "pandas")
CLIENT_SIDE_MODULES = {"repurpose", "repurpose.client", "repurpose.errors", "repurpose.plain_text"}  # and contracts


def test_the_client_and_the_contracts_import_without_the_ml_stack() -> None:
    # A fresh interpreter: this one has imported everything already. Every contracts module is
    # imported too, since any of them may become what the client answers with; and the contracts
    # are the package's leaf, depending on no module of it but the two standard-library ones.
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import repurpose.client, repurpose.contracts as contracts\n"
        "for found in pkgutil.iter_modules(contracts.__path__):\n"
        "    importlib.import_module(f'repurpose.contracts.{found.name}')\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "ours = [m for m in sys.modules if m.startswith('repurpose') and not m.startswith('repurpose.contracts')]\n"
        "print(json.dumps({'heavy': heavy, 'ours': sorted(ours)}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = json.loads(done.stdout)
    assert loaded["heavy"] == []
    assert set(loaded["ours"]) <= CLIENT_SIDE_MODULES, loaded["ours"]


def client_with(handler: httpx.MockTransport, sleeps: list[float] | None = None) -> GatewayClient:
    waits = sleeps if sleeps is not None else []
    return GatewayClient("http://gateway.test/", "rp_key", transport=handler, sleep=waits.append)


def error(status: int, code: str, message: str, **extra: object) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, **extra})


def test_error_bodies_become_gateway_errors_with_their_code_and_field() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer rp_key"
        return error(404, "target_not_found", "no target 'EGFR' is registered", field=None, request_id="r-1")

    with pytest.raises(GatewayError) as caught, client_with(httpx.MockTransport(answer)) as client:
        client.target("EGFR")
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (404, "target_not_found", "r-1")
    assert caught.value.message == "no target 'EGFR' is registered"


def test_401_and_403_say_what_to_do_about_the_key() -> None:
    answers = iter([error(401, "unauthorized", "no API key given"), error(403, "forbidden", "readers may not write")])
    with client_with(httpx.MockTransport(lambda _: next(answers))) as client:
        with pytest.raises(GatewayError, match=r"refused the API key: no API key given \(give --key or REPURPOSE_KEY"):
            client.models()
        with pytest.raises(GatewayError, match="may not do this: readers may not write"):
            client.register_target("EGFR", "MKV")


def test_rate_limited_and_unavailable_are_retried_after_retry_after() -> None:
    answers = iter(
        [
            httpx.Response(429, json={"code": "rate_limited", "message": "slow down"}, headers={"Retry-After": "2"}),
            httpx.Response(503, json={"code": "unavailable", "message": "restarting"}, headers={"Retry-After": "1"}),
            httpx.Response(200, json={"items": []}),
        ]
    )
    sleeps: list[float] = []
    with client_with(httpx.MockTransport(lambda _: next(answers)), sleeps) as client:
        assert client.models() == []
    assert sleeps == [2.0, 1.0]


def test_a_post_that_may_have_acted_is_not_sent_again_on_503() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(
                503, json={"code": "unavailable", "message": "restarting"}, headers={"Retry-After": "0"}
            )
        return httpx.Response(201, json={})

    with pytest.raises(GatewayError, match="restarting"), client_with(httpx.MockTransport(answer)) as client:
        client.create_key("reader")  # a second key would be made if the first request acted
    assert len(calls) == 1


def test_a_prediction_is_sent_again_on_503_it_changes_nothing() -> None:
    answers = iter([error(503, "unavailable", "restarting"), httpx.Response(200, json={"bad": "shape"})])
    with pytest.raises(GatewayError, match="is not what this client expects"):
        client_with(httpx.MockTransport(lambda _: next(answers))).predict([{"smiles": "CCO", "target": "T"}], "m")


def test_a_post_refused_by_the_rate_limit_is_sent_again() -> None:
    answers = iter(
        [
            httpx.Response(429, json={"code": "rate_limited", "message": "slow down"}, headers={"Retry-After": "0"}),
            httpx.Response(500, json={"code": "internal", "message": "not retried"}),
        ]
    )
    with (
        pytest.raises(GatewayError, match="not retried"),
        client_with(httpx.MockTransport(lambda _: next(answers))) as c,
    ):
        c.create_key("reader")


def test_retries_stop_after_a_few_attempts() -> None:
    calls: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, json={"code": "rate_limited", "message": "slow down"}, headers={"Retry-After": "0"})

    with pytest.raises(GatewayError, match="slow down"), client_with(httpx.MockTransport(answer)) as client:
        client.models()
    assert len(calls) == MAX_RETRIES + 1


def test_an_answer_that_is_not_the_gateways_is_named_by_its_status() -> None:
    page = httpx.MockTransport(lambda _: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(GatewayError, match="the gateway answered 502: <html>Bad Gateway</html>") as caught:
        client_with(page).models()
    assert caught.value.status == 502

    odd = httpx.MockTransport(lambda _: httpx.Response(200, json={"something": "else"}))
    with pytest.raises(GatewayError, match="is not what this client expects"):
        client_with(odd).models()


def test_unreachable_gateways_and_bad_urls_are_one_clear_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    unreachable = re.escape("cannot reach the gateway at http://gateway.test: connection refused")
    with pytest.raises(GatewayError, match=unreachable):
        client_with(httpx.MockTransport(refuse)).models()
    with pytest.raises(GatewayError, match="is not a gateway URL"):
        GatewayClient("gateway.test:8000")


def test_ids_are_escaped_into_one_path_segment() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return error(404, "dataset_not_found", "no dataset")

    with pytest.raises(GatewayError), client_with(httpx.MockTransport(answer)) as client:
        client.dataset("../keys?x=1")
    assert seen == ["/v1/datasets/..%2Fkeys%3Fx%3D1"]

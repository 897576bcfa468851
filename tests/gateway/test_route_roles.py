"""Every guarded route x every role, over real HTTP: no key gets 401, a role without the route's
permission 403, a role with it gets past the door (here to a 404 or 422: the requests name nothing
that exists and carry no valid body, so none changes anything).

The routes come from the served application's own schema: a route added without a row here fails
the test, and so does a route that loses its guard (a refused role would get a 404 or 422 instead).
"""

from __future__ import annotations

import re

import pytest

from repurpose.gateway.auth import PERMISSIONS, Permission
from tests.gateway.conftest import Gateway

pytestmark = pytest.mark.slow

READ, SCORE, WRITE, MANAGE = Permission.READ, Permission.SCORE, Permission.WRITE, Permission.MANAGE

# (method, route) -> the permission it demands: auth.py's table (read and score: every role; write:
# scientists and admins; manage, i.e. stages, keys and alert rules: admins)
GUARDED: dict[tuple[str, str], Permission] = {
    ("POST", "/v1/datasets"): WRITE,
    ("GET", "/v1/datasets"): READ,
    ("GET", "/v1/datasets/{dataset}"): READ,
    ("POST", "/v1/datasets/{dataset}/splits"): WRITE,
    ("POST", "/v1/training-runs"): WRITE,
    ("GET", "/v1/training-runs"): READ,
    ("GET", "/v1/training-runs/{run}"): READ,
    ("POST", "/v1/training-runs/{run}/cancel"): WRITE,
    ("GET", "/v1/models"): READ,
    ("GET", "/v1/models/{name}"): READ,
    ("GET", "/v1/models/{name}/versions/{version}"): READ,
    ("POST", "/v1/models/{name}/versions/{version}/promote"): MANAGE,
    ("POST", "/v1/models/{name}/rollback"): MANAGE,
    ("POST", "/v1/models/{name}/versions/{version}/evaluate"): WRITE,
    ("POST", "/v1/models/{name}/versions/{version}/retrieval"): WRITE,
    ("GET", "/v1/models/{name}/versions/{version}/card"): READ,
    ("GET", "/v1/monitors/{model}"): READ,
    ("GET", "/v1/monitors/{model}/report"): READ,
    ("POST", "/v1/monitors/{model}/reset"): WRITE,
    ("GET", "/v1/monitors/{model}/quality"): READ,
    ("POST", "/v1/feedback"): WRITE,
    ("POST", "/v1/feedback/upload"): WRITE,
    ("GET", "/v1/alerts"): READ,
    ("GET", "/v1/alerts/rules"): READ,
    ("POST", "/v1/alerts/rules"): MANAGE,
    ("DELETE", "/v1/alerts/rules/{rule}"): MANAGE,
    ("PUT", "/v1/targets/{target_id}"): WRITE,
    ("GET", "/v1/targets"): READ,
    ("GET", "/v1/targets/{target_id}"): READ,
    ("POST", "/v1/predict"): SCORE,
    ("POST", "/v1/explain"): SCORE,
    ("POST", "/v1/profile"): SCORE,
    ("POST", "/v1/libraries"): WRITE,
    ("GET", "/v1/libraries"): READ,
    ("GET", "/v1/libraries/{library}"): READ,
    ("POST", "/v1/screens"): WRITE,
    ("GET", "/v1/screens"): READ,
    ("GET", "/v1/screens/{screen}"): READ,
    ("GET", "/v1/screens/{screen}/results"): READ,
    ("DELETE", "/v1/screens/{screen}"): WRITE,
    ("POST", "/v1/keys"): MANAGE,
    ("GET", "/v1/keys"): MANAGE,
    ("DELETE", "/v1/keys/{key_id}"): MANAGE,
}

# Path parameters that name nothing registered: an allowed call answers 404 (or 422), never acts.
NOTHING = {
    "dataset": "0" * 64,
    "run": "f" * 64,
    "name": "no-such-model",
    "model": "no-such-model",
    "version": "1",
    "target_id": "NOSUCH9",
    "library": "no-such-library",
    "screen": "scr-000000000000",
    "key_id": "000000000000",
    "rule": "no-such-rule",
}
# Bodies no route accepts (a key's role is required and must be one of three): 422 past the door.
INVALID_JSON = {"role": "nobody"}


def concrete(route: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: NOTHING[m.group(1)], route)


def test_every_v1_route_is_in_the_table(gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:
        schema = anonymous.get("/openapi.json").json()
    served = {
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        if path.startswith("/v1")
        for method in methods
    }
    assert served == set(GUARDED), (
        f"routes without a row: {served - set(GUARDED)}; rows without a route: {set(GUARDED) - served}"
    )


@pytest.mark.parametrize(("method", "route"), sorted(GUARDED), ids=[f"{m} {r}" for m, r in sorted(GUARDED)])
def test_each_role_gets_what_its_permissions_allow(gateway: Gateway, method: str, route: str) -> None:
    needed = GUARDED[(method, route)]
    path = concrete(route)
    body = INVALID_JSON if method in ("POST", "PUT") else None
    with gateway.client(None) as anonymous:
        refused = anonymous.request(method, path, json=body)
        assert refused.status_code == 401, (method, path, refused.text)
        assert refused.json()["code"] == "unauthorized" and refused.headers["www-authenticate"] == "Bearer"
    for role in ("reader", "scientist", "admin"):
        with gateway.client(role) as http:
            answer = http.request(method, path, json=body)
        if needed in PERMISSIONS[role]:
            assert answer.status_code not in (401, 403) and answer.status_code < 500, (role, method, path, answer.text)
        else:
            assert answer.status_code == 403, (role, method, path, answer.text)
            assert answer.json()["code"] == "forbidden" and f"the {role} role may not {needed.value}" in answer.text


def test_the_table_is_auth_py_s_roles() -> None:
    """The roles' rights as the docs promise: a reader reads and scores, a scientist also writes (but mints
    no keys and moves no stages), an admin does everything."""
    assert {
        "reader": {READ, SCORE},
        "scientist": {READ, SCORE, WRITE},
        "admin": {READ, SCORE, WRITE, MANAGE},
    } == PERMISSIONS

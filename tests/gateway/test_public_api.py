"""The gateway package's public surface: what ``repurpose.gateway`` exports, each name importable.

Keys are not the gateway's: the ApiKey grain and its functions live in ``repurpose.actors.api_key``."""

from __future__ import annotations

import repurpose.gateway as gateway

EXPECTED = {
    "build_gateway",
    "create_app",
    "deploy_gateway",
    "ensure_admin_key",
    "stop_gateway",
}


def test_all_lists_the_public_names_and_each_resolves() -> None:
    assert set(gateway.__all__) == EXPECTED
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None

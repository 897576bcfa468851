"""The gateway package's public surface: what ``repurpose.gateway`` exports, each name importable."""

from __future__ import annotations

import repurpose.gateway as gateway

EXPECTED = {
    "ROLES",
    "ApiKey",
    "ApiKeyNotFound",
    "ApiKeySummary",
    "IssuedKey",
    "Role",
    "build_gateway",
    "create_app",
    "create_key",
    "deploy_gateway",
    "ensure_admin_key",
    "list_keys",
    "revoke_key",
    "stop_gateway",
}


def test_all_lists_the_public_names_and_each_resolves() -> None:
    assert set(gateway.__all__) == EXPECTED
    for name in gateway.__all__:
        assert getattr(gateway, name) is not None

"""Both clients answer the one client protocol, method for method, with the same signatures."""

from __future__ import annotations

import inspect

import pytest

from repurpose.client import GatewayClient
from repurpose.contracts.client import RepurposeClient
from repurpose.services.in_process import InProcessClient

PROTOCOL_METHODS = sorted(
    name for name, value in vars(RepurposeClient).items() if inspect.isfunction(value) and not name.startswith("_")
)


def test_the_protocol_lists_every_use_case() -> None:
    assert len(PROTOCOL_METHODS) == 45
    assert {"close", "readiness", "predict", "submit_screen", "download_screen_results"} <= set(PROTOCOL_METHODS)
    assert {"send_feedback", "model_quality", "alerts", "alert_rules", "add_alert_rule", "remove_alert_rule"} <= set(
        PROTOCOL_METHODS
    )


@pytest.mark.parametrize("client", [GatewayClient, InProcessClient])
@pytest.mark.parametrize("method", PROTOCOL_METHODS)
def test_a_client_has_the_protocol_signature(client: type, method: str) -> None:
    expected = inspect.signature(getattr(RepurposeClient, method))
    found = inspect.signature(getattr(client, method))
    assert list(found.parameters) == list(expected.parameters), f"{client.__name__}.{method}"
    for name, parameter in expected.parameters.items():
        assert found.parameters[name].kind == parameter.kind, f"{client.__name__}.{method}({name})"
        assert found.parameters[name].default == parameter.default, f"{client.__name__}.{method}({name})"

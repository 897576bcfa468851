"""API keys: their format and storage, `repurpose keys create|list|revoke`, and the first admin key of
a fresh cluster."""

from __future__ import annotations

import datetime as dt
import json
import stat
import time
import uuid
from pathlib import Path

import httpx
import pytest
import ray
from typer.testing import CliRunner

from repurpose.actors.api_key import KIND, ApiKeyNotFound, list_keys
from repurpose.cli import app
from repurpose.cluster.lifecycle import ClusterInfo, cluster_file
from repurpose.contracts.keys import check_key_id, parse_key
from repurpose.errors import InvalidInput
from repurpose.gateway import ensure_admin_key
from repurpose.grains import GrainClient
from repurpose.settings import Settings
from repurpose.store import load_state, make_engine, upgrade
from tests.gateway.conftest import Gateway
from tests.helpers import NAMESPACE, make_key, revoke

pytestmark = pytest.mark.slow


def test_a_key_is_stored_as_the_hash_of_its_secret_only(gateway: Gateway) -> None:
    issued = make_key(gateway.grains, "scientist", name="storage test")
    key_id, secret = parse_key(issued.key) or ("", "")
    assert issued.key == f"rp_{key_id}_{secret}" and len(secret) == 43
    assert issued.summary.key_id == key_id and issued.summary.role == "scientist"
    engine = make_engine(gateway.settings.database_url)
    try:
        stored = load_state(engine, KIND, key_id)
        assert stored is not None
        assert secret not in json.dumps(stored[1]) and len(stored[1]["secret_sha256"]) == 64
        assert key_id in {k.key_id for k in list_keys(engine)}
    finally:
        engine.dispose()
    assert check_key_id(issued.key) == key_id  # the whole key names its id too
    with pytest.raises(InvalidInput, match="not an API key id"):
        check_key_id("nope")
    with pytest.raises(ApiKeyNotFound):
        revoke(gateway.grains, "0123456789ab")
    with pytest.raises(InvalidInput, match="not a role"):
        make_key(gateway.grains, "superuser")


def test_keys_commands_create_list_and_revoke(gateway: Gateway, tmp_path: Path) -> None:
    home = cluster_home(gateway.settings, tmp_path)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "reader", "--name", "cli test", "--home", str(home)])
    assert created.exit_code == 0, created.output
    key = created.stdout.splitlines()[0].strip()
    key_id = key.split("_")[1]
    with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        assert http.get("/v1/models").status_code == 200

        listed = runner.invoke(app, ["keys", "list", "--json", "--home", str(home)])
        assert listed.exit_code == 0, listed.output
        mine = next(k for k in json.loads(listed.stdout) if k["key_id"] == key_id)
        assert mine["role"] == "reader" and mine["name"] == "cli test" and mine["revoked_at"] is None
        assert key not in listed.stdout and "secret" not in listed.stdout

        revoked = runner.invoke(app, ["keys", "revoke", key_id, "--home", str(home)])
        assert revoked.exit_code == 0 and f"revoked reader key {key_id}" in revoked.stdout
        time.sleep(gateway.settings.gateway_key_cache_seconds + 0.3)
        assert http.get("/v1/models").status_code == 401

    bad_role = runner.invoke(app, ["keys", "create", "--role", "root", "--home", str(home)])
    assert bad_role.exit_code == 2 and "--role takes one of admin, scientist, reader" in bad_role.stderr


def test_the_first_admin_key_is_made_once_and_saved_owner_only(ray_cluster: None, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path / "fresh", ray_namespace=NAMESPACE, grain_pool=f"k-{uuid.uuid4().hex[:8]}", grain_hosts=1
    )
    upgrade(settings.database_url)
    client = GrainClient(settings)
    try:
        path = ensure_admin_key(client)
        assert path == settings.home / "admin_key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key = path.read_text().strip()
        engine = make_engine(settings.database_url)
        try:
            (only,) = list_keys(engine)
        finally:
            engine.dispose()
        parsed = parse_key(key)
        assert only.role == "admin" and parsed is not None and parsed[0] == only.key_id
        assert ensure_admin_key(client) is None  # keys exist: nothing more is made
    finally:
        client.stop()


def cluster_home(settings: Settings, tmp_path: Path) -> Path:
    """A home whose cluster.json names the test cluster and the gateway's settings (as `up` writes it)."""
    home = tmp_path / "home"
    home.mkdir()
    info = ClusterInfo(
        ray_address=ray.get_runtime_context().gcs_address,
        started_head=False,
        dashboard_url=None,
        gateway_url=f"http://127.0.0.1:{settings.gateway_port}",
        started_at=dt.datetime.now(dt.UTC),
        settings=settings,
    )
    cluster_file(home).write_text(info.model_dump_json())
    return home

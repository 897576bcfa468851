"""Start steps that settle a setting once the cluster runs (the default model, after the bundled
models are registered): the steps after them and cluster.json get it (no Ray needed here)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from repurpose.cluster import lifecycle as cluster
from repurpose.cluster.lifecycle import ClusterInfo, read_cluster_info, run_start_steps, settle
from repurpose.grains import GrainClient
from repurpose.settings import Settings


def info_of(settings: Settings) -> ClusterInfo:
    return ClusterInfo(
        ray_address="127.0.0.1:6380",
        started_head=False,
        dashboard_url=None,
        gateway_url="http://127.0.0.1:8000",
        started_at=dt.datetime.now(dt.UTC),
        settings=settings,
    )


def test_a_setting_settled_by_a_start_step_reaches_later_steps_and_cluster_json(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, default_model="beta-union")
    info = info_of(settings)
    cluster_json = cluster.cluster_file(tmp_path)
    cluster_json.write_text(info.model_dump_json())  # what start_cluster wrote before the steps

    def registers(client: GrainClient) -> list[str]:
        settle(client, default_model="gamma-sample")  # beta-union ended with no production version
        return ["settled"]

    def deploys(client: GrainClient) -> list[str]:  # the gateway's deployment reads the settled default
        return [f"default {client.settings.default_model}"]

    settled, lines = run_start_steps(GrainClient(settings), info, [registers, deploys])
    assert lines == ["settled", "default gamma-sample"]
    assert settled.settings.default_model == "gamma-sample"
    assert settled.settings.model_dump(exclude={"default_model"}) == settings.model_dump(exclude={"default_model"})
    stored = read_cluster_info(tmp_path)
    assert stored is not None and stored.settings.default_model == "gamma-sample"  # what later commands read

    # nothing settled: the file stays as start_cluster wrote it
    cluster_json.write_text(info.model_dump_json())
    before = cluster_json.stat().st_mtime_ns
    assert run_start_steps(GrainClient(settings), info, [deploys]) == (info, ["default beta-union"])
    assert cluster_json.stat().st_mtime_ns == before

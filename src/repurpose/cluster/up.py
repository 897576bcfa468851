"""``repurpose up``, step by step: the one place that says what starts, and in which order.

1. settle the settings of a cluster that starts (or is joined): ``CONFIGURE_STEPS``;
2. start or join Ray, migrate the store, start the grain hosts, write ``cluster.json``
   (``cluster.lifecycle.start_cluster``);
3. ``START_STEPS``, in order, on every ``up`` (each is idempotent): the scorer and the warm
   screening runner; the bundled datasets, then the bundled models (their lineage names those
   datasets' splits; registering them settles the default model); the index of target
   sequences; last the gateway, with the settled settings (and the first admin key on a
   cluster with none).
"""

from __future__ import annotations

from collections.abc import Callable

from repurpose.actors.target_protein import index_target_sequences
from repurpose.cluster.bundled_data import register_bundled_datasets
from repurpose.cluster.bundled_models import default_model_by_merit, register_bundled_models
from repurpose.cluster.lifecycle import ClusterInfo, ConfigureStep, StartStep, start_cluster
from repurpose.gateway.deployment import start_gateway
from repurpose.scoring.service import start_scorer
from repurpose.screening.runner import start_screening_runner
from repurpose.settings import Settings

CONFIGURE_STEPS: tuple[ConfigureStep, ...] = (default_model_by_merit,)

START_STEPS: tuple[StartStep, ...] = (
    start_scorer,
    start_screening_runner,
    register_bundled_datasets,
    register_bundled_models,
    index_target_sequences,
    start_gateway,
)


def up(settings: Settings, *, log: Callable[[str], None] = lambda _: None) -> tuple[ClusterInfo, list[str]]:
    """Start (or rejoin) the cluster of ``settings``; its info and the lines the steps reported."""
    return start_cluster(settings, configure=CONFIGURE_STEPS, start=START_STEPS, log=log)

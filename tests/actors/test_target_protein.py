"""The TargetProtein grain: on a real local Ray cluster (SQLite; aliases on PostgreSQL too), and its id rules."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import Engine

from repurpose.actors.target_protein import (
    SEQUENCE_KIND,
    TargetProtein,
    index_target_sequences,
    list_targets,
    registered_targets,
    sequence_target_id,
)
from repurpose.contracts.targets import (
    MAX_HITS_PER_SCREENING,
    HistoryHit,
    ScreeningRecord,
    TargetDetail,
    TargetRegistration,
    check_target_id,
)
from repurpose.errors import InvalidInput, InvalidProtein, TargetConflict, TargetNotFound
from repurpose.grains import GrainClient
from repurpose.services import targets
from repurpose.services.in_process import InProcessClient
from repurpose.store import list_states
from tests.helpers import both_stores, kill_host, random_protein, wait_for_new_host

ABL1 = random_protein(300, seed=1)
OTHER = random_protein(300, seed=2)


def screening(job: str, *scores: float, day: int = 1) -> ScreeningRecord:
    return ScreeningRecord(
        job_id=job,
        model_name="drugban-human",
        model_version=1,
        screened_at=dt.datetime(2026, 1, day, tzinfo=dt.UTC),
        library="library.csv",
        compounds_scored=len(scores),
        best_hits=[HistoryHit(smiles="C" * (i + 1), score=s) for i, s in enumerate(scores)],
    )


@pytest.mark.parametrize(
    ("target_id", "kind"),
    [
        ("P00533", "uniprot"),
        ("Q9Y6K9-2", "uniprot"),
        ("A0A024R161", "uniprot"),
        ("EGFR", "gene"),
        ("HLA-A", "gene"),
        ("C1orf112", "gene"),
        ("Egfr", "gene"),
        (sequence_target_id("MKV"), "sequence"),
    ],
)
def test_check_target_id_accepts(target_id: str, kind: str) -> None:
    assert check_target_id(target_id) == kind


@pytest.mark.parametrize("target_id", ["", "1ABC", "EGFR!", "has space", "x" * 33, "EGFR-", "ä"])
def test_check_target_id_refuses_with_the_rule(target_id: str) -> None:
    with pytest.raises(InvalidInput, match=r"gene symbol .* or a UniProt accession"):
        check_target_id(target_id)


@pytest.mark.slow
def test_register_idempotent_and_conflict(client: GrainClient, engine: Engine) -> None:
    first = client.call(TargetProtein, "ABL1", "register", ABL1.lower(), name="Abl", idempotent=False)
    again = client.call(TargetProtein, "ABL1", "register", f"  {ABL1} ", idempotent=False)

    assert first.created and not again.created
    assert first.sequence == again.sequence == ABL1 and again.name == "Abl" and again.length == 300
    with pytest.raises(TargetConflict, match="target ABL1 is already registered with another sequence") as caught:
        client.call(TargetProtein, "ABL1", "register", OTHER, idempotent=False)
    assert caught.value.target_id == "ABL1"
    assert client.call(TargetProtein, "ABL1", "show").sequence == ABL1  # untouched
    assert [(s.key, s.version) for s in list_states(engine, "target")] == [("ABL1", 1)]


@pytest.mark.slow
def test_register_bad_input_stores_nothing(client: GrainClient, engine: Engine) -> None:
    with pytest.raises(InvalidProtein, match="'1' at position 4") as caught:
        client.call(TargetProtein, "EGFR", "register", "MKV1LA", idempotent=False)
    assert (caught.value.position, caught.value.character) == (4, "1")
    with pytest.raises(InvalidProtein, match="empty protein sequence"):
        client.call(TargetProtein, "EGFR", "register", "   ", idempotent=False)
    with pytest.raises(InvalidInput, match="is not a target id"):
        client.call(TargetProtein, "EGFR!", "register", ABL1, idempotent=False)
    with pytest.raises(TargetNotFound, match="no target 'EGFR' is registered"):
        client.call(TargetProtein, "EGFR", "show")
    assert list_states(engine, "target") == []


@pytest.mark.slow
def test_screening_history(client: GrainClient, engine: Engine) -> None:
    with pytest.raises(TargetNotFound):
        client.call(TargetProtein, "ABL1", "add_screening", screening("job-1", 0.5), idempotent=False)
    client.call(TargetProtein, "ABL1", "register", ABL1, idempotent=False)

    client.call(TargetProtein, "ABL1", "add_screening", screening("job-1", 0.2, 0.9, day=1), idempotent=False)
    many = [0.01 * i for i in range(MAX_HITS_PER_SCREENING + 5)]
    summary = client.call(TargetProtein, "ABL1", "add_screening", screening("job-2", *many, day=2), idempotent=False)
    assert summary.screenings == 2
    # the same job again replaces its entry
    client.call(TargetProtein, "ABL1", "add_screening", screening("job-1", 0.95, day=3), idempotent=False)

    detail: TargetDetail = client.call(TargetProtein, "ABL1", "show")
    assert [e.job_id for e in detail.history] == ["job-1", "job-2"]  # most recent first
    assert detail.history[0].model_ref == "drugban-human@1"
    assert len(detail.history[1].best_hits) == MAX_HITS_PER_SCREENING
    assert detail.history[1].best_hits[0].score == pytest.approx(many[-1])
    assert detail.best_hits[0].score == 0.95 and detail.best_hits[0].smiles == "C"
    assert [t.screenings for t in list_targets(engine)] == [2]


@pytest.mark.slow
def test_target_state_survives_killing_the_host(client: GrainClient, engine: Engine) -> None:
    client.call(TargetProtein, "P00519", "register", ABL1, name="ABL1", organism="Homo sapiens", idempotent=False)
    client.call(TargetProtein, "P00519", "add_screening", screening("job-1", 0.7), idempotent=False)
    before: TargetDetail = client.call(TargetProtein, "P00519", "show")

    killed = kill_host(client, "target", "P00519")
    wait_for_new_host(client, "target", "P00519", killed)  # a new process: nothing held in memory

    assert client.call(TargetProtein, "P00519", "show") == before
    assert before.id_kind == "uniprot" and before.organism == "Homo sapiens"
    with pytest.raises(TargetConflict):
        client.call(TargetProtein, "P00519", "register", OTHER, idempotent=False)
    (listed,) = list_targets(engine)
    assert (listed.target_id, listed.name, listed.length, listed.screenings) == ("P00519", "ABL1", 300, 1)


@pytest.mark.slow
@both_stores
def test_a_sequence_registered_under_another_id_becomes_an_alias(
    client: GrainClient, in_process: InProcessClient, engine: Engine
) -> None:
    first = in_process.register_target("P00519", ABL1, name="ABL1")
    assert first.created and first.alias is None

    alias = in_process.register_target("Abl1", ABL1.lower(), organism="Homo sapiens")
    assert (alias.target_id, alias.alias, alias.created, alias.aliases) == ("P00519", "Abl1", False, ["Abl1"])
    assert (alias.name, alias.organism) == ("ABL1", "Homo sapiens")  # fills in what the target lacked
    again = in_process.register_target("Abl1", ABL1)  # the alias again: the same answer, nothing new
    assert (again.target_id, again.alias, again.aliases) == ("P00519", "Abl1", ["Abl1"])

    # the alias names the target: reading, scoring and screening through it reach P00519
    assert client.call(TargetProtein, "Abl1", "show") == client.call(TargetProtein, "P00519", "show")
    assert client.call(TargetProtein, "Abl1", "sequence") == ABL1
    client.call(TargetProtein, "Abl1", "add_screening", screening("job-1", 0.8), idempotent=False)
    assert [e.job_id for e in client.call(TargetProtein, "P00519", "show").history] == ["job-1"]

    # one target everywhere the targets are listed (and so profiled)
    (listed,) = list_targets(engine)
    assert (listed.target_id, listed.aliases, listed.screenings) == ("P00519", ["Abl1"], 1)
    assert [t for t, _, _ in registered_targets(engine)] == ["P00519"]

    # an id holding another sequence is still a conflict, and takes no alias
    in_process.register_target("OTHER1", OTHER)
    with pytest.raises(TargetConflict):
        in_process.register_target("OTHER1", ABL1)
    assert client.call(TargetProtein, "OTHER1", "show").sequence == OTHER
    assert {t.target_id for t in list_targets(engine)} == {"P00519", "OTHER1"}


@pytest.mark.slow
def test_ids_sent_at_once_with_one_sequence_make_one_target(in_process: InProcessClient, engine: Engine) -> None:
    ids = [f"GENE{i}" for i in range(8)]

    async def register_all() -> list[TargetRegistration]:
        return list(
            await asyncio.gather(
                *(targets.register_target(in_process.context, target_id=i, sequence=ABL1) for i in ids)
            )
        )

    answers = asyncio.run(register_all())

    (target,) = list_targets(engine)
    assert sum(a.created for a in answers) == 1
    assert {a.target_id for a in answers} == {target.target_id}
    assert sorted([target.target_id, *target.aliases]) == ids


@pytest.mark.slow
def test_up_indexes_sequences_registered_before_aliases(
    client: GrainClient, in_process: InProcessClient, engine: Engine
) -> None:
    # a store written before aliases existed: targets registered on the grain itself, no index
    client.call(TargetProtein, "P00519", "register", ABL1, idempotent=False)
    assert list_states(engine, SEQUENCE_KIND) == []

    assert index_target_sequences(client) == []

    alias = in_process.register_target("ABL1", ABL1)
    assert (alias.target_id, alias.alias) == ("P00519", "ABL1")
    assert [t.target_id for t in list_targets(engine)] == ["P00519"]

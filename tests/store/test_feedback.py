"""Feedback outcomes on SQLite and PostgreSQL: a batch stored once, another batch under its id refused."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, inspect

from repurpose.errors import FeedbackConflict
from repurpose.store import StoredOutcome, batch_recorded, downgrade, load_outcomes, record_outcomes

BATCH = [
    StoredOutcome("a" * 64, "ABL1", 1, 0.9),
    StoredOutcome("b" * 64, "sha256:" + "c" * 64, 0, 0.2),
    StoredOutcome("a" * 64, "ABL1", 1, 0.7),  # a replicate is an outcome of its own
]


def test_a_batch_is_stored_once_and_read_back_by_version(engine: Engine) -> None:
    assert record_outcomes(engine, model="m", version=1, batch_id="b-1", outcomes=BATCH) is True
    assert record_outcomes(engine, model="m", version=1, batch_id="b-1", outcomes=BATCH) is False
    assert record_outcomes(engine, model="m", version=2, batch_id="b-1", outcomes=BATCH[:1]) is True
    assert record_outcomes(engine, model="other", version=1, batch_id="b-1", outcomes=BATCH[:2]) is True

    stored = load_outcomes(engine, "m")
    assert sorted(stored) == [1, 2]
    assert stored[1].labels.tolist() == [1, 0, 1]
    assert np.allclose(stored[1].scores, [0.9, 0.2, 0.7])
    assert stored[1].first_at <= stored[1].last_at and stored[1].first_at.tzinfo is not None
    assert list(load_outcomes(engine, "m", 2)) == [2] and load_outcomes(engine, "nobody") == {}


def test_a_batch_id_sent_again_with_other_outcomes_is_refused(engine: Engine) -> None:
    record_outcomes(engine, model="m", version=1, batch_id="b-1", outcomes=BATCH)
    changed = [*BATCH[:2], StoredOutcome("a" * 64, "ABL1", 0, 0.7)]
    with pytest.raises(FeedbackConflict, match="recorded with other outcomes"):
        record_outcomes(engine, model="m", version=1, batch_id="b-1", outcomes=changed)
    assert load_outcomes(engine, "m")[1].labels.tolist() == [1, 0, 1]


def test_a_batch_is_found_before_it_is_scored(engine: Engine) -> None:
    keys = [(o.compound_key, o.target_key, o.label) for o in BATCH]
    assert batch_recorded(engine, model="m", version=1, batch_id="b-1", pairs=keys) is False
    record_outcomes(engine, model="m", version=1, batch_id="b-1", outcomes=BATCH)
    assert batch_recorded(engine, model="m", version=1, batch_id="b-1", pairs=keys) is True
    assert batch_recorded(engine, model="m", version=2, batch_id="b-1", pairs=keys) is False  # another version
    with pytest.raises(FeedbackConflict, match="recorded with other outcomes"):
        batch_recorded(engine, model="m", version=1, batch_id="b-1", pairs=keys[:2])


def test_the_migration_makes_and_drops_the_table(engine: Engine) -> None:
    inspector = inspect(engine)
    assert "feedback_outcomes" in inspector.get_table_names()
    unique = inspector.get_unique_constraints("feedback_outcomes")
    assert [c["column_names"] for c in unique] == [["model", "version", "batch_id", "position"]]
    downgrade(engine, "0001")
    assert "feedback_outcomes" not in inspect(engine).get_table_names()

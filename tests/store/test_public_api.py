import repurpose.store


def test_public_surface() -> None:
    assert sorted(repurpose.store.__all__) == [
        "Base",
        "Bind",
        "FeedbackOutcomeRow",
        "GrainStateRow",
        "IdempotencyKeyRow",
        "StoredOutcome",
        "StoredResult",
        "StoredState",
        "VersionOutcomes",
        "batch_recorded",
        "current_revision",
        "downgrade",
        "head_revision",
        "list_states",
        "load_idempotent_result",
        "load_outcomes",
        "load_state",
        "make_engine",
        "make_session_factory",
        "record_idempotent_result",
        "record_outcomes",
        "save_state",
        "upgrade",
    ]
    for name in repurpose.store.__all__:
        assert getattr(repurpose.store, name) is not None

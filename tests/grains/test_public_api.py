import repurpose.grains


def test_public_surface() -> None:
    assert sorted(repurpose.grains.__all__) == [
        "Grain",
        "GrainClient",
        "GrainContext",
        "GrainHost",
        "HostStats",
        "KindRef",
        "find_grain_class",
        "grain",
        "grain_class",
        "host_names",
        "pick_host",
        "registered_kinds",
    ]
    for name in repurpose.grains.__all__:
        assert getattr(repurpose.grains, name) is not None

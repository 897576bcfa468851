from __future__ import annotations

from collections import Counter

import pytest

from repurpose.grains import host_names, pick_host


def test_host_names_numbered() -> None:
    assert host_names("grain-host", 3) == ["grain-host-0", "grain-host-1", "grain-host-2"]


def test_pick_host_same_answer_whatever_the_order() -> None:
    hosts = host_names("pool", 5)
    for key in map(str, range(200)):
        assert pick_host("target", key, hosts) == pick_host("target", key, list(reversed(hosts)))


def test_pick_host_spreads_keys() -> None:
    hosts = host_names("pool", 4)
    counts = Counter(pick_host("target", f"P{i:05d}", hosts) for i in range(4000))
    assert set(counts) == set(hosts)
    assert min(counts.values()) > 800  # ~1000 each


def test_pick_host_kind_is_part_of_the_address() -> None:
    hosts = host_names("pool", 8)
    assert any(pick_host("target", str(i), hosts) != pick_host("dataset", str(i), hosts) for i in range(50))


def test_pick_host_growing_pool_moves_only_to_new_host() -> None:
    before, after = host_names("pool", 4), host_names("pool", 5)
    for i in range(2000):
        old, new = pick_host("target", str(i), before), pick_host("target", str(i), after)
        assert new == old or new == "pool-4"


def test_pick_host_empty_pool_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        pick_host("target", "x", [])

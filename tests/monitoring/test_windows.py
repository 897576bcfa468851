"""A monitor's windows: the last N pairs, the last hour and day, each job; samples kept small and uniform."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repurpose.data.descriptors import COMPOUND_DESCRIPTORS
from repurpose.monitoring.sketch import SCORE, TrafficSketch
from repurpose.monitoring.windows import MAX_JOBS, MIN_SAMPLE, SEGMENTS, SLACK, Windows

NOW = 1_800_000_000.0  # seconds since the epoch
EDGES = {"logp": [0.0, 1.0]}


def flush(pairs: int, seed: int, score: float = 0.5) -> TrafficSketch:
    """A flush of ``pairs`` pairs whose scores are all ``score`` (so windows can tell flushes apart)."""
    sketch = TrafficSketch.empty(EDGES, seed=seed)
    descriptors = pd.DataFrame({name: np.zeros(pairs) for name in COMPOUND_DESCRIPTORS})
    sketch.add(descriptors, [100] * pairs, [score] * pairs, [None] * pairs, [None] * pairs)
    return sketch


def test_the_pairs_window_holds_the_last_n_pairs() -> None:
    windows = Windows()
    for i in range(30):
        windows.add(flush(100, seed=i, score=i / 100), job_id=None, at=NOW, window_pairs=1000)
    window = windows.sketch_of("pairs", now=NOW)
    assert window is not None and window.n == 1000  # 30 flushes of 100; segments of 100
    assert len(windows.segments) == SEGMENTS
    assert sorted(set(window.sample.columns[SCORE])) == [i / 100 for i in range(20, 30)]  # the last ten flushes


def test_a_big_flush_keeps_its_segment_until_the_rest_hold_n() -> None:
    windows = Windows()
    windows.add(flush(5000, seed=1), job_id=None, at=NOW, window_pairs=1000)
    windows.add(flush(400, seed=2), job_id=None, at=NOW, window_pairs=1000)
    assert windows.sketch_of("pairs", now=NOW).n == 5400  # type: ignore[union-attr]  # 400 alone are fewer than N
    windows.add(flush(700, seed=3), job_id=None, at=NOW, window_pairs=1000)
    assert windows.sketch_of("pairs", now=NOW).n == 1100  # type: ignore[union-attr]


def test_hour_and_day_windows_forget_older_pairs() -> None:
    windows = Windows()
    windows.add(flush(10, seed=1), job_id=None, at=NOW - 2 * 86400, window_pairs=10_000)  # two days ago
    windows.add(flush(20, seed=2), job_id=None, at=NOW - 3 * 3600, window_pairs=10_000)  # three hours ago
    windows.add(flush(30, seed=3), job_id=None, at=NOW - 120, window_pairs=10_000)  # two minutes ago
    assert windows.sketch_of("hour", now=NOW).n == 30  # type: ignore[union-attr]
    assert windows.sketch_of("day", now=NOW).n == 50  # type: ignore[union-attr]
    assert windows.sketch_of("pairs", now=NOW).n == 60  # type: ignore[union-attr]
    assert windows.sketch_of("hour", now=NOW + 7200) is None
    assert len(windows.hours) == 2  # the one of two days ago went when a newer hour came


def test_jobs_are_kept_apart_and_bounded() -> None:
    windows = Windows()
    for i in range(MAX_JOBS + 2):
        windows.add(flush(5, seed=i), job_id=f"scr-{i:012x}", at=NOW + i, window_pairs=10_000)
    windows.add(flush(7, seed=99), job_id="scr-000000000003", at=NOW + 100, window_pairs=10_000)
    assert windows.sketch_of("job:scr-000000000003", now=NOW).n == 12  # type: ignore[union-attr]
    assert windows.sketch_of("job:scr-000000000000", now=NOW) is None  # the first two went
    assert len(windows.job_ids()) == MAX_JOBS and windows.job_ids()[-1] == "scr-000000000003"


def test_older_buckets_keep_only_their_share_of_the_sample() -> None:
    windows = Windows()
    for minute in range(60):
        windows.add(flush(1000, seed=minute), job_id=None, at=NOW - 3540 + 60 * minute, window_pairs=10_000)
    kept = sum(len(b.sketch.sample) for b in windows.minutes)
    assert kept <= SLACK * 1000 + 60 * MIN_SAMPLE + 1000  # not 60 × 1,000
    hour = windows.sketch_of("hour", now=NOW)
    assert hour is not None and hour.n == 60_000 and len(hour.sample) == 1000  # still a full sample of the hour

"""The windows a monitor keeps of a model's traffic: the last N pairs, the last hour, the last
day, and each screening job, as buckets of sketches merged when a window is read.

- ``pairs``: segments of about N / ``SEGMENTS`` pairs, newest last. A flush goes into the newest
  segment until that holds its share, then a new one starts; the oldest segments go while the
  rest still hold N pairs. The window so holds N pairs or a little more (never fewer, once N
  were scored), and says exactly how many.
- ``hour``: one bucket per minute (by the time the pairs were scored), the last 60 minutes.
- ``day``: one bucket per hour, the last 24 hours.
- ``job:<id>``: one sketch per screening job, the ``MAX_JOBS`` fed most recently.

A monitor's state is written through on every flush, so its samples are kept small: a bucket
that is not the newest of its window keeps a share of its sample in proportion to its share of
the window's pairs (``SLACK`` × 1,000 × its pairs / the window's, at least ``MIN_SAMPLE``).
Shrinking keeps a sample's smallest keys, so the merge of a window is still a uniform sample of
it (``monitoring.reservoir``), of up to 1,000 pairs while no bucket was thinned far below its
share. A window holds at most about ``SLACK`` × 1,000 sampled pairs and ``MIN_SAMPLE`` per bucket;
a job keeps all 1,000 of its own.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from repurpose.monitoring.sketch import RESERVOIR_SIZE, TrafficSketch

SEGMENTS = 10
MINUTES = 60
HOURS = 24
MAX_JOBS = 10
SLACK = 2.0
MIN_SAMPLE = 20


class Bucket(BaseModel):
    key: int = Field(description="The segment's number, or the minute or hour since the epoch.")
    sketch: TrafficSketch


class JobBucket(BaseModel):
    job_id: str
    updated_at: float = Field(description="When its last pairs were scored (seconds since the epoch).")
    sketch: TrafficSketch


class Windows(BaseModel):
    segments: list[Bucket] = Field(default_factory=list)
    minutes: list[Bucket] = Field(default_factory=list)
    hours: list[Bucket] = Field(default_factory=list)
    jobs: list[JobBucket] = Field(default_factory=list)

    def add(self, sketch: TrafficSketch, *, job_id: str | None, at: float, window_pairs: int) -> None:
        """Count a flush's pairs, scored at ``at``, in every window (and its job's, if any)."""
        self._add_to_segments(sketch, window_pairs)
        _add_timed(self.minutes, sketch, int(at // 60), MINUTES)
        _add_timed(self.hours, sketch, int(at // 3600), HOURS)
        if job_id is not None:
            self._add_to_job(sketch, job_id, at)

    def sketch_of(self, window: str, *, now: float) -> TrafficSketch | None:
        """The merged sketch of a window (``pairs``, ``hour``, ``day`` or ``job:<id>``); None when
        it holds nothing (for a job: when the job is not among the kept ones)."""
        if window == "pairs":
            buckets = [b.sketch for b in self.segments]
        elif window == "hour":
            buckets = [b.sketch for b in self.minutes if b.key > now // 60 - MINUTES]
        elif window == "day":
            buckets = [b.sketch for b in self.hours if b.key > now // 3600 - HOURS]
        else:
            job_id = window.removeprefix("job:")
            buckets = [b.sketch for b in self.jobs if b.job_id == job_id]
        return TrafficSketch.combine(buckets, capacity=RESERVOIR_SIZE) if buckets else None

    def job_ids(self) -> list[str]:
        """The jobs kept, most recently fed last."""
        return [b.job_id for b in self.jobs]

    def _add_to_segments(self, sketch: TrafficSketch, window_pairs: int) -> None:
        share = max(1, math.ceil(window_pairs / SEGMENTS))
        newest = self.segments[-1] if self.segments else None
        if newest is not None and newest.sketch.n < share:
            newest.sketch = _merged(newest.sketch, sketch)
        else:
            key = newest.key + 1 if newest is not None else 0
            self.segments.append(Bucket(key=key, sketch=sketch.resized(RESERVOIR_SIZE)))
        total = sum(b.sketch.n for b in self.segments)
        while len(self.segments) > 1 and total - self.segments[0].sketch.n >= window_pairs:
            total -= self.segments.pop(0).sketch.n
        _thin(self.segments)

    def _add_to_job(self, sketch: TrafficSketch, job_id: str, at: float) -> None:
        bucket = next((b for b in self.jobs if b.job_id == job_id), None)
        if bucket is None:
            bucket = JobBucket(job_id=job_id, updated_at=at, sketch=sketch.resized(RESERVOIR_SIZE))
        else:
            self.jobs.remove(bucket)
            bucket.sketch = _merged(bucket.sketch, sketch)
            bucket.updated_at = max(bucket.updated_at, at)
        self.jobs.append(bucket)
        del self.jobs[:-MAX_JOBS]


def _add_timed(buckets: list[Bucket], sketch: TrafficSketch, key: int, span: int) -> None:
    """Into the bucket of ``key`` (minute or hour), keeping the ``span`` newest keys; a flush older
    than all of them counts nowhere."""
    if buckets and key <= buckets[-1].key - span:
        return
    bucket = next((b for b in buckets if b.key == key), None)
    if bucket is None:
        buckets.append(Bucket(key=key, sketch=sketch.resized(RESERVOIR_SIZE)))
        buckets.sort(key=lambda b: b.key)
    else:
        bucket.sketch = _merged(bucket.sketch, sketch)
    cutoff = buckets[-1].key - span
    buckets[:] = [b for b in buckets if b.key > cutoff]
    _thin(buckets)


def _merged(kept: TrafficSketch, new: TrafficSketch) -> TrafficSketch:
    return TrafficSketch.combine([kept, new], capacity=kept.sample.capacity)


def _thin(buckets: list[Bucket]) -> None:
    """Shrink every bucket's sample but the newest's to its share of the window (see the module's docs)."""
    total = sum(b.sketch.n for b in buckets)
    for bucket in buckets[:-1]:
        share = math.ceil(SLACK * RESERVOIR_SIZE * bucket.sketch.n / total) if total else RESERVOIR_SIZE
        capacity = min(RESERVOIR_SIZE, max(MIN_SAMPLE, share))
        if capacity < bucket.sketch.sample.capacity:
            bucket.sketch = bucket.sketch.resized(capacity)

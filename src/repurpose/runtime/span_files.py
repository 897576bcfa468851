"""Spans as JSON lines in a folder: the ``file`` trace exporter, and reading its files back.

Each process appends to its own file, ``<folder>/spans-<pid>.jsonl`` (processes never interleave
their lines), one span per line as ``ReadableSpan.to_json`` writes it; the file is owner-only
(``0600``, in a folder made ``0700``): spans carry ids of runs, models and targets. The exporter runs behind a
simple (not batching) processor: a span is on disk when it ends, so what a killed worker ended is
kept. For a cluster without a collector, and for tests that gather the spans of many processes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from repurpose.runtime.private_files import PRIVATE_DIR_MODE, private_file

logger = logging.getLogger(__name__)

SPANS_FILE_PATTERN = "spans-*.jsonl"


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON line per span to this process's file in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._made: Path | None = None  # this process's file, made owner-only

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        try:
            with self._lock:
                path = self.folder / f"spans-{os.getpid()}.jsonl"
                if path != self._made:  # once per process: spans name keys, targets and users
                    self.folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
                    private_file(path)
                    self._made = path
                with path.open("a") as f:
                    f.write(lines)
        except OSError as error:  # a full or unwritable disk costs the spans, never the traced call
            logger.warning("traces: writing %d span(s) to %s failed: %s", len(spans), self.folder, error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS


def read_spans(folder: Path) -> list[dict[str, Any]]:
    """Every span written under ``folder``, as ``ReadableSpan.to_json`` has it (ids as 0x… hex)."""
    spans: list[dict[str, Any]] = []
    for path in sorted(folder.glob(SPANS_FILE_PATTERN)):
        with path.open() as f:
            spans.extend(json.loads(line) for line in f if line.strip())
    return spans

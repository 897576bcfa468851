"""A replica's profile rows of one model: every target it profiled, in one local file.

A profile reads every registered target (2,156: 2.5 GiB of float32 for DrugBAN), more than a
replica may hold in memory (``scorer_target_cache_mib``). Reading each target's file from the
artifact store on every profile costs about 2 ms a target; here each target is read once and
appended, in the layout the profile's sums want (``GramBlocks`` + s_q, 1.16 MiB), to a file
that is mapped into memory while a profile reads it. The kernel's page cache keeps what was
read lately without counting it as the replica's own memory: after each stretch of rows the
replica drops its mapping of them (``madvise(MADV_DONTNEED)``), so its resident set grows by a
stretch at most, and the pages stay cached (reclaimable) for the next profile.

The file is created unlinked (``tempfile.TemporaryFile`` in ``tempfile.gettempdir()``, TMPDIR
to move it): it disappears with the process, or when the model's slab is closed.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import threading
from collections.abc import Hashable

import numpy as np
import torch

GROWTH_ROWS = 256
"""Rows the file grows by at a time (each growth maps the file anew)."""


class TargetSlab:
    """Fixed-size rows of ``row_numbers`` numbers of ``dtype``, one per target key, appended."""

    def __init__(self, row_numbers: int, dtype: torch.dtype = torch.float32, directory: str | None = None) -> None:
        self.row_numbers = row_numbers
        self.dtype = dtype
        self._numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self.row_bytes = row_numbers * self._numpy_dtype.itemsize
        self._file = tempfile.TemporaryFile(dir=directory, prefix="repurpose-slab-")  # noqa: SIM115 (lives with the slab)
        self._slots: dict[Hashable, int] = {}
        self._capacity = 0
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def nbytes(self) -> int:
        """Bytes written (on disk, and in the page cache while the kernel keeps them)."""
        return len(self._slots) * self.row_bytes

    def slot(self, key: Hashable) -> int | None:
        return self._slots.get(key)

    def add(self, key: Hashable, row: torch.Tensor) -> int:
        """Append ``row`` (``row_numbers`` numbers) under ``key``; its slot (the old one if present)."""
        with self._lock:
            found = self._slots.get(key)
            if found is not None:
                return found
            data = row.detach().to("cpu", self.dtype).contiguous().numpy()
            if data.shape != (self.row_numbers,):
                raise ValueError(f"a row of {data.shape} numbers, not ({self.row_numbers},)")
            slot = len(self._slots)
            if slot >= self._capacity:
                self._grow()
            os.pwrite(self._file.fileno(), data.data, slot * self.row_bytes)
            self._slots[key] = slot
            return slot

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``start`` to ``stop`` (written ones) as a (stop − start, row_numbers) tensor that reads
        the mapped file (valid until the next ``add`` grows it; read-only by convention)."""
        with self._lock:
            if not 0 <= start <= stop <= len(self._slots):
                raise IndexError(f"rows {start}:{stop} of {len(self._slots)}")
            if self._map is None:
                self._map = mmap.mmap(self._file.fileno(), self._capacity * self.row_bytes)
            count = (stop - start) * self.row_numbers
            array = np.frombuffer(self._map, dtype=self._numpy_dtype, count=count, offset=start * self.row_bytes)
            return torch.from_numpy(array).view(stop - start, self.row_numbers)

    def release(self, start: int, stop: int) -> None:
        """Drop this process's mapping of rows ``start`` to ``stop`` (its resident set shrinks; the
        pages stay in the kernel's cache and are mapped again when read)."""
        if self._map is None or stop <= start:
            return
        page = mmap.PAGESIZE
        first = start * self.row_bytes // page * page
        last = min(-(-stop * self.row_bytes // page) * page, self._capacity * self.row_bytes)
        self._map.madvise(mmap.MADV_DONTNEED, first, last - first)

    def close(self) -> None:
        """Delete the file (its space returns when no tensor from ``rows`` reads it any more)."""
        with self._lock:
            self._unmap()
            self._file.close()
            self._slots.clear()

    def _grow(self) -> None:
        self._unmap()
        self._capacity += GROWTH_ROWS
        self._file.truncate(self._capacity * self.row_bytes)

    def _unmap(self) -> None:
        # Not ``close()``: a tensor from ``rows`` may still read the old mapping, which goes with it.
        self._map = None

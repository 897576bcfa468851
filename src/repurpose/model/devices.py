"""Where a model computes, and in what precision: one resolver for every worker and replica.

The ``device`` setting reads ``auto``, ``cpu``, ``cuda`` or ``cuda:N``. ``auto`` is the first GPU
Ray assigned to this process when it declared GPUs (Ray sets ``CUDA_VISIBLE_DEVICES`` to the
assigned ones, so that is ``cuda:0``) and PyTorch sees one, else the CPU: a worker that declared
no GPU stays on the CPU even on a GPU machine, leaving the GPUs to those that reserved them.
``cuda``/``cuda:N`` where PyTorch sees no such device is refused (``InvalidInput``, naming the
setting), never silently run on the CPU.

The ``precision`` setting: ``fp32`` (the default, float32 throughout); ``bf16``, the forwards under
``torch.autocast`` in bfloat16 (on the CPU too: PyTorch's CPU autocast; the hand-written autograd
functions run in float32 inside it, see ``float32_inside``); ``tf32``, float32 tensors with CUDA's
TF32 matrix products allowed (a CUDA mode: on the CPU it is float32 exactly).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast, get_args

import torch

from repurpose.errors import InvalidInput
from repurpose.settings import DEVICE_PATTERN, Precision

PRECISIONS: tuple[str, ...] = get_args(Precision)
CPU = torch.device("cpu")

F = TypeVar("F", bound=Callable[..., Any])


def resolve_device(setting: str, *, gpus: float | None = None) -> torch.device:
    """The ``torch.device`` a ``device`` setting names for a process that declared ``gpus`` GPUs to
    Ray (None: not known, e.g. outside Ray: any visible GPU counts). InvalidInput for a malformed
    setting or a CUDA device PyTorch does not see."""
    value = setting.strip().lower()
    if not DEVICE_PATTERN.match(value):
        raise InvalidInput(f"device {setting!r:.40} is not a device: give auto, cpu, cuda or cuda:N")
    if value == "cpu":
        return CPU
    available = torch.cuda.is_available()
    if value == "auto":
        declared = gpus is None or gpus > 0
        return torch.device("cuda", 0) if declared and available else CPU
    index = int(value.partition(":")[2] or 0)
    count = torch.cuda.device_count() if available else 0
    if index >= count:
        seen = f"it sees {count} (cuda:0 to cuda:{count - 1})" if count else "it sees none (a CPU-only build or no GPU)"
        raise InvalidInput(
            f"device {setting!r} asks for a CUDA device PyTorch does not see: {seen}; "
            "set device to auto or cpu, or declare GPUs (--gpus, scorer_num_gpus) so Ray assigns one"
        )
    return torch.device("cuda", index)


def check_precision(precision: str) -> Precision:
    if precision not in PRECISIONS:
        raise InvalidInput(f"precision {precision!r:.40} is not a precision: give {', '.join(PRECISIONS)}")
    return cast(Precision, precision)


@dataclass(frozen=True)
class Compute:
    """A device and a precision: what a model runs on and how (``autocast`` around its forwards)."""

    device: torch.device = CPU
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        check_precision(self.precision)
        if self.precision == "tf32" and self.device.type == "cuda":
            # process-wide switches (a worker or replica runs one compute): TF32 in matmuls and convolutions
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """bfloat16 autocast on the device for ``bf16``; nothing otherwise."""
        if self.precision != "bf16":
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16):
            yield


def resolve_compute(device: str, precision: str, *, gpus: float | None = None) -> Compute:
    """``resolve_device`` and ``check_precision`` together (see the module docs)."""
    return Compute(resolve_device(device, gpus=gpus), check_precision(precision))


def float32_inside(forward: F) -> F:
    """For a custom autograd function's ``forward``: autocast off inside and its lower-precision
    floating tensors cast to float32, so its hand-written backward sees the dtypes it was written
    for (under bf16 autocast its inputs arrive in bfloat16 from the linear layers)."""

    @wraps(forward)
    def wrapper(ctx: Any, *args: Any) -> Any:
        device_type = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        if not torch.is_autocast_enabled(device_type):
            return forward(ctx, *args)
        lifted = [widened(a) if isinstance(a, torch.Tensor) else a for a in args]
        with torch.autocast(device_type=device_type, enabled=False):
            return forward(ctx, *lifted)

    return cast(F, wrapper)


def widened(tensor: torch.Tensor) -> torch.Tensor:
    """A bfloat16 or float16 tensor (an autocast output) as float32; any other as it is."""
    return tensor.float() if tensor.dtype in (torch.bfloat16, torch.float16) else tensor

"""Grain kinds by name: ``@grain("target")`` registers a class under its kind.

Code that must not import a kind's module (a worker reporting to the grain that started it: the
grain's module imports the worker's) names the kind by a ``KindRef``: its name and the module that
registers it. A process that does not know the kind yet imports that module (``import_kind``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from repurpose.errors import UnknownGrainKind
from repurpose.grains.base import Grain

G = TypeVar("G", bound=type[Grain[Any]])

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")

_kinds: dict[str, type[Grain[Any]]] = {}


@dataclass(frozen=True)
class KindRef:
    """A grain kind by name, with the module whose import registers it."""

    name: str
    module: str

    @classmethod
    def of(cls, kind: type[Grain[Any]]) -> KindRef:
        if not kind.kind:
            raise TypeError(f"{kind.__qualname__} is not registered: decorate it with @grain('<kind>')")
        return cls(kind.kind, kind.__module__)


def grain(kind: str) -> Callable[[G], G]:
    """Class decorator: register a ``Grain`` subclass as the implementation of ``kind``."""
    if not KIND_PATTERN.match(kind):
        raise ValueError(f"grain kind {kind!r} must be 1-64 lower-case letters, digits, '_', '.' or '-'")

    def register(cls: G) -> G:
        if not (isinstance(cls, type) and issubclass(cls, Grain)):
            raise TypeError(f"@grain({kind!r}) decorates Grain subclasses, not {cls!r}")
        state = getattr(cls, "State", None)
        if not (isinstance(state, type) and issubclass(state, BaseModel)):
            raise TypeError(f"{cls.__qualname__} needs a pydantic State: subclass Grain[YourState]")
        existing = _kinds.get(kind)
        if existing is not None and _name(existing) != _name(cls):
            raise ValueError(f"grain kind {kind!r} is taken by {_name(existing)}")
        cls.kind = kind
        _kinds[kind] = cls
        return cls

    return register


def grain_class(kind: str) -> type[Grain[Any]]:
    """The class registered for ``kind`` in this process."""
    try:
        return _kinds[kind]
    except KeyError:
        raise UnknownGrainKind(f"no grain kind {kind!r} is registered", kind=kind) from None


def find_grain_class(kind: str) -> type[Grain[Any]] | None:
    """Like ``grain_class`` but ``None`` for an unknown kind."""
    return _kinds.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_kinds)


def adopt(cls: type[Grain[Any]]) -> str:
    """Register a class received from a caller (hosts learn kinds this way); first one wins."""
    if not (isinstance(cls, type) and issubclass(cls, Grain) and KIND_PATTERN.match(cls.kind)):
        raise TypeError(f"{cls!r} is not a registered grain class")
    _kinds.setdefault(cls.kind, cls)
    return cls.kind


def import_kind(ref: KindRef) -> str:
    """Learn ``ref``'s kind by importing its module (a no-op for a kind known already)."""
    if ref.name not in _kinds:
        importlib.import_module(ref.module)
    return grain_class(ref.name).kind  # UnknownGrainKind: the module does not register it


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"

from __future__ import annotations

import pytest
from pydantic import BaseModel

from repurpose.errors import UnknownGrainKind
from repurpose.grains import Grain, find_grain_class, grain, grain_class, registered_kinds


class NoteState(BaseModel):
    text: str = ""


@grain("registry.note")
class Note(Grain[NoteState]):
    def write(self, text: str) -> None:
        self.state.text = text


def test_grain_registers_kind_and_infers_state() -> None:
    assert grain_class("registry.note") is Note
    assert find_grain_class("registry.note") is Note
    assert Note.kind == "registry.note"
    assert Note.State is NoteState
    assert "registry.note" in registered_kinds()


def test_unknown_kind_is_typed() -> None:
    with pytest.raises(UnknownGrainKind) as caught:
        grain_class("registry.missing")
    assert caught.value.kind == "registry.missing"
    assert find_grain_class("registry.missing") is None


def test_kind_taken_by_another_class_refused() -> None:
    with pytest.raises(ValueError, match="taken"):

        @grain("registry.note")
        class Other(Grain[NoteState]):
            pass


@pytest.mark.parametrize("kind", ["", "Upper", "has space", "x" * 65, "1starts-with-digit"])
def test_bad_kind_names_refused(kind: str) -> None:
    with pytest.raises(ValueError, match="grain kind"):
        grain(kind)


def test_grain_without_state_refused() -> None:
    class Stateless(Grain):
        pass

    with pytest.raises(TypeError, match="pydantic State"):
        grain("registry.stateless")(Stateless)


def test_non_grain_refused() -> None:
    with pytest.raises(TypeError, match="Grain subclasses"):
        grain("registry.plain")(dict)  # type: ignore[type-var]

"""Which model explains a pair when none is named (``resolve_explainer``): explanations are
DrugBAN's attention, and the default model may be of another type once a union model wins
production. The registry is called by kind reference, and that reference names its grain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from repurpose.contracts.scoring import ResolvedModel
from repurpose.errors import ModelNotFound
from repurpose.grains import KindRef
from repurpose.scoring.client import MODEL_REGISTRY, resolve_explainer
from repurpose.settings import Settings


def model(name: str, version: int, model_type: str) -> ResolvedModel:
    return ResolvedModel(name=name, version=version, model_type=model_type, artifact_path="a", threshold=0.5)


def registry(known: dict[str, ResolvedModel]) -> tuple[Callable[[str], Awaitable[ResolvedModel]], list[str]]:
    """A resolver over ``known`` references (ModelNotFound otherwise) and the references it was asked."""
    asked: list[str] = []

    async def resolve(reference: str) -> ResolvedModel:
        asked.append(reference)
        if reference not in known:
            raise ModelNotFound(f"no {reference}", name=reference.partition("@")[0])
        return known[reference]

    return resolve, asked


def explainer(settings: Settings, known: dict[str, ResolvedModel], reference: str | None = None) -> ResolvedModel:
    resolve, _ = registry(known)
    return asyncio.run(resolve_explainer(resolve, settings, reference))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, default_model="knn-union")


KNN = model("knn-union", 1, "knn")
FLAGSHIP = model("drugban-human", 1, "drugban")


def test_a_default_model_of_another_type_explains_with_the_flagship(settings: Settings) -> None:
    # up put knn-union in production by merit and drugban-human in staging
    assert explainer(settings, {"knn-union": KNN, "drugban-human@staging": FLAGSHIP}) == FLAGSHIP
    # production first when it has one
    newer = model("drugban-human", 2, "drugban")
    both = {"knn-union": KNN, "drugban-human@production": newer, "drugban-human@staging": FLAGSHIP}
    assert explainer(settings, both) == newer
    # the setting names the DrugBAN to use
    union = model("drugban-union", 1, "drugban")
    chosen = settings.with_overrides(explain_model="drugban-union")
    assert explainer(chosen, {"knn-union": KNN, "drugban-union@production": union}) == union


def test_a_drugban_default_explains_and_a_named_model_is_used_as_named(settings: Settings) -> None:
    flagship_default = settings.with_overrides(default_model="drugban-human")
    resolve, asked = registry({"drugban-human": FLAGSHIP})
    assert asyncio.run(resolve_explainer(resolve, flagship_default, None)) == FLAGSHIP
    assert asked == ["drugban-human"]
    # a model named is the caller's choice: the scorer says if it cannot explain
    assert explainer(settings, {"knn-union@1": KNN}, "knn-union@1") == KNN


def test_no_drugban_anywhere_says_what_was_tried(settings: Settings) -> None:
    knn_flagship = model("drugban-human", 3, "knn")  # a model of the user's under the flagship's name
    with pytest.raises(ModelNotFound) as error:
        explainer(settings, {"knn-union": KNN, "drugban-human@production": knn_flagship})
    assert error.value.message == (
        "no DrugBAN model to explain with (the default model, then setting explain_model: knn-union: knn-union@1 is "
        "knn; drugban-human@production: drugban-human@3 is knn; drugban-human@staging: none): name one (--model, "
        "or `model` over HTTP)"
    )


def test_the_registry_kind_reference_names_the_model_registry_grain() -> None:
    from repurpose.actors.model_registry import ModelRegistry  # the test may import the grain; scoring may not

    assert KindRef.of(ModelRegistry) == MODEL_REGISTRY

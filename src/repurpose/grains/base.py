"""What a grain is: a plain class with a pydantic ``State`` and one method per operation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin

from pydantic import BaseModel
from sqlalchemy import Engine

from repurpose.runtime.artifacts import ArtifactStore
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.grains.client import GrainClient

StateT = TypeVar("StateT", bound=BaseModel)


@dataclass(frozen=True)
class GrainContext:
    """What a host gives every grain it holds (shared by all its activations)."""

    settings: Settings
    engine: Engine  # the host's own engine on settings.database_url
    artifacts: ArtifactStore
    grains: GrainClient  # to call other grains: ``await self.context.grains.acall(...)``
    host: str  # the name of the host holding the activation


class Grain(Generic[StateT]):
    """Base class of every grain kind; subclass as ``class Target(Grain[TargetState])``.

    Public methods (sync or async) are the grain's operations. They run one at a time per
    grain, read and change ``self.state``, and the host persists a changed state before the
    call returns; an operation that raises leaves the state as it was stored. Sync methods run
    on the host's event loop and must be quick: await ``asyncio.to_thread`` or a Ray task for
    blocking work. A grain must not call itself (directly or through other grains): its own
    turn is still running, so such a call would wait forever.
    """

    State: ClassVar[type[BaseModel]]
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "State" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if get_origin(base) is Grain and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                cls.State = args[0]

    def __init__(self, key: str, state: StateT, context: GrainContext) -> None:
        self.key = key
        self.state = state
        self.context = context
        self.version = 0  # writes persisted so far; kept up to date by the host
        self._save: Callable[[], Awaitable[None]] | None = None  # installed by the host

    @classmethod
    def initial_state(cls, key: str) -> StateT:
        """The state of a grain never stored before; override when it depends on the key."""
        return cast(StateT, cls.State())

    @property
    def exists(self) -> bool:
        """Whether this grain's state has ever been stored."""
        return self.version > 0

    async def on_activate(self) -> None:
        """Called once per activation, after the state is loaded and before the first call.

        Override to pick up work the grain watches (e.g. a training task after a restart).
        State it changes is written through with the first call's turn.
        """

    async def save(self) -> None:
        """Persist the state now, in the middle of a long operation (e.g. progress)."""
        if self._save is None:
            raise RuntimeError(f"{type(self).__name__} {self.key!r} is not active in a grain host")
        await self._save()

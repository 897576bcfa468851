"""The base of every contract: a pydantic model whose validator is built on first use.

Every command and process imports the contracts, but most use few of them: building all the
validators at import took about 70 ms of each CLI call (``repurpose --help`` included). The
first use may come from several threads at once (a replica's lanes, FastAPI's thread pool):
pydantic builds under a lock since 2.14 (pinned).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(defer_build=True)

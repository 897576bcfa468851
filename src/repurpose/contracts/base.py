"""The base of every contract: a pydantic model whose validator is built on first use.

Every command and process imports the contracts, but most use few of them: building all the
validators at import took about 70 ms of each CLI call (``repurpose --help`` included).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Contract(BaseModel):
    model_config = ConfigDict(defer_build=True)

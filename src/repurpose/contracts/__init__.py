"""Pydantic models at the boundaries, shared by grains, CLI and gateway: one module per area.

The leaf of the package: these modules import pydantic, the standard library, the package's
``__version__`` and the two standard-library-only modules ``repurpose.errors`` and
``repurpose.plain_text``, nothing else, so the HTTP client (``repurpose.client``) and the CLI
load them without Ray, PyTorch, RDKit or pandas.
Every id's pattern is in ``ids``.
"""

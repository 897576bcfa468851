"""The domain grains (see ARCHITECTURE.md, "The actors"): one module per grain kind."""

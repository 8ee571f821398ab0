"""The runtime wing: what a GPU worker runs. No torch, and nothing from ``aepipe.tools`` or
``aepipe.training`` (``tests/unit/test_layers.py`` holds every module here to that)."""

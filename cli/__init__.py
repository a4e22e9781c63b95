"""The ``segment-personalize`` command: one module per command."""

"""Adapters of the shared layer: AWS and Segment behind small interfaces (``interfaces.py``)."""

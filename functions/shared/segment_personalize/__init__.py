"""Shared layer of segment-personalize: event model, configuration, clients, error names, observability.

Deployed as one Lambda layer (``functions/shared`` in ``iac/template.yaml``) and imported by every function.
"""

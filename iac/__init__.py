"""Infrastructure as code: the SAM template, its offline validation (``python -m iac.template``) and the
cross-platform Lambda package builder (``python -m iac.build``)."""

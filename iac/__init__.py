"""Infrastructure as code: the SAM template, what its offline checks (``tests/iac``, ``make validate``) read
it with, and the cross-platform Lambda package builder (``python -m iac.build``)."""

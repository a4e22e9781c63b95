"""Every fake the tests share, one module per adapter, and the one Lambda context (the local runtime's own).

``personalize`` (the real adapters' clients under botocore's Stubber), ``profiles`` (the Profile API),
``segment`` (the tracking API), ``http`` (a recording HTTP server on loopback), ``services`` (the fakes of
the five steps together, for the state machine tests).
"""

from local_stack.lambda_runtime.context import LambdaContext

__all__ = ["LambdaContext"]

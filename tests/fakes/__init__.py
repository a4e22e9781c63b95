"""Every fake the tests share, and the one Lambda context (the local runtime's own)."""

from local_stack.lambda_runtime.context import LambdaContext

__all__ = ["LambdaContext"]

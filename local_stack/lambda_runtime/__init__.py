"""The Lambda runtime of the local stack: the context object, the invoker and the Lambda Invoke API server."""

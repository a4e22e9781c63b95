"""The typed errors of the local Personalize, each answered as the real rest-json service answers it."""

from __future__ import annotations

#: HTTP status of each error name the service can be told to answer with (an injected fault); others 400.
ERROR_STATUS: dict[str, int] = {
    "ThrottlingException": 400,
    "TooManyRequestsException": 429,
    "InternalServerError": 500,
    "ServiceUnavailableException": 503,
    "InvalidInputException": 400,
    "ResourceNotFoundException": 404,
    "ResourceInUseException": 409,
}
#: The error name an injected fault with a status but no error name answers with.
STATUS_ERROR: dict[int, str] = {
    400: "InvalidInputException",
    404: "ResourceNotFoundException",
    409: "ResourceInUseException",
    429: "TooManyRequestsException",
    500: "InternalServerError",
    503: "ServiceUnavailableException",
}


class ApiError(Exception):
    """An error answer: ``code`` goes to ``X-Amzn-ErrorType``, ``status`` to the HTTP status and ``message``
    to the JSON body ``{"message": ...}``, so botocore's ``ClientError`` carries the real error name."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message

    def body(self) -> dict[str, str]:
        """The JSON body of the answer."""
        return {"message": self.message}


class InvalidInputException(ApiError):
    """A request that breaks a constraint of the service model, or a rule of the service."""

    def __init__(self, message: str) -> None:
        super().__init__("InvalidInputException", 400, message)


class ResourceNotFoundException(ApiError):
    """An unknown trackingId, campaign, recommender, filter or dataset."""

    def __init__(self, message: str) -> None:
        super().__init__("ResourceNotFoundException", 404, message)


class SerializationException(ApiError):
    """A request body that is not a JSON object."""

    def __init__(self, message: str) -> None:
        super().__init__("SerializationException", 400, message)


class UnknownOperationException(ApiError):
    """A method and path that are none of the operations served."""

    def __init__(self, message: str) -> None:
        super().__init__("UnknownOperationException", 404, message)


class ThrottlingException(ApiError):
    """A request over a rate quota (``local_stack.personalize.limits``): HTTP 400, "Rate exceeded", the name
    also as ``__type`` in the body, as the AWS JSON protocols answer throttling."""

    def __init__(self) -> None:
        super().__init__("ThrottlingException", 400, "Rate exceeded")

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": self.message}

"""Amazon Personalize as the tests see it: the real adapters' boto3 clients answered by botocore's Stubber."""

from __future__ import annotations

import copy
from typing import Any

from botocore.stub import Stubber


class StubbedClient:
    """A real boto3 client answered by a Stubber; every call's parameters are recorded."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.stubber = Stubber(client)
        self.requests: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("provide-client-params", self._record, unique_id="statemachine-record")
        self.stubber.activate()

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.requests.append((model.name, copy.deepcopy(params)))

    def respond(self, method: str, response: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
        self.stubber.add_response(method, response, expected)

    def fail(self, method: str, code: str, status: int, times: int = 1) -> None:
        for _ in range(times):
            self.stubber.add_client_error(method, service_error_code=code, http_status_code=status)

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [params for name, params in self.requests if name == operation]

    def close(self) -> None:
        self.stubber.deactivate()
        self.client.meta.events.unregister("provide-client-params", unique_id="statemachine-record")

"""Request validation with the error names and message style of the real service."""

from __future__ import annotations

import json
import re
from typing import Any

#: ``Arn`` shape of both service models.
ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):personalize:.*:.*:.+")
_ATTRIBUTION = re.compile(r"^[\x20-\x7E]*[\x21-\x7E]+[\x20-\x7E]*$")
FILTER_KEY = re.compile(r"[A-Za-z0-9_]+")
CONTEXT_KEY = re.compile(r"[A-Za-z\d_]+")


class ApiError(Exception):
    """An error answer: ``code`` goes to ``X-Amzn-ErrorType``, ``message`` to the JSON body."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message


def invalid_input(message: str) -> ApiError:
    """InvalidInputException (400)."""
    return ApiError("InvalidInputException", 400, message)


def not_found(message: str) -> ApiError:
    """ResourceNotFoundException (404)."""
    return ApiError("ResourceNotFoundException", 404, message)


class Checks:
    """Collects constraint violations as AWS words them, then raises one InvalidInputException."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, constraint: str, *, null: bool = False) -> None:
        """Record one violation."""
        value = "Value null" if null else "Value"
        self.errors.append(f"{value} at '{path}' failed to satisfy constraint: {constraint}")

    def raise_if_any(self) -> None:
        """InvalidInputException listing every violation, if there is one."""
        if self.errors:
            count = len(self.errors)
            noun = "error" if count == 1 else "errors"
            raise invalid_input(f"{count} validation {noun} detected: " + "; ".join(self.errors))

    def _present(self, body: dict[str, Any], key: str, path: str, required: bool) -> bool:
        if body.get(key) is None:
            if required:
                self.fail(path, "Member must not be null", null=True)
            return False
        return True

    def string(
        self,
        body: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        required: bool = False,
        min_len: int = 1,
        max_len: int = 256,
        pattern: re.Pattern[str] | None = None,
    ) -> str | None:
        """A string member with length (and pattern) constraints; None when absent or invalid."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if not isinstance(value, str):
            self.fail(path, "Member must be a string")
            return None
        ok = self.length(path, len(value), min_len, max_len)
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(path, f"Member must satisfy regular expression pattern: {pattern.pattern}")
            ok = False
        return value if ok else None

    def length(self, path: str, size: int, min_len: int | None, max_len: int | None) -> bool:
        """Length bounds of a string, list or map."""
        if min_len is not None and size < min_len:
            self.fail(path, f"Member must have length greater than or equal to {min_len}")
            return False
        if max_len is not None and size > max_len:
            self.fail(path, f"Member must have length less than or equal to {max_len}")
            return False
        return True

    def number(
        self, body: dict[str, Any], key: str, path: str | None = None, *, required: bool = False
    ) -> float | None:
        """A JSON number member."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, "Member must be a number")
            return None
        return float(value)

    def integer(
        self, body: dict[str, Any], key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer member within bounds."""
        if not self._present(body, key, key, False):
            return None
        value = body[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, "Member must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.fail(key, f"Member must have value greater than or equal to {minimum}")
            return None
        if maximum is not None and value > maximum:
            self.fail(key, f"Member must have value less than or equal to {maximum}")
            return None
        return value

    def array(
        self,
        body: dict[str, Any],
        key: str,
        path: str | None = None,
        *,
        required: bool = False,
        min_len: int | None = 1,
        max_len: int | None = None,
    ) -> list[Any] | None:
        """A JSON array member with length bounds."""
        path = path or key
        if not self._present(body, key, path, required):
            return None
        value = body[key]
        if not isinstance(value, list):
            self.fail(path, "Member must be a list")
            return None
        return value if self.length(path, len(value), min_len, max_len) else None

    def mapping(
        self,
        body: dict[str, Any],
        key: str,
        *,
        max_len: int | None = None,
        key_pattern: re.Pattern[str] | None = None,
        key_max: int | None = None,
        value_max: int | None = None,
    ) -> dict[str, Any] | None:
        """A JSON object member of strings with bounds on size, keys and values."""
        if not self._present(body, key, key, False):
            return None
        value = body[key]
        if not isinstance(value, dict):
            self.fail(key, "Member must be a map")
            return None
        ok = self.length(key, len(value), None, max_len)
        for name, item in value.items():
            if key_pattern is not None and not key_pattern.fullmatch(name):
                self.fail(
                    f"{key}.{name}", f"Map key must satisfy regular expression pattern: {key_pattern.pattern}"
                )
                ok = False
            if key_max is not None and len(name) > key_max:
                self.fail(f"{key}.{name}", f"Map key must have length less than or equal to {key_max}")
                ok = False
            if value_max is not None and (not isinstance(item, str) or len(item) > value_max):
                self.fail(
                    f"{key}.{name}", f"Map value must be a string of length less than or equal to {value_max}"
                )
                ok = False
        return value if ok else None

    def json_object(
        self, body: dict[str, Any], key: str, path: str, *, max_len: int
    ) -> dict[str, Any] | None:
        """A string member that must hold a JSON object (``properties``)."""
        text = self.string(body, key, path, max_len=max_len)
        if text is None:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            self.fail(path, f"Member must be a valid JSON object string ({error.msg})")
            return None
        if not isinstance(parsed, dict):
            self.fail(path, "Member must be a valid JSON object string")
            return None
        return parsed


def attribution_source(checks: Checks, event: dict[str, Any], path: str) -> str | None:
    """``metricAttribution.eventAttributionSource`` of an event."""
    attribution = event.get("metricAttribution")
    if attribution is None:
        return None
    if not isinstance(attribution, dict):
        checks.fail(path, "Member must be a structure")
        return None
    return checks.string(
        attribution,
        "eventAttributionSource",
        f"{path}.eventAttributionSource",
        required=True,
        max_len=1024,
        min_len=0,
        pattern=_ATTRIBUTION,
    )

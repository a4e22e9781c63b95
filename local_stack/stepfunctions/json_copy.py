"""``copy.deepcopy`` for JSON data, several times faster: what moto's interpreter copies execution data with
while the engine's speed-ups are on (:mod:`local_stack.stepfunctions.moto_patches`)."""

from __future__ import annotations

import copy
import io
import pickle
from typing import Any

_ATOMS = (str, int, float, bool, type(None))


class _JsonOnlyPickler(pickle.Pickler):
    """Pickles exact dicts, lists and JSON scalars (which the C pickler handles itself); refuses the rest."""

    def reducer_override(self, obj: Any) -> Any:
        raise _NotJson


class _NotJson(Exception):
    pass


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy``, several times faster on JSON data: the same result, shared sub-objects included.

    A tree of exact dicts, lists and JSON scalars is copied by a pickle round trip (C code that keeps
    shared sub-objects shared, as deepcopy does); otherwise exact dicts and lists are walked here and
    anything else (tuples, enums, datetimes, moto's own objects) goes to ``copy.deepcopy`` with the memo.
    """
    kind = type(value)
    if kind in _ATOMS:
        return value
    if memo is None:
        if kind is dict or kind is list:
            buffer = io.BytesIO()
            try:
                _JsonOnlyPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
            except (_NotJson, pickle.PicklingError, RecursionError):
                pass
            else:
                return pickle.loads(buffer.getvalue())  # noqa: S301 - bytes this function just made
        memo = {}
    copied = memo.get(id(value))
    if copied is not None:
        return copied
    if kind is dict:
        copied = memo[id(value)] = {}
        for key, item in value.items():
            copied[key if type(key) is str else copy.deepcopy(key, memo)] = (
                item if type(item) in _ATOMS else json_deepcopy(item, memo)
            )
        return copied
    if kind is list:
        copied = memo[id(value)] = []
        copied.extend(item if type(item) in _ATOMS else json_deepcopy(item, memo) for item in value)
        return copied
    return copy.deepcopy(value, memo)

"""Amazon Personalize filter expressions and filterValues.

Supported (the subset of the real grammar that item filters use)::

    INCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)
    EXCLUDE ItemID WHERE Items.CATEGORY IN ("shoes", "bags")
    EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("Order Completed")
    INCLUDE ItemID WHERE Items.PRICE < 50 AND Items.CATEGORY NOT IN ("bags") | EXCLUDE ItemID WHERE ...

Fields are ``Items.<COLUMN>`` (``Items.ITEM_ID`` is the item id) and ``Interactions.EVENT_TYPE``. Operators:
``IN``, ``NOT IN``, ``=``, ``<``, ``<=``, ``>``, ``>=``; ``AND`` binds tighter than ``OR``; ``|`` separates
expressions, all of which apply (an item must match every INCLUDE and no EXCLUDE). A categorical value such as
``"Action|Comedy"`` matches each of its ``|``-separated values. Values are double-quoted strings, numbers or
``$PARAMETERS`` whose values come from filterValues as a quoted, comma-separated list (``"\\"a\\",\\"b\\""``).
As Personalize documents, an INCLUDE expression needs every one of its parameters, while an EXCLUDE
expression whose parameter has no value is left out. Anything else (``IF CurrentUser...``, ``Users.``,
``Actions``) is a :class:`FilterSyntaxError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<param>\$[A-Za-z0-9_]+)
      | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
      | (?P<op><=|>=|=|<|>)
      | (?P<punct>[(),|])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
    )""",
    re.VERBOSE,
)
_VALUE = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]+?))\s*(?:,|$)')
_COMPARISONS = {"=", "<", "<=", ">", ">="}


class FilterSyntaxError(ValueError):
    """The filter expression is not one this service (or Personalize) understands."""


class FilterValuesError(ValueError):
    """filterValues are missing or malformed for the filter's parameters."""


@dataclass(frozen=True)
class Param:
    """A ``$NAME`` placeholder."""

    name: str


Operand = str | float | Param


@dataclass(frozen=True)
class Condition:
    """``<dataset>.<field> <op> <operands>``."""

    dataset: str  # "Items" or "Interactions"
    field: str  # upper case
    op: str  # IN, NOT IN, =, <, <=, >, >=
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class Expression:
    """One INCLUDE/EXCLUDE expression: an OR of ANDs of conditions."""

    action: str
    any_of: tuple[tuple[Condition, ...], ...]

    @property
    def params(self) -> frozenset[str]:
        """Names of the parameters the expression uses."""
        return frozenset(
            o.name for group in self.any_of for c in group for o in c.operands if isinstance(o, Param)
        )


@dataclass(frozen=True)
class FilterExpression:
    """A parsed filter: expressions joined by ``|``."""

    text: str
    expressions: tuple[Expression, ...]

    @property
    def params(self) -> frozenset[str]:
        """Names of every parameter of the filter."""
        return frozenset().union(*(e.params for e in self.expressions))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            rest = text[position:].lstrip()
            hint = " (strings take double quotes)" if rest.startswith("'") else ""
            raise FilterSyntaxError(f"unexpected {rest[:20]!r} at position {position}{hint}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterSyntaxError(f"expression ends where {what} was expected")
        self.at += 1
        return token

    def keyword(self, *words: str) -> str:
        kind, value = self.next(" or ".join(words))
        if kind != "word" or value.upper() not in words:
            raise FilterSyntaxError(f"expected {' or '.join(words)}, found {value!r}")
        return value.upper()

    def is_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].upper() == word

    def expression(self) -> Expression:
        action = self.keyword("INCLUDE", "EXCLUDE")
        kind, value = self.next("ItemID")
        if value.upper() != "ITEMID":
            raise FilterSyntaxError(
                f"only item filters are supported (INCLUDE/EXCLUDE ItemID), found {value!r}"
            )
        self.keyword("WHERE")
        any_of = [[self.condition()]]
        while self.peek() is not None and self.peek() != ("punct", "|"):
            joint = self.keyword("AND", "OR", "IF")
            if joint == "IF":
                raise FilterSyntaxError("IF CurrentUser conditions are not supported by the local service")
            if joint == "OR":
                any_of.append([])
            any_of[-1].append(self.condition())
        return Expression(action, tuple(tuple(group) for group in any_of))

    def condition(self) -> Condition:
        kind, field = self.next("a field such as Items.CATEGORY")
        dataset, _, name = field.partition(".")
        if kind != "word" or not name:
            raise FilterSyntaxError(f"expected a field such as Items.CATEGORY, found {field!r}")
        dataset = dataset.capitalize()
        name = name.upper()
        if dataset not in ("Items", "Interactions"):
            raise FilterSyntaxError(
                f"field {field!r}: only Items.<COLUMN> and Interactions.EVENT_TYPE are supported"
            )
        if dataset == "Interactions" and name != "EVENT_TYPE":
            raise FilterSyntaxError(f"field {field!r}: only Interactions.EVENT_TYPE is supported")
        op = self.operator()
        if dataset == "Interactions" and op not in ("IN", "NOT IN", "="):
            raise FilterSyntaxError("Interactions.EVENT_TYPE takes IN, NOT IN or =")
        operands = self.operand_list() if op in ("IN", "NOT IN") else (self.operand(),)
        return Condition(dataset, name, op, operands)

    def operator(self) -> str:
        kind, value = self.next("an operator")
        if kind == "op":
            return value
        if kind == "word" and value.upper() == "IN":
            return "IN"
        if kind == "word" and value.upper() == "NOT":
            self.keyword("IN")
            return "NOT IN"
        raise FilterSyntaxError(f"expected IN, NOT IN, =, <, <=, > or >=, found {value!r}")

    def operand_list(self) -> tuple[Operand, ...]:
        kind, value = self.next("(")
        if value != "(":
            raise FilterSyntaxError(f"expected '(' after IN, found {value!r}")
        operands = [self.operand()]
        while True:
            kind, value = self.next("',' or ')'")
            if value == ")":
                return tuple(operands)
            if value != ",":
                raise FilterSyntaxError(f"expected ',' or ')', found {value!r}")
            operands.append(self.operand())

    def operand(self) -> Operand:
        kind, value = self.next("a value")
        if kind == "string":
            return _unescape(value[1:-1])
        if kind == "number":
            return float(value)
        if kind == "param":
            return Param(value[1:])
        raise FilterSyntaxError(f'expected a "string", a number or a $PARAMETER, found {value!r}')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_filter_expression(text: str) -> FilterExpression:
    """Parse a filter expression; :class:`FilterSyntaxError` names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise FilterSyntaxError("the filter expression is empty")
    tokens = _tokens(text)
    expressions: list[Expression] = []
    parser = _Parser(tokens)
    while True:
        expressions.append(parser.expression())
        token = parser.peek()
        if token is None:
            break
        parser.next("|")  # the loop in expression() stops only at '|'
    return FilterExpression(text, tuple(expressions))


def parse_filter_values(values: Mapping[str, str]) -> dict[str, list[str]]:
    """``{"CATEGORY": '"shoes","bags"'}`` -> ``{"CATEGORY": ["shoes", "bags"]}``."""
    parsed: dict[str, list[str]] = {}
    for name, raw in values.items():
        if not isinstance(raw, str) or not raw.strip():
            raise FilterValuesError(f"filterValues[{name!r}] must be a non-empty string")
        found: list[str] = []
        position = 0
        while position < len(raw):
            match = _VALUE.match(raw, position)
            if not match or match.end() == position:
                raise FilterValuesError(
                    f'filterValues[{name!r}] must be a comma-separated list of "quoted" values, got {raw!r}'
                )
            quoted, bare = match.groups()
            found.append(_unescape(quoted) if quoted is not None else bare)
            position = match.end()
        parsed[name] = found
    return parsed


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _equal(a: object, b: object) -> bool:
    x, y = _as_number(a), _as_number(b)
    if x is not None and y is not None:
        return x == y
    return str(a) == str(b)


def _item_values(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        return value.split("|")
    return [value]


def _compare(op: str, left: object, right: object) -> bool:
    if op == "=":
        return _equal(left, right)
    x, y = _as_number(left), _as_number(right)
    if x is None or y is None:
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]


def build_item_filter(
    expression: FilterExpression,
    filter_values: Mapping[str, str] | None,
    metadata: Callable[[str], Mapping[str, object] | None],
    event_types: Mapping[str, set[str]],
) -> Callable[[str], bool]:
    """A predicate item_id -> keep? for one request.

    ``metadata(item_id)`` gives the item's columns keyed in upper case; ``event_types`` maps each item the
    user interacted with to the event types of those interactions.
    """
    values = parse_filter_values(filter_values or {})
    active: list[Expression] = []
    for expr in expression.expressions:
        missing = sorted(expr.params - values.keys())
        if missing and expr.action == "INCLUDE":
            raise FilterValuesError(
                "filterValues must give a value for every parameter of an INCLUDE expression; missing: "
                + ", ".join(missing)
            )
        if not missing:
            active.append(expr)

    def resolve(operands: tuple[Operand, ...]) -> list[object]:
        resolved: list[object] = []
        for operand in operands:
            resolved.extend(values[operand.name] if isinstance(operand, Param) else [operand])
        return resolved

    def holds(condition: Condition, item_id: str) -> bool:
        wanted = resolve(condition.operands)
        if condition.dataset == "Interactions":
            had = event_types.get(item_id, set())
            matching = {t for t in had if any(_equal(t, w) for w in wanted)}
            return bool(had - matching) if condition.op == "NOT IN" else bool(matching)
        if condition.field == "ITEM_ID":
            actual: list[Any] = [item_id]
        else:
            actual = _item_values((metadata(item_id) or {}).get(condition.field))
        if not actual:
            return False
        if condition.op in ("IN", "NOT IN"):
            found = any(_equal(a, w) for a in actual for w in wanted)
            return found if condition.op == "IN" else not found
        return any(_compare(condition.op, a, wanted[0]) for a in actual)

    def matches(expr: Expression, item_id: str) -> bool:
        return any(all(holds(c, item_id) for c in group) for group in expr.any_of)

    def keep(item_id: str) -> bool:
        return all(matches(expr, item_id) == (expr.action == "INCLUDE") for expr in active)

    return keep

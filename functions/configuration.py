"""The README's configuration table, from the settings models: ``python -m functions.configuration``.

A development helper, not deployed (``functions/`` is not; each function's package is its own folder): it
prints the block between the ``GENERATED CONFIG`` markers of README.md, and a test keeps the two in step.
"""

from __future__ import annotations

from segment_personalize.config import (
    ALL_SETTINGS,
    DEFAULT_FILTER_RULES,
    DEFAULT_INTERACTION_EVENTS,
    DEFAULT_ITEM_ID_PATHS,
)


def markdown_table() -> str:
    """The configuration table for the README: every setting, its default and its meaning."""
    rows = ["| Variable | Used by | Default | Meaning |", "|---|---|---|---|"]
    seen: dict[str, list[str]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for function, model in ALL_SETTINGS.items():
        for name, field in model.model_fields.items():
            alias = field.alias or name
            seen.setdefault(alias, []).append(function)
            if field.is_required():
                default = "*required*"
            elif field.default_factory is not None:
                default = {
                    "INTERACTION_EVENTS": DEFAULT_INTERACTION_EVENTS,
                    "ITEM_ID_PATHS": DEFAULT_ITEM_ID_PATHS,
                    "FILTER_RULES": DEFAULT_FILTER_RULES,
                }.get(alias, "")
                default = f"`{default}`" if default else "empty"
            elif field.default is None:
                default = "unset"
            else:
                default = (
                    f"`{str(field.default).lower() if isinstance(field.default, bool) else field.default}`"
                )
            meta.setdefault(alias, (default, field.description or ""))
    for alias, functions in seen.items():
        default, description = meta[alias]
        rows.append(f"| `{alias}` | {', '.join(functions)} | {default} | {description} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - documentation helper
    print(markdown_table())

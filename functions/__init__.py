"""One folder per Lambda function; the shared layer lives in functions/shared.

:data:`FUNCTIONS` is the one list of the project's functions. Everything that names a function derives the
name from it: the template's logical ids (:func:`logical_id`), the ASL placeholders of the step functions
(:func:`placeholder`), the local stack's function names, the settings models (a test checks
``segment_personalize.config.ALL_SETTINGS`` against it). This package is not deployed (each function's
``CodeUri`` is its own folder), so the functions never import it. It also holds the generator of the
README's configuration table (:mod:`functions.configuration`).
"""

from __future__ import annotations

#: Every function: the entry function Segment invokes, then the five steps in workflow order.
FUNCTIONS: tuple[str, ...] = ("entry", "validate", "track", "recommend", "filter_traits", "sync_profile")
#: The functions the state machine invokes, in workflow order.
STEPS: tuple[str, ...] = FUNCTIONS[1:]


def camel(function: str) -> str:
    """``filter_traits`` -> ``FilterTraits``: the function's name in the template and the ASL."""
    return "".join(part.capitalize() for part in function.split("_"))


def logical_id(function: str) -> str:
    """The function's logical id in ``iac/template.yaml``: ``FilterTraitsFunction``."""
    return f"{camel(function)}Function"


def placeholder(function: str) -> str:
    """The ASL placeholder of a step function's ARN: ``FilterTraitsFunctionArn``."""
    return f"{logical_id(function)}Arn"

"""The template configures the functions as ``segment_personalize.config`` reads them: each function gets
exactly its settings (secrets by ARN), parameter defaults are config.py's, Powertools names are
observability.py's, and the Rules refuse at deploy time what config.py would refuse at cold start."""

from __future__ import annotations

from typing import Any

import pytest

from iac.template import (
    BASE_PARAMETERS,
    EXTRA_ENV,
    FULL_PARAMETERS,
    FUNCTIONS,
    GLOBAL_ENV,
    PARAMETER_SETS,
    SECRET_SETTINGS,
    CheckFailed,
    Resolved,
    Validation,
    require,
    rules_broken,
)
from segment_personalize import config, observability
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac


# --- environment == settings


def expected_environment(function: str) -> set[str]:
    """The variables a function's settings model reads, secrets by ARN, plus its documented extras."""
    model = config.ALL_SETTINGS[function]
    aliases = {field.alias or name for name, field in model.model_fields.items()}
    return {alias for alias in aliases if alias not in SECRET_SETTINGS} | EXTRA_ENV.get(function, set())


def _check_secrets_by_arn(label: str, resolved: Resolved, function: str, variables: dict[str, Any]) -> None:
    for plain, by_arn in SECRET_SETTINGS.items():
        require(plain not in variables, f"{label}: {function} gets the secret {plain} as a plain value")
        if by_arn in variables and variables[by_arn] != "":
            ref = variables[by_arn]
            require(
                isinstance(ref, dict)
                and resolved.resources.get(ref.get("Ref", ""), {}).get("Type")
                == "AWS::SecretsManager::Secret",
                f"{label}: {function}'s {by_arn} is {ref!r}, not a secret of this stack",
            )


def check_environment_matches_settings(v: Validation) -> None:
    """Every function gets exactly the variables its settings model reads, required ones not empty,
    secrets by ARN."""
    require(
        set(config.ALL_SETTINGS) == set(FUNCTIONS),
        f"config.py has settings for {sorted(config.ALL_SETTINGS)}",
    )
    for label, resolved in v.all_resolved().items():
        for function, logical_id in FUNCTIONS.items():
            variables = resolved.properties(logical_id).get("Environment", {}).get("Variables", {})
            missing = GLOBAL_ENV - set(variables)
            require(not missing, f"{label}: {logical_id} lacks {sorted(missing)} (Globals)")
            names = set(variables) - GLOBAL_ENV
            expected = expected_environment(function)
            require(
                names == expected,
                f"{label}: {function} gets {sorted(names - expected)} it does not read, "
                f"lacks {sorted(expected - names)}",
            )
            for name, field in config.ALL_SETTINGS[function].model_fields.items():
                alias = field.alias or name
                if field.is_required() and alias in variables:
                    require(variables[alias] != "", f"{label}: required {alias} of {function} is empty")
            _check_secrets_by_arn(label, resolved, function, variables)


def test_each_function_gets_exactly_its_settings(validation: Validation) -> None:
    check_environment_matches_settings(validation)
    variables = validation.resolved("full").properties("SyncProfileFunction")["Environment"]["Variables"]
    assert "SEGMENT_WRITE_KEY" not in variables
    assert variables["SEGMENT_WRITE_KEY_SECRET_ARN"] == {"Ref": "SegmentWriteKeySecret"}
    entry = validation.resolved("base").properties("EntryFunction")["Environment"]["Variables"]
    assert set(entry) - GLOBAL_ENV == {
        "STATE_MACHINE_ARN",
        "DEAD_LETTER_QUEUE_URL",
        "INTERACTION_EVENTS",
        "START_EVERY_MESSAGE",
    }
    # Validate's list, from the same parameter
    raw = {name: props(validation.template, name)["Environment"]["Variables"] for name in FUNCTIONS.values()}
    assert raw["EntryFunction"]["INTERACTION_EVENTS"] == raw["ValidateFunction"]["INTERACTION_EVENTS"]
    assert raw["EntryFunction"]["INTERACTION_EVENTS"] == {"Ref": "InteractionEvents"}


def test_a_missing_setting_is_refused() -> None:
    def drop(t: dict[str, Any]) -> None:
        del props(t, "RecommendFunction")["Environment"]["Variables"]["RECOMMENDATION_COUNT"]

    with pytest.raises(
        CheckFailed, match=r"recommend gets \[\] it does not read, lacks \['RECOMMENDATION_COUNT'\]"
    ):
        check_environment_matches_settings(modified(drop))


def test_a_plain_secret_is_refused() -> None:
    def plain(t: dict[str, Any]) -> None:
        variables = props(t, "SyncProfileFunction")["Environment"]["Variables"]
        del variables["SEGMENT_WRITE_KEY_SECRET_ARN"]
        variables["SEGMENT_WRITE_KEY"] = {"Ref": "SegmentWriteKey"}

    with pytest.raises(CheckFailed, match="SEGMENT_WRITE_KEY"):
        check_environment_matches_settings(modified(plain))


# --- parameter defaults == config.py


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_parameter_defaults_match_config(v: Validation) -> None:
    """A parameter's default is the setting's default in config.py, so the docs describe both."""
    pairs = {
        "InteractionEvents": config.DEFAULT_INTERACTION_EVENTS,
        "ItemIdPaths": config.DEFAULT_ITEM_ID_PATHS,
        "FilterRules": config.DEFAULT_FILTER_RULES,
    }
    fields = {(f.alias or n): f for m in config.ALL_SETTINGS.values() for n, f in m.model_fields.items()}
    by_env = {
        "SegmentHost": "SEGMENT_HOST",
        "SegmentTimeout": "SEGMENT_TIMEOUT",
        "PersonalizeTimeout": "PERSONALIZE_TIMEOUT",
        "RecommendationTrait": "RECOMMENDATION_TRAIT",
        "SegmentProfileApiUrl": "SEGMENT_PROFILE_API_URL",
        "SegmentProfileApiTimeout": "SEGMENT_PROFILE_API_TIMEOUT",
        "RecommendationCount": "RECOMMENDATION_COUNT",
        "RecommendForAnonymous": "RECOMMEND_FOR_ANONYMOUS",
    }
    parameters = v.template["Parameters"]
    for parameter, default in pairs.items():
        require(
            str(parameters[parameter].get("Default")) == default,
            f"{parameter} defaults to {parameters[parameter].get('Default')!r}, config.py to {default!r}",
        )
    for parameter, alias in by_env.items():
        default = fields[alias].default
        as_text = str(default).lower() if isinstance(default, bool) else str(default)
        ours = str(parameters[parameter].get("Default"))
        require(
            ours == as_text or (_is_number(ours) and _is_number(as_text) and float(ours) == float(as_text)),
            f"{parameter} defaults to {ours!r}, config.py's {alias} to {as_text!r}",
        )


def test_parameter_defaults_are_config_defaults(validation: Validation) -> None:
    check_parameter_defaults_match_config(validation)


def test_a_drifted_default_is_refused() -> None:
    def drift(t: dict[str, Any]) -> None:
        t["Parameters"]["RecommendationCount"]["Default"] = 12

    with pytest.raises(CheckFailed, match="RecommendationCount"):
        check_parameter_defaults_match_config(modified(drift))


# --- Powertools names, Rules


def test_powertools_names_match_observability(validation: Validation) -> None:
    variables = validation.template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables.get("POWERTOOLS_SERVICE_NAME") == observability.SERVICE, variables
    assert variables.get("POWERTOOLS_METRICS_NAMESPACE") == observability.NAMESPACE, variables
    assert (observability.SERVICE, observability.NAMESPACE) == ("segment-personalize", "SegmentPersonalize")


def test_rules_refuse_settings_config_would_refuse(validation: Validation) -> None:
    for name, parameters in PARAMETER_SETS.items():
        broken = rules_broken(validation.template, parameters)
        assert not broken, f"{name}: the parameter set breaks the rules {broken}"
    campaign, recommender = (
        BASE_PARAMETERS["PersonalizeCampaignArn"],
        FULL_PARAMETERS["PersonalizeRecommenderArn"],
    )
    bad = {
        "OneRecommendationSource": [
            {"PersonalizeCampaignArn": campaign, "PersonalizeRecommenderArn": recommender},
            {"PersonalizeCampaignArn": "", "PersonalizeRecommenderArn": ""},
        ],
        "FilterValuesNeedFilter": [{"PersonalizeFilterValues": '{"A": ["b"]}', "PersonalizeFilterArn": ""}],
        "ProfileApiNeedsToken": [{"SegmentSpaceId": "spa_x", "SegmentProfileToken": ""}],
    }
    for rule, cases in bad.items():
        for case in cases:
            broken = rules_broken(validation.template, {**BASE_PARAMETERS, **case})
            assert broken == [rule], f"{case} should break only {rule}, breaks {broken}"
    both = {**BASE_PARAMETERS, "PersonalizeRecommenderArn": FULL_PARAMETERS["PersonalizeRecommenderArn"]}
    assert rules_broken(validation.template, both) == ["OneRecommendationSource"]

"""The docs say what the code does: the configuration table (docs/configuration.md) is generated from the
settings models, and the README opens with the two set-up commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.configuration import markdown_table
from segment_personalize.config import ALL_SETTINGS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
BEGIN = "<!-- BEGIN GENERATED CONFIG: python -m functions.configuration -->"
END = "<!-- END GENERATED CONFIG -->"


def test_the_documented_configuration_table_is_the_generated_one() -> None:
    text = CONFIGURATION_DOC.read_text(encoding="utf-8")
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert table == markdown_table(), (
        "run `python -m functions.configuration` and paste it into docs/configuration.md"
    )


def test_every_setting_of_every_function_is_in_the_table() -> None:
    table = markdown_table()
    for model in ALL_SETTINGS.values():
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in table


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Two commands") :].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]

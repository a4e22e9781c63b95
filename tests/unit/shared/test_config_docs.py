"""The README says what the code does: its configuration table is generated from the settings models."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions.configuration import markdown_table
from segment_personalize.config import ALL_SETTINGS

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[3] / "README.md"
BEGIN = "<!-- BEGIN GENERATED CONFIG: python -m functions.configuration -->"
END = "<!-- END GENERATED CONFIG -->"


def test_the_readme_configuration_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()
    assert table == markdown_table(), "run `python -m functions.configuration` and paste it into README.md"


def test_every_setting_of_every_function_is_in_the_table() -> None:
    table = markdown_table()
    for model in ALL_SETTINGS.values():
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in table


def test_the_readme_opens_with_the_two_set_up_commands() -> None:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Two commands") :].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in block.strip().splitlines()] == ["make run", "make test"]

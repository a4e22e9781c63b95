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


#: Folders that are not the project's: tools' caches and build output.
NOT_PROJECT_FOLDERS = {".git", ".venv", ".data", ".aws-sam", ".hypothesis", "__pycache__", "build", "dist"}


def readme_tree() -> set[str]:
    """The folders the README's Development section lists, as paths (``local_stack/segment``): one line a
    folder, two spaces of indent per level; a line not starting with a folder continues a description."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Development") :]
    start = section.index("```text\n") + len("```text\n")
    block = section[start : section.index("```\n", start)]
    listed: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        name = line.strip().split(" ", 1)[0]
        if not name.endswith("/"):
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        parents[depth:] = [name.rstrip("/")]
        listed.add("/".join(parents))
    return listed


def real_tree() -> set[str]:
    """Every folder of the repository that holds a file of the project."""
    found = set()
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT)
        if (
            path.is_dir()
            and not (set(relative.parts) & NOT_PROJECT_FOLDERS)
            and not any(
                part.endswith((".egg-info", "_cache")) or part.startswith(".pytest")
                for part in relative.parts
            )
        ):
            found.add(relative.as_posix())
    return found


def test_the_readme_folder_list_is_the_real_tree() -> None:
    assert readme_tree() == real_tree()

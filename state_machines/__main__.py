"""Generate and check the committed ASL file; print its Mermaid diagram.

python -m state_machines [generate]   write segment_personalize.asl.json and the diagram in docs/workflow.md
                                      and README.md
python -m state_machines --check      exit 1 when either committed file differs from the generator's output
python -m state_machines mermaid      print the Mermaid flowchart of the committed ASL file
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from state_machines import ASL_PATH, load_definition
from state_machines.diagram import mermaid, replace_block

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_DOC = ROOT / "docs" / "workflow.md"
#: Documents that show the generated diagram between its markers.
DIAGRAM_DOCS = (WORKFLOW_DOC, ROOT / "README.md")


def expected_files(asl_path: Path = ASL_PATH, doc_paths: Sequence[Path] = DIAGRAM_DOCS) -> dict[Path, str]:
    """Each generated file and the text the generator gives it."""
    import json

    from state_machines.workflow import render  # imports the SDK: only when generating or checking

    text = render()
    files = {asl_path: text}
    for doc_path in doc_paths:
        if doc_path.exists():
            files[doc_path] = replace_block(doc_path.read_text(encoding="utf-8"), json.loads(text))
    return files


def stale_files(asl_path: Path = ASL_PATH, doc_paths: Sequence[Path] = DIAGRAM_DOCS) -> list[Path]:
    """The generated files whose committed text differs from the generator's output."""
    return [
        path
        for path, text in expected_files(asl_path, doc_paths).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m state_machines", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="generate", choices=("generate", "check", "mermaid"))
    parser.add_argument(
        "--check", action="store_true", help="check the committed files instead of writing them"
    )
    args = parser.parse_args(argv)

    if args.command == "mermaid":
        sys.stdout.write(mermaid(load_definition()))
        return 0
    if args.check or args.command == "check":
        stale = stale_files()
        for path in stale:
            print(f"{path} is out of date: run `make asl` (python -m state_machines)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected_files().items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The fit tables in README.md and docs/model-serving.md are the tool's output, regenerated here."""

from __future__ import annotations

import re

from stacks.config import load_config
from stacks.plan import ROOT, read_stack_file
from stacks.summary import serving_markdown, serving_summary_lines

SHIPPED = ("dev", "staging", "prod")


def _cfg(stack: str):  # type: ignore[no-untyped-def]
    stack_file = read_stack_file(stack)
    return load_config(stack_file.config_map, stack_file.source)


def _block(text: str, marker: str) -> list[str]:
    match = re.search(rf"<!-- {marker}[^>]*-->\n(.*?)<!-- /{marker} -->", text, re.S)
    assert match, f"missing <!-- {marker} --> block"
    return match.group(1).rstrip("\n").splitlines()


def test_readme_fit_table_is_the_tools_output() -> None:
    expected: list[str] = []
    for stack in SHIPPED:
        lines = serving_markdown(stack, _cfg(stack))
        expected.extend(lines if not expected else lines[2:])
    readme = (ROOT / "README.md").read_text()
    assert _block(readme, "fit-table") == expected, "regenerate: python -m stacks fit <stack> --markdown"
    header = expected[0]
    assert "tok/s" in header
    assert "USD / M tokens" in header


def test_model_serving_doc_shows_the_dev_fit_output() -> None:
    doc = (ROOT / "docs" / "model-serving.md").read_text()
    assert _block(doc, "fit-dev") == ["```", *serving_summary_lines(_cfg("dev")), "```"]

"""Targeted edits of a stack file's text: set ``models.<name>``, keep every other line as it is.

A stack file is written by people: comments, key order, quoting and blank lines carry meaning for the next
reader, and a YAML round trip (load, change, dump) loses them. So the edit works on lines:

* find the ``config:`` map and, in it, ``ai-platform:models:`` (or ``models:``), a block map; a missing key is
  added at the end of ``config:`` and an empty flow map (``{}``) becomes a block;
* replace the lines of ``models.<name>`` (up to the next key at its indent; comments and blank lines just
  before the next key stay with that key), or append the entry after the last model;
* render only the new entry with ``yaml.safe_dump`` at the indent the file already uses.

Every edit is checked: the edited text must parse to exactly the old document with ``models.<name>``
replaced. Any other difference (a layout this editor does not understand, such as flow-style maps) is
refused with a line saying so, never written. ``unified_diff`` gives the change as ``git diff`` would show
it; ``masked`` hides secret values (``secure:`` ciphertexts, the ``ai-platform-secrets`` namespace) for
display only.
"""

from __future__ import annotations

import copy
import difflib
import re
from typing import Any

import yaml

from components._common import PROJECT, SECRETS_NAMESPACE, ConfigError

MODELS_KEYS = (f"{PROJECT}:models", "models")
SECRET_PREFIX = f"{SECRETS_NAMESPACE}:"
_KEY_LINE = re.compile(
    r"^(?P<indent> *)(?!-\s)(?P<key>\"[^\"]*\"|'[^']*'|(?:[^\s:#\"']|:(?=\S))(?:[^:#]|:(?=\S))*?):(?P<rest>\s.*|)$"
)
"""A block-map key line: ``<indent><key>:<rest>``; plain keys may hold ':' not followed by a space
(``ai-platform:models``)."""
_SECURE = re.compile(r"^(?P<head>\s*(?:-\s+)?secure:\s*)(?P<value>\S.*?)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    """A line that carries YAML (not blank, not only a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _key(line: str) -> tuple[int, str, str] | None:
    match = _KEY_LINE.match(line.rstrip("\r\n"))
    if match is None:
        return None
    key = match["key"].strip()
    if key[:1] in "\"'" and key[-1:] == key[:1]:
        key = key[1:-1]
    return len(match["indent"]), key, match["rest"].strip()


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """Index after the last line of the block that opens at ``start`` (children indented more than ``indent``).

    Trailing blank lines and comments at or left of ``indent`` belong to whatever follows, not to the block.
    """
    end = start + 1
    last = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if _content(line) and _indent(line) <= indent:
            break
        end = i + 1
        if line.strip() and _indent(line) > indent:
            last = i + 1
    return min(end, last)


def _render(name: str, entry: dict[str, Any], indent: int, step: int, newline: str = "\n") -> list[str]:
    text = yaml.safe_dump(
        {name: entry}, sort_keys=False, default_flow_style=False, indent=step, width=1000, allow_unicode=True
    )
    return [(" " * indent + line).rstrip() + newline for line in text.splitlines()]


def set_model(text: str, name: str, entry: dict[str, Any], source: str) -> str:
    """``text`` with ``models.<name>`` set to ``entry``; everything else byte for byte as it was."""
    newline = "\r\n" if "\r\n" in text else "\n"  # the file's own line endings
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    config_at = next((i for i, line in enumerate(lines) if (k := _key(line)) and k[0] == 0 and k[1] == "config"), None)
    if config_at is None:
        raise ConfigError([f"{source}: expected a top-level 'config:' map (the page edits only that map)"])
    config_end = _block_end(lines, config_at, 0)
    children = [i for i in range(config_at + 1, config_end) if _content(lines[i])]
    child_indent = _indent(lines[children[0]]) if children else 2
    models_at = None
    for i in children:
        found = _key(lines[i])
        if found and found[0] == child_indent and found[1] in MODELS_KEYS:
            models_at = i
            break
    new_lines = list(lines)
    if models_at is None:
        block = [
            " " * child_indent + f"{MODELS_KEYS[0]}:{newline}",
            *_render(name, entry, child_indent + 2, 2, newline),
        ]
        new_lines[config_end:config_end] = block
    else:
        _, models_key, rest = _key(lines[models_at]) or (0, "", "")
        rest = rest.split("#", 1)[0].strip()
        if rest not in ("", "{}"):
            raise ConfigError(
                [
                    f"{source}: {models_key}: written as a flow map on one line (got {rest[:40]!r}); the page edits "
                    "block maps only. Fix: write models as an indented block, or edit the file by hand"
                ]
            )
        if rest == "{}":
            new_lines[models_at] = " " * child_indent + f"{models_key}:{newline}"
        models_end = _block_end(new_lines, models_at, child_indent)
        entries = [i for i in range(models_at + 1, models_end) if _content(new_lines[i])]
        entry_indent = _indent(new_lines[entries[0]]) if entries else child_indent + 2
        step = _field_step(new_lines, entries, entry_indent)
        rendered = _render(name, entry, entry_indent, step, newline)
        existing = None
        for i in entries:
            found = _key(new_lines[i])
            if found and found[0] == entry_indent and found[1] == name:
                existing = i
                break
        if existing is None:
            new_lines[models_end:models_end] = rendered
        else:
            new_lines[existing : _block_end(new_lines, existing, entry_indent)] = rendered
    new_text = "".join(new_lines)
    _check(text, new_text, name, entry, source)
    return new_text


def _field_step(lines: list[str], entries: list[int], entry_indent: int) -> int:
    """How far the file indents a model's fields under its name (2 in the shipped stacks)."""
    deeper = [_indent(lines[i]) - entry_indent for i in entries if _indent(lines[i]) > entry_indent]
    return min(deeper) if deeper else 2


def _check(old: str, new: str, name: str, entry: dict[str, Any], source: str) -> None:
    """The edited text must mean the old document with ``models.<name>`` replaced, nothing else."""
    try:
        before = yaml.safe_load(old) or {}
        after = yaml.safe_load(new) or {}
    except yaml.YAMLError:
        before, after = None, None
    expected = copy.deepcopy(before)
    if isinstance(expected, dict) and isinstance(expected.get("config"), dict):
        config = expected["config"]
        key = next((k for k in MODELS_KEYS if k in config), MODELS_KEYS[0])
        models = config.get(key) or {}
        if isinstance(models, dict):
            config[key] = {**models, name: entry}
    if after != expected:
        raise ConfigError(
            [
                f"{source}: {MODELS_KEYS[0]}.{name}: the page cannot edit this file's layout safely (the edited text "
                "would change more than this model). Fix: edit the file by hand, or write models as a block map"
            ]
        )


def masked(text: str) -> str:
    """``text`` with secret values replaced by ``[secret]`` (display only: never written)."""
    out = []
    in_secret = -1
    for line in text.splitlines(keepends=True):
        ending = "\n" if line.endswith("\n") else ""
        body = line.rstrip("\r\n")
        if in_secret >= 0 and _content(body) and _indent(body) <= in_secret:
            in_secret = -1
        found = _key(body)
        if found and found[1].startswith(SECRET_PREFIX):
            if found[2] and not found[2].startswith("#"):
                body = body[: body.index(":", body.index(found[1]) + len(found[1])) + 1] + " [secret]"
            else:
                in_secret = found[0]
        elif in_secret >= 0 and _content(body):
            nested = _key(body)
            if nested and nested[2]:
                body = body[: len(body) - len(body.lstrip())] + f"{nested[1]}: [secret]"
            elif not nested:
                body = body[: len(body) - len(body.lstrip())] + "[secret]"
        secure = _SECURE.match(body)
        if secure:
            body = secure["head"] + "[secret]"
        out.append(body + ending)
    return "".join(out)


def unified_diff(old: str, new: str, filename: str) -> str:
    """The change as ``git diff`` shows it, secret values masked."""
    return "".join(
        difflib.unified_diff(
            masked(old).splitlines(keepends=True),
            masked(new).splitlines(keepends=True),
            fromfile=f"a/{filename}",
            tofile=f"b/{filename}",
        )
    )


def existing_entry(text: str, name: str) -> dict[str, Any] | None:
    """``models.<name>`` as the stack file has it now (None when there is none)."""
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        return None
    models = next((config[k] for k in MODELS_KEYS if k in config), None)
    entry = models.get(name) if isinstance(models, dict) else None
    return dict(entry) if isinstance(entry, dict) else None

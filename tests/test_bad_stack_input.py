"""Bad stack input to ``python -m stacks plan``: exit 2, one line on stderr naming the file (and key), no traceback.

Issue 12: encodings, unreadable files, directories, deep nesting, alias bombs, YAML syntax errors, duplicate keys,
misspelled namespaces, unsafe stack names and an unwritable ``--json`` are all refused before the program runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stacks import plan as stack_plan
from stacks.__main__ import main
from stacks.plan import ROOT, read_stack_file

GOOD = "config:\n  ai-platform:owner: team\n"


def _bomb(namespace: str, levels: int = 9) -> str:
    lines = ["config:", f"  {namespace}:", "    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _deep_flow(levels: int) -> str:
    return "config:\n  ai-platform:tags: " + "[" * levels + "x" + "]" * levels + "\n"


def _deep_block(levels: int) -> str:
    lines = ["config:", "  ai-platform:tags:"]
    lines += [" " * (4 + 2 * i) + f"k{i}:" for i in range(levels)]
    return "\n".join(lines) + " x\n"


# (case id, stack file bytes or None for no file, extra argv builder, expected substrings on stderr)
Argv = Callable[[Path], list[str]]
FILE: Argv = lambda d: ["plan", "bad", "--config-file", str(d / "Pulumi.bad.yaml")]  # noqa: E731

CASES: list[tuple[str, bytes | None, Argv, list[str]]] = [
    ("utf16-le-bom", GOOD.encode("utf-16"), FILE, ["Pulumi.bad.yaml", "UTF-16"]),
    ("utf16-be-bom", b"\xfe\xff" + GOOD.encode("utf-16-be"), FILE, ["Pulumi.bad.yaml", "UTF-16"]),
    ("invalid-byte", b"config:\n  ai-platform:owner: \xff\xfe\xfd\n", FILE, ["Pulumi.bad.yaml", "line 2", "0xff"]),
    ("latin1", "config:\n  ai-platform:owner: caf\xe9\n".encode("latin-1"), FILE, ["Pulumi.bad.yaml", "not UTF-8"]),
    ("directory", None, lambda d: ["plan", "bad", "--config-file", str(d)], [": is a directory"]),
    ("missing-config-file", None, FILE, ["Pulumi.bad.yaml", "no such stack file"]),
    ("missing-stack", None, lambda d: ["plan", "no-such-stack-xyz"], ["Pulumi.no-such-stack-xyz.yaml", "no such"]),
    ("too-large", b"config:\n  ai-platform:owner: team\n" + b"#" * (1 << 20), FILE, ["Pulumi.bad.yaml", "too large"]),
    ("deep-flow-5000", _deep_flow(5000).encode(), FILE, ["Pulumi.bad.yaml", "ai-platform:tags", "nested too deeply"]),
    (
        "deep-flow-maps",
        ("config:\n  ai-platform:tags: " + "{a: " * 3000 + "x" + "}" * 3000).encode(),
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:tags.a.a", "nested too deeply"],
    ),
    ("deep-block-200", _deep_block(200).encode(), FILE, ["Pulumi.bad.yaml", "ai-platform:tags.k0.k1", "too deeply"]),
    ("bomb-ai-platform", _bomb("ai-platform:tags").encode(), FILE, ["Pulumi.bad.yaml", "ai-platform:tags", "aliases"]),
    ("bomb-kubernetes", _bomb("kubernetes:context").encode(), FILE, ["Pulumi.bad.yaml", "kubernetes:context", "alias"]),
    (
        "bomb-top-level",
        (GOOD + _bomb("x").replace("config:\n  x:\n", "extra:\n")).encode(),
        FILE,
        ["Pulumi.bad.yaml", "extra", "aliases"],
    ),
    (
        "many-aliases",
        ("config:\n  ai-platform:tags: {a: &x 1}\n  ai-platform:x: [" + ", ".join(["*x"] * 1500) + "]\n").encode(),
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:x", "aliases"],
    ),
    (
        "syntax-unclosed-flow",
        b"config:\n  ai-platform:tags: [a, b\n",
        FILE,
        ["Pulumi.bad.yaml", "not valid YAML at line"],
    ),
    ("syntax-bad-indent", b"config:\n  ai-platform:owner: a\n bad: b\n", FILE, ["Pulumi.bad.yaml", "line 3, column"]),
    ("syntax-tab", b"config:\n\tai-platform:owner: a\n", FILE, ["Pulumi.bad.yaml", "line 2, column 1"]),
    ("syntax-unknown-alias", b"config:\n  ai-platform:owner: *nope\n", FILE, ["Pulumi.bad.yaml", "line 2", "nope"]),
    (
        "alias-recursive",
        b"config:\n  ai-platform:tags: &r [*r]\n",
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:tags.0", "alias *r refers to its own anchor"],
    ),
    ("syntax-two-documents", (GOOD + "---\n" + GOOD).encode(), FILE, ["Pulumi.bad.yaml", "not valid YAML at line 3"]),
    ("syntax-colon-in-value", b"config:\n  ai-platform:owner: a: b\n", FILE, ["Pulumi.bad.yaml", "line 2, column"]),
    (
        "duplicate-config-key",
        (GOOD + "  ai-platform:owner: other\n").encode(),
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:owner: duplicate key at line 3", "first at line 2"],
    ),
    (
        "duplicate-nested",
        b"config:\n  ai-platform:clusters:\n    weu1:\n      a: 1\n      a: 2\n",
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:clusters.weu1.a: duplicate key at line 5"],
    ),
    ("duplicate-top-level", (GOOD + GOOD).encode(), FILE, ["Pulumi.bad.yaml", "config: duplicate key at line 3"]),
    (
        "duplicate-in-list",
        b"config:\n  ai-platform:tags:\n    - {a: 1, a: 2}\n",
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:tags.0.a: duplicate key at line 3"],
    ),
    (
        "duplicate-flow-map",
        b"config:\n  ai-platform:tags: {x: 1, y: 2, x: 3}\n",
        FILE,
        ["Pulumi.bad.yaml", "ai-platform:tags.x: duplicate key"],
    ),
    (
        "namespace-platfrom",
        b"config:\n  ai-platfrom:owner: team\n",
        FILE,
        ["Pulumi.bad.yaml", "ai-platfrom:owner", "did you mean ai-platform:owner"],
    ),
    (
        "namespace-secret",
        b"config:\n  ai-platform-secret:hfToken: x\n",
        FILE,
        ["ai-platform-secret:hfToken", "ai-platform-secrets:"],
    ),
    (
        "namespace-azure-nativ",
        b"config:\n  azure-nativ:location: westeurope\n",
        FILE,
        ["azure-nativ:location", "azure-native:"],
    ),
    ("namespace-kuberentes", b"config:\n  kuberentes:context: x\n", FILE, ["kuberentes:context", "kubernetes:context"]),
    (
        "namespace-unknown",
        b"config:\n  zzz:thing: x\n",
        FILE,
        ["Pulumi.bad.yaml", "zzz:thing", "unknown config namespace"],
    ),
    ("non-string-key", b"config:\n  1: x\n", FILE, ["Pulumi.bad.yaml", "config: keys must be strings"]),
    ("not-a-map", b"- a\n- b\n", FILE, ["Pulumi.bad.yaml", "top-level 'config:' map"]),
    ("stack-double-colon", None, lambda d: ["plan", "org::dev"], ["Pulumi.org::dev.yaml", "stack name", "'::'"]),
    ("stack-slash", None, lambda d: ["plan", "org/dev"], ["Pulumi.org/dev.yaml", "stack name", "'/'"]),
    ("stack-backslash", None, lambda d: ["plan", "org\\dev"], ["stack name", "'\\\\'"]),
    ("stack-dotdot", None, lambda d: ["plan", "..dev"], ["Pulumi...dev.yaml", "stack name", "'..'"]),
    (
        "stack-traversal-with-file",
        GOOD.encode(),
        lambda d: [*FILE(d)[:1], "../../etc", *FILE(d)[2:]],
        ["Pulumi.bad.yaml", "stack name '../../etc'"],
    ),
    ("stack-colons-with-file", GOOD.encode(), lambda d: ["plan", "a::b", *FILE(d)[2:]], ["Pulumi.bad.yaml", "'a::b'"]),
    ("stack-empty", None, lambda d: ["plan", ""], ["stack name ''"]),
    ("json-directory", None, lambda d: ["plan", "dev", "--json", str(d)], ["--json names a directory"]),
    (
        "json-missing-folder",
        None,
        lambda d: ["plan", "dev", "--json", str(d / "nope" / "plan.json")],
        ["plan.json", "--json folder does not exist"],
    ),
    (
        "json-parent-is-file",
        b"x",
        lambda d: ["plan", "dev", "--json", str(d / "Pulumi.bad.yaml" / "plan.json")],
        ["plan.json", "is not a directory"],
    ),
]


@pytest.mark.parametrize(("content", "argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, argv: Argv, expected: list[str]
) -> None:
    if content is not None:
        (tmp_path / "Pulumi.bad.yaml").write_bytes(content)
    code = main(argv(tmp_path))
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    assert not list(tmp_path.glob("**/plan.json"))


def test_unreadable_stack_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Tests run as root, where chmod 000 still reads: the open itself is made to fail.
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(GOOD)

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    assert main(["plan", "bad", "--config-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("Pulumi.bad.yaml: cannot read the stack file (Permission denied)")


def test_depth_and_alias_limits_leave_room(tmp_path: Path) -> None:
    """Ordinary anchors, merge keys and moderate nesting still load, with the same values as before."""
    path = tmp_path / "Pulumi.ok.yaml"
    nested = _deep_flow(stack_plan.MAX_DEPTH - 3)
    path.write_text(
        nested + "  ai-platform:base: &base {a: 1, b: 2}\n  ai-platform:derived:\n    <<: *base\n    b: 3\n"
    )
    stack_file = read_stack_file("ok", path)
    assert stack_file.config_map["ai-platform:derived"] == '{"a": 1, "b": 3}'
    assert stack_file.config_map["ai-platform:tags"].count("[") == stack_plan.MAX_DEPTH - 3


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert read_stack_file("bom", path).config_map == {"ai-platform:owner": "team"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_shipped_stack_files_read_as_before(stack: str) -> None:
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    expected = {
        (k if ":" in k else f"ai-platform:{k}"): (v if isinstance(v, str) else json.dumps(v, default=str))
        for k, v in raw.items()
        if not (isinstance(v, dict) and set(v) == {"secure"})
    }
    config_map = read_stack_file(stack).config_map
    assert {k: v for k, v in config_map.items() if v != stack_plan.SECRET} == expected

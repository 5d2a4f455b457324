"""``python -m stacks model import CONFIG_JSON``: a catalog entry from a downloaded Hugging Face config.json.

Reads only local files (no network): the model's ``config.json`` and, with ``--safetensors-index``, its
``model.safetensors.index.json`` (the total size cross-checks the architecture's parameter count). Prints the
entry in ``components/data/models.yaml``'s format; ``--append`` adds it to the catalog file after validating it
the way the catalog loader does. Bad input: one line on stderr naming the key, exit 2, nothing on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from components._common import ConfigError
from components.serving.importer import import_config, read_json
from components.serving.spec import CATALOG_FILE, ModelParams


def add_parser(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    model = commands.add_parser("model", help="model catalog tools (import from a Hugging Face config.json)")
    actions = model.add_subparsers(dest="action", required=True)
    imp = actions.add_parser("import", help="print (or --append) a catalog entry computed from config.json")
    imp.add_argument("config_json", help="the model's config.json, downloaded from Hugging Face")
    imp.add_argument("--safetensors-index", help="its model.safetensors.index.json (cross-checks the size)")
    imp.add_argument("--name", help="catalog key (default: the last part of _name_or_path, lowercased)")
    imp.add_argument("--source", help="Hugging Face repository id (default: _name_or_path when it is org/name)")
    imp.add_argument("--gated", action="store_true", help="the checkpoint needs an accepted licence and a token")
    imp.add_argument("--append", action="store_true", help=f"append the entry to {CATALOG_FILE.name}")
    imp.add_argument("--catalog", default=str(CATALOG_FILE), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    try:
        text, key = _entry(args)
        if args.append:
            _append(Path(args.catalog), key, text)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    print(text, end="")
    if args.append:
        print(f"# appended to {args.catalog}", file=sys.stderr)
    return 0


def _entry(args: argparse.Namespace) -> tuple[str, str]:
    config_path = Path(args.config_json)
    config = read_json(config_path, "config.json")
    index = None
    index_file = ""
    if args.safetensors_index:
        index_path = Path(args.safetensors_index)
        index_file = index_path.name or str(index_path)
        index = read_json(index_path, "safetensors index")
    model = import_config(
        config,
        file=config_path.name or str(config_path),
        name=args.name,
        source=args.source,
        index=index,
        index_file=index_file,
    )
    entry = model.entry(args.gated)
    entry.pop("sources")
    entry.pop("gated")
    try:
        ModelParams.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "entry"
        raise ConfigError(
            [f"{config_path.name}: {where}: {first['msg']} (got {first.get('input')!r}). Fix: check config.json"]
        ) from exc
    return model.yaml(args.gated), model.key


def _append(catalog: Path, key: str, text: str) -> None:
    try:
        document = yaml.safe_load(catalog.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            [
                f"--append: cannot read the catalog {catalog.name} ({' '.join(str(exc).split())}). "
                "Fix: restore components/data/models.yaml"
            ]
        ) from exc
    if key in (document.get("models") or {}):
        raise ConfigError(
            [f"--name: {key} is already in {catalog.name} (got {key!r}). Fix: pick another --name or edit the entry"]
        )
    body = catalog.read_text(encoding="utf-8")
    try:
        catalog.write_text(body + ("" if body.endswith("\n") else "\n") + text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            [f"--append: cannot write {catalog.name} ({exc.strerror or exc}). Fix: print the entry and paste it"]
        ) from exc

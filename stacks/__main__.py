"""The offline tools: ``python -m stacks plan|fit|check|policy-config``.

plan STACK [--config-file FILE] [--json FILE]: run the program under mocks and summarize it.
fit STACK [--json]: the model-serving fit table (or its numbers as JSON). check PLAN.json: the policy pack on a
plan file. model import CONFIG_JSON [--safetensors-index FILE] [--name NAME]: a catalog entry from config.json.
policy-config STACK: the ``--policy-pack-config`` JSON for ``pulumi preview --policy-pack policies``.

Exit codes: 0 clean, 1 a mandatory policy fails (plan: or the first-deploy rehearsal finds an error), 2
configuration error or not a plan (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from components._common import ConfigError
from stacks import check as check_cli
from stacks import model_cli
from stacks.config import load_config
from stacks.plan import read_stack_file, run_plan
from stacks.summary import render_summary, serving_json, serving_markdown, serving_summary_lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="run the program offline and show what `pulumi up` would create")
    plan.add_argument("stack")
    plan.add_argument("--config-file", help="use this stack file instead of Pulumi.<stack>.yaml")
    plan.add_argument("--json", dest="json_file", help="write the plan document (platform-plan/v1) here")
    fit = commands.add_parser("fit", help="show where each model deployment fits, its GPUs and monthly cost")
    fit.add_argument("stack")
    fit.add_argument("--config-file", help="use this stack file instead of Pulumi.<stack>.yaml")
    fit.add_argument("--json", action="store_true", help="print the fit, throughput and packing numbers as JSON")
    fit.add_argument("--markdown", action="store_true", help="print the fit table's markdown rows (README)")
    model_cli.add_parser(commands)
    check = commands.add_parser("check", help="evaluate the policy pack on a plan file (exit 0 ok, 1 fail, 2 bad)")
    check.add_argument("plan_file")
    policy_config = commands.add_parser("policy-config", help="print the --policy-pack-config JSON of a stack")
    policy_config.add_argument("stack")
    policy_config.add_argument("--config-file", help="use this stack file instead of Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)

    if args.command == "check":
        return check_cli.check(args.plan_file)
    if args.command == "policy-config":
        return check_cli.policy_config(args.stack, args.config_file)
    if args.command == "model":
        return model_cli.run(args)

    if args.command == "plan":
        try:
            json_path = _json_target(args.json_file)
            result = run_plan(args.stack, args.config_file)
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
        document = result.to_json()
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
            except OSError as exc:
                print(
                    f"{json_path.name}: cannot write the plan ({exc.strerror or exc}; --json {json_path})",
                    file=sys.stderr,
                )
                return 2
        print(render_summary(result))
        return result.exit_code()
    if args.command == "fit":
        try:
            stack_file = read_stack_file(args.stack, args.config_file)
            cfg = load_config(stack_file.config_map, stack_file.source)
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(serving_json(cfg), indent=2))
            return 0
        if args.markdown:
            print("\n".join(serving_markdown(args.stack, cfg)))
            return 0
        print("\n".join(serving_summary_lines(cfg)))
        return 0
    return 2


def _json_target(json_file: str | None) -> Path | None:
    """``--json``'s file, refused before the program runs when it cannot be written."""
    if not json_file:
        return None
    path = Path(json_file)
    if path.is_dir():
        raise ConfigError(
            [f"{path.name or json_file}: --json names a directory ({path}). Fix: name a file, e.g. plan.json"]
        )
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConfigError([f"{path.name}: --json folder {what} ({parent}). Fix: create it or write elsewhere"])
    return path


if __name__ == "__main__":
    sys.exit(main())

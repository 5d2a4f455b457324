"""The offline tools: ``python -m stacks plan|diff|fit|check|policy-config|model|ui``.

plan STACK [--config-file FILE] [--json FILE]: run the program under mocks and summarize it.
diff BASE HEAD [--markdown FILE] [--json FILE]: what a change does (docs/diff.md); BASE/HEAD are plan documents or
`pulumi stack export` files, or --base-ref/--head-ref REF with --stack STACK (HEAD defaults to the working tree).
fit STACK [--json|--markdown]: the model-serving fit table (or its numbers as JSON). check PLAN.json: the policy
pack on a plan file. model import CONFIG_JSON [--safetensors-index FILE] [--name NAME]: a catalog entry from
config.json.
policy-config STACK: the ``--policy-pack-config`` JSON for ``pulumi preview --policy-pack policies``.
ui STACK [--port 8080]: the local self-service page (model fit, cost, the stack-file change; docs/ui.md).

Exit codes: 0 clean, 1 a mandatory policy fails (plan: or the first-deploy rehearsal finds an error; diff: or an
unsafe transition), 2
configuration error or not a plan (message on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from components._common import ConfigError
from stacks import check as check_cli
from stacks import model_cli
from stacks.config import load_config
from stacks.plan import plan_json, read_stack_file, run_plan
from stacks.summary import render_summary, serving_json, serving_markdown, serving_summary_lines
from stacks.ui.cli import DEFAULT_PORT
from stacks.ui.cli import run as ui_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="run the program offline and show what `pulumi up` would create")
    plan.add_argument("stack")
    plan.add_argument("--config-file", help="use this stack file instead of Pulumi.<stack>.yaml")
    plan.add_argument("--json", dest="json_file", help="write the plan document (platform-plan/v1) here")
    diff = commands.add_parser("diff", help="what a change would create, update, replace, delete or refuse")
    diff.add_argument("sides", nargs="*", metavar="BASE HEAD", help="plan documents or `pulumi stack export` files")
    diff.add_argument("--base-ref", help="plan --stack as it is at this git ref (a temporary worktree) as BASE")
    diff.add_argument("--head-ref", help="plan --stack at this git ref as HEAD (default: the working tree)")
    diff.add_argument("--stack", help="the stack to plan for --base-ref/--head-ref or the working tree")
    diff.add_argument("--markdown", help="write the pull-request comment here")
    diff.add_argument("--json", dest="json_file", help="write the platform-diff/v1 document here")
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
    ui = commands.add_parser("ui", help="serve the local self-service page on 127.0.0.1 (docs/ui.md)")
    ui.add_argument("stack")
    ui.add_argument("--port", default=str(DEFAULT_PORT), help=f"TCP port on 127.0.0.1 (default {DEFAULT_PORT})")
    ui.add_argument("--config-file", help="use this stack file instead of Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)

    if args.command == "check":
        return check_cli.check(args.plan_file)
    if args.command == "policy-config":
        return check_cli.policy_config(args.stack, args.config_file)
    if args.command == "ui":
        return ui_run(args.stack, args.port, args.config_file)
    if args.command == "model":
        return model_cli.run(args)

    if args.command == "diff":
        return run_diff(args)
    if args.command == "plan":
        try:
            json_path = _json_target(args.json_file)
            result = run_plan(args.stack, args.config_file)
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
        try:
            text = plan_json(result.to_json())
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
        if json_path is not None:
            try:
                json_path.write_text(text)
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
            fit_text = plan_json(serving_json(cfg)) if args.json else ""
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
        if args.json:
            sys.stdout.write(fit_text)
            return 0
        if args.markdown:
            print("\n".join(serving_markdown(args.stack, cfg)))
            return 0
        print("\n".join(serving_summary_lines(cfg)))
        return 0
    return 2


def _json_target(json_file: str | None, option: str = "--json", example: str = "plan.json") -> Path | None:
    """An output file option's path, refused before the program runs when it cannot be written."""
    if not json_file:
        return None
    path = Path(json_file)
    if path.is_dir():
        raise ConfigError(
            [f"{path.name or json_file}: {option} names a directory ({path}). Fix: name a file, e.g. {example}"]
        )
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConfigError([f"{path.name}: {option} folder {what} ({parent}). Fix: create it or write elsewhere"])
    return path


def run_diff(args: argparse.Namespace) -> int:
    """``stacks diff``: read both sides (exit 2 on bad input, nothing written), compare, judge, write, print."""
    from stacks.diff import diff  # noqa: PLC0415 - loaded only for this subcommand
    from stacks.diff.render import render_markdown, render_text, to_json  # noqa: PLC0415
    from stacks.diff.sides import plan_at_ref, plan_working_tree, read_side, repo_root  # noqa: PLC0415

    try:
        markdown_path = _json_target(args.markdown, "--markdown", "diff.md")
        json_path = _json_target(args.json_file, "--json", "diff.json")
        files = list(args.sides)
        if (args.base_ref or args.head_ref or len(files) < 2) and not args.stack:
            raise ConfigError(
                [
                    f"--stack: required unless BASE and HEAD are both files (got {len(files)} file(s)). Fix: "
                    "`stacks diff base.json head.json` or `stacks diff --base-ref origin/main --stack prod`"
                ]
            )
        wanted = (0 if args.base_ref else 1) + (0 if args.head_ref else 1)
        if len(files) > wanted or (not args.base_ref and not files):
            raise ConfigError(
                [
                    f"BASE HEAD: expected at most {wanted} file(s) with these options (got {len(files)}: "
                    f"{' '.join(files) or 'none'}). Fix: give BASE as a file or --base-ref, HEAD as a file, "
                    "--head-ref or nothing (the working tree)"
                ]
            )
        repo = repo_root(Path.cwd()) if args.base_ref or args.head_ref else Path.cwd()
        base = plan_at_ref(args.base_ref, args.stack, repo) if args.base_ref else read_side(files.pop(0), "BASE")
        if args.head_ref:
            head = plan_at_ref(args.head_ref, args.stack, repo, "--head-ref")
        elif files:
            head = read_side(files.pop(0), "HEAD")
        else:
            head = plan_working_tree(args.stack, repo)
        if base.stack != head.stack or (args.stack and args.stack != head.stack):
            raise ConfigError(
                [
                    f"HEAD {head.label}: is stack {head.stack!r}, BASE {base.label} is {base.stack!r}"
                    + (f" and --stack is {args.stack!r}" if args.stack else "")
                    + ". Fix: diff two states of the same stack"
                ]
            )
        result = diff(base, head)
        json_text = plan_json(to_json(result)) if json_path else ""
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    for path, text in (
        (markdown_path, render_markdown(result) if markdown_path else ""),
        (json_path, json_text),
    ):
        if path is None:
            continue
        try:
            path.write_text(text)
        except OSError as exc:
            print(f"{path.name}: cannot write ({exc.strerror or exc})", file=sys.stderr)
            return 2
    print(render_text(result))
    return result.exit_code()


if __name__ == "__main__":
    sys.exit(main())

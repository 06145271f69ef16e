"""``varmigrate rule``: a rule's documentation, or the list of rules."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from varmigrate.output import EXIT_CLEAN, EXIT_ERROR
from varmigrate.output.console import Stream, print_error
from varmigrate.rules import ALL_RULES, RuleSpec, UnknownRuleError, rule_by_code

FIX_AVAILABILITY = {
    "always": "Fix is always available.",
    "sometimes": "Fix is sometimes available.",
    "never": "Fix is not available.",
}


def add_rule_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``rule`` subcommand."""
    rule = commands.add_parser("rule", help="explain a rule", description="Show a rule's documentation.")
    rule.add_argument("code", nargs="?", metavar="RULE", help="a rule code or name, e.g. VM001")
    which = rule.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="the documentation of every rule")
    which.add_argument("--list", action="store_true", help="one line per rule: code, name, fix, message")
    rule.add_argument(
        "--output-format",
        choices=("text", "json"),
        default="text",
        help="`text`: Markdown (default); `json`: code, name, message, fix, explanation and url",
    )
    rule.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")
    rule.set_defaults(handler=rule_command)


def rule_command(args: argparse.Namespace) -> int:
    """``varmigrate rule CODE`` prints a rule's docs; ``--all`` every rule's; ``--list`` a line per rule."""
    console = Stream(no_color=args.no_color)
    err = Stream(stderr=True, no_color=args.no_color)
    as_json = args.output_format == "json"
    if args.list or args.all:
        if args.code:
            print_error(
                Stream(stderr=True, no_color=args.no_color), "give a rule code or --all/--list, not both"
            )
            return EXIT_ERROR
        if as_json:
            console.out(_json([_record(rule) for rule in ALL_RULES]))
        elif args.list:
            _list_rules(console, ALL_RULES)
        else:
            console.out(all_rules_markdown())
        return EXIT_CLEAN
    if not args.code:
        print_error(
            Stream(stderr=True, no_color=args.no_color), "give a rule code (e.g. VM001), --all or --list"
        )
        return EXIT_ERROR
    try:
        rule = rule_by_code(args.code)
    except UnknownRuleError as unknown:
        print_error(err, str(unknown))
        return EXIT_ERROR
    if as_json:
        console.out(_json(_record(rule)))
        return EXIT_CLEAN
    doc = rule_markdown(rule)
    if console.is_terminal:
        # Imported here: only `rule` on a terminal needs it, and it adds ~0.1 s to start-up.
        from rich.markdown import Markdown

        # Markdown lays itself out to the terminal width; soft wrapping would cut list items off.
        console.print(Markdown(doc), soft_wrap=False)
    else:
        console.out(doc)
    return EXIT_CLEAN


def all_rules_markdown() -> str:
    """Every rule's documentation, in code order: what ``rule --all`` prints and docs/rules.md holds."""
    return "\n".join(rule_markdown(rule) for rule in ALL_RULES)


def _record(rule: RuleSpec) -> dict[str, object]:
    return {
        "code": rule.code,
        "name": rule.name(),
        "message": rule.message,
        "fix": FIX_AVAILABILITY[rule.fix_availability],
        "default": rule.default,
        "explanation": rule.doc,
        "url": rule.url,
    }


def _json(value: object) -> str:
    import json

    return json.dumps(value, indent=2)


OFF_BY_DEFAULT = (
    "Off by default: select it with `--extend-select {code}` (or `extend-select` in the configuration)."
)


def rule_markdown(rule: RuleSpec) -> str:
    """A rule's documentation as Markdown: title, message, fix availability, then its docstring."""
    off = "" if rule.default else OFF_BY_DEFAULT.format(code=rule.code) + "\n\n"
    return (
        f"# {rule.name()} ({rule.code})\n\n"
        f"Message: {rule.message}\n\n"
        f"{FIX_AVAILABILITY[rule.fix_availability]}\n\n"
        f"{off}"
        f"{rule.doc}\n"
    )


def _list_rules(console: Stream, rules: Sequence[RuleSpec]) -> None:
    width = max((len(rule.name()) for rule in rules), default=0)
    for rule in rules:
        name, fix = f"  {rule.name():<{width}}  ", f"fix: {rule.fix_availability:<9}"
        if not rule.default:
            fix += "  (off by default)"
        if not console.is_terminal:
            console.out(f"{rule.code}{name}{fix}  {rule.message}")
            continue
        from rich.text import Text

        line = Text()
        line.append(rule.code, style="bold red")
        line.append(name)
        # "fix: sometimes" etc., padded so that the messages line up.
        line.append(fix, style="cyan")
        line.append(f"  {rule.message}")
        console.print(line)

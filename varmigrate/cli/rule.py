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
    rule.add_argument("--all", action="store_true", help="list every rule")
    rule.add_argument("--no-color", action="store_true", help="no colours (also set by NO_COLOR)")
    rule.set_defaults(handler=rule_command)


def rule_command(args: argparse.Namespace) -> int:
    """``varmigrate rule CODE`` prints a rule's docs; ``varmigrate rule --all`` lists the rules."""
    console = Stream(no_color=args.no_color)
    if args.all:
        _list_rules(console, ALL_RULES)
        return EXIT_CLEAN
    if not args.code:
        print_error(Stream(stderr=True, no_color=args.no_color), "give a rule code (e.g. VM001) or --all")
        return EXIT_ERROR
    try:
        rule = rule_by_code(args.code)
    except UnknownRuleError as unknown:
        print_error(Stream(stderr=True, no_color=args.no_color), str(unknown))
        return EXIT_ERROR
    doc = rule_markdown(rule)
    if console.is_terminal:
        # Imported here: only `rule` on a terminal needs it, and it adds ~0.1 s to start-up.
        from rich.markdown import Markdown

        # Markdown lays itself out to the terminal width; soft wrapping would cut list items off.
        console.print(Markdown(doc), soft_wrap=False)
    else:
        console.out(doc)
    return EXIT_CLEAN


def rule_markdown(rule: RuleSpec) -> str:
    """A rule's documentation as Markdown: title, message, fix availability, then its docstring."""
    return (
        f"# {rule.name()} ({rule.code})\n\n"
        f"Message: {rule.message}\n\n"
        f"{FIX_AVAILABILITY[rule.fix_availability]}\n\n"
        f"{rule.doc}\n"
    )


def _list_rules(console: Stream, rules: Sequence[RuleSpec]) -> None:
    width = max((len(rule.name()) for rule in rules), default=0)
    for rule in rules:
        name, fix = f"  {rule.name():<{width}}  ", f"fix: {rule.fix_availability:<9}"
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

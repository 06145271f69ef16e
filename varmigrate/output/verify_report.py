"""How a verify result is shown: rich text on a terminal (plain text elsewhere), or JSON."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from varmigrate.harness.evidence import SiteEvidence
from varmigrate.harness.legacy_api import COVERED
from varmigrate.harness.runner import RunOutcome
from varmigrate.harness.verify import DIVERGED, IDENTICAL, Rewrite, VerifyOptions, VerifyResult
from varmigrate.output.console import make_console, shown_path
from varmigrate.output.report import plural

_STYLE = {IDENTICAL: "bold green", DIVERGED: "bold red"}
# Fixes beyond the safe ones listed by name above the verdict; more are counted.
LISTED_REWRITES = 5
# Off a terminal nothing is squeezed or wrapped: each line and table row is as long as its content.
_UNBOUNDED_WIDTH = 100_000


def progress_reporter(
    options: VerifyOptions, *, no_color: bool = False
) -> Callable[[str], AbstractContextManager[object]]:
    """A context manager per run that shows a spinner on stderr when it is a terminal."""
    console = make_console(stderr=True, no_color=no_color, markup=True)

    @contextmanager
    def step(label: str) -> Iterator[object]:
        if not console.is_terminal:
            yield None
            return
        command = escape(_command(options))
        with console.status(f"Running the {label}: [bold]{command}[/]") as status:
            yield status
        console.print(f"[green]✓[/] {label} finished")

    return step


def print_result(result: VerifyResult, *, next_command: str | None = None, no_color: bool = False) -> None:
    """Print ``result`` in the format its options ask for, on stdout; ``next_command`` is the command
    that writes the verified fixes (see :func:`varmigrate.cli.verify.next_command`)."""
    if result.options.output_format == "json":
        payload = {**result_to_json(result), "next_command": next_command}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    console = make_console(no_color=no_color, markup=True)
    # A terminal by the stream itself, whatever FORCE_COLOR makes rich believe.
    isatty = getattr(console.file, "isatty", None)
    if isatty is not None and isatty():
        console.soft_wrap = False  # a terminal wraps long lines by word and fits tables to its width
    else:
        # Piped, lines (messages, paths) and table cells stay whole, so that they can be searched.
        console.width = _UNBOUNDED_WIDTH
    render(result, console, next_command=next_command)


def render(result: VerifyResult, console: Console, *, next_command: str | None = None) -> None:
    """The full report."""
    console.print(f"[bold]varmigrate verify[/] {escape(_invocation(result.options))}")
    if result.runs:
        console.print(_runs_table(result))
    if result.comparison is not None:
        _beyond_safe(result, console)
        console.print(_summary_table(result))
    if result.message:
        console.print(f"[bold red]error:[/] {escape(result.message)}")
        failed = result.failed_run
        if failed is not None and failed.stderr_tail():
            console.print(f"[dim]last lines of the {failed.label}'s stderr:[/]")
            console.print(escape(failed.stderr_tail()), markup=True, highlight=False)
    _divergence(result, console)
    if result.comparison is not None and result.comparison.stdout_difference:
        console.print(f"[yellow]warning:[/] {escape(result.comparison.stdout_difference)}")
    _evidence(result, console)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for file in result.written:
        console.print(f"[green]wrote[/] {escape(_shown_file(result, file))}")
    if result.options.write and result.verdict != IDENTICAL and result.files:
        console.print("nothing written: the runs were not identical")
    if next_command is not None:
        console.print(f"to write the fixes that ran: [bold]{escape(next_command)}[/]")


def _command(options: VerifyOptions) -> str:
    """The command verify runs, the words that name files (the interpreter, the script) normalised."""
    cwd = options.cwd or os.getcwd()
    return shlex.join(
        shown_path(word, cwd) if os.path.exists(os.path.join(cwd, word)) else word for word in options.command
    )


def _invocation(options: VerifyOptions) -> str:
    """What verify was asked: ``PATH ... -- COMMAND``, paths shown as ``check`` shows them."""
    paths = [shown_path(path, options.cwd) for path in options.paths]
    return shlex.join(paths) + " -- " + _command(options)


def _shown_file(result: VerifyResult, file: str) -> str:
    """``file`` (relative to the project's root) relative to the working directory, as check shows it."""
    if result.root is None:
        return file
    return shown_path(os.path.relpath(result.root / file, result.options.cwd or os.getcwd()))


def _where(result: VerifyResult, file: str, start: object) -> str:
    """``file:row:col`` with the file as check shows it."""
    return f"{_shown_file(result, file)}:{start}"


def _beyond_safe(result: VerifyResult, console: Console) -> None:
    """The fixes applied beyond `fix`'s safe ones, one line per label: ``2 verified fixes beyond `fix`'s
    safe ones (...): VM001 Remove the `Variable(...)` wrapper at train.py:14:9, ...``."""
    by_label: dict[str, list[Rewrite]] = {}
    for rewrite in result.rewrites:
        if rewrite.beyond_safe:
            by_label.setdefault(rewrite.label, []).append(rewrite)
    for label, rewrites in sorted(by_label.items()):
        listed = [
            f"{r.code} {escape(r.title)} at {escape(_where(result, r.file, r.start))}"
            for r in rewrites[:LISTED_REWRITES]
        ]
        more = f", and {len(rewrites) - LISTED_REWRITES} more" if len(rewrites) > LISTED_REWRITES else ""
        fixes = f"{len(rewrites)} {label} fix{'' if len(rewrites) == 1 else 'es'}"
        why = (
            "unsafe fixes were asked for" if label == "unsafe" else "their risk ruled out by the baseline run"
        )
        console.print(f"[bold]{fixes}[/] beyond `fix`'s safe ones ({why}): {', '.join(listed)}{more}")


def _runs_table(result: VerifyResult) -> Table:
    table = Table(title=None, show_edge=False, pad_edge=False)
    table.add_column("run")
    table.add_column("code")
    table.add_column("exit", justify="right")
    table.add_column("calls", justify="right")
    table.add_column("time", justify="right")
    for outcome in result.runs:
        table.add_row(outcome.label, escape(_code_of(result, outcome)), *_run_cells(outcome))
    return table


def _code_of(result: VerifyResult, outcome: RunOutcome) -> str:
    options = result.options
    if outcome.label == "baseline":
        return f"git revision {options.baseline}" if options.baseline else "original (copy)"
    if options.baseline:
        return "working tree (copy)"
    counts: dict[str, int] = {}
    for rewrite in result.rewrites:
        counts[rewrite.label] = counts.get(rewrite.label, 0) + 1
    if not counts:
        return "no fix applies (copy)"
    return "fixed: " + ", ".join(f"{n} {label}" for label, n in sorted(counts.items()))


def _run_cells(outcome: RunOutcome) -> tuple[str, str, str]:
    if outcome.start_error is not None:
        return ("-", "-", "-")
    return (str(outcome.returncode), str(outcome.calls), f"{outcome.seconds:.1f} s")


def _summary_table(result: VerifyResult) -> Table:
    comparison = result.comparison
    assert comparison is not None
    table = Table(show_edge=False, pad_edge=False)
    for column in ("processes", "calls compared", "leaves", "tensors", "verdict"):
        table.add_column(column, justify="right" if column != "verdict" else "left")
    table.add_row(
        str(comparison.processes),
        str(comparison.calls),
        str(comparison.leaves),
        str(comparison.tensors),
        f"[{_STYLE.get(result.verdict, 'bold')}]{result.verdict}[/]",
    )
    return table


def _divergence(result: VerifyResult, console: Console) -> None:
    divergence = result.comparison.divergence if result.comparison else None
    if divergence is None:
        return
    console.print(f"[bold red]first divergence[/] ({divergence.kind}): {escape(divergence.summary)}")
    if divergence.detail:
        console.print(f"  {escape(divergence.detail)}")
    if divergence.baseline_site or divergence.candidate_site:
        console.print(f"  baseline  {escape(divergence.baseline_site or '-')}")
        console.print(f"  candidate {escape(divergence.candidate_site or '-')}")
    for leaf in divergence.leaves:
        console.print(f"  {escape(str(leaf))}")
    if divergence.more_leaves:
        console.print(f"  ... and {divergence.more_leaves} more")
    if result.changed:
        lines = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in result.changed)
        since = escape(result.options.baseline or "")
        console.print(f"  lines changed since {since} in {escape(divergence.file or '')}: {lines}")
    rewrites = result.rewrites_in(divergence.file)
    if rewrites:
        console.print(f"  rewrites in {escape(divergence.file or '')}:")
        for rewrite in rewrites:
            console.print(f"    {escape(str(rewrite))}")
    elif divergence.file and result.rewrites:
        console.print(f"  no rewrite in {escape(divergence.file)}; rewrites elsewhere:")
        for rewrite in result.rewrites:
            console.print(f"    {escape(str(rewrite))}")


def _evidence(result: VerifyResult, console: Console) -> None:
    if not result.evidence:
        return
    verified = {(r.file, r.start) for r in result.rewrites if r.label == "verified"}
    ran = sum(1 for e in result.evidence if e.runs)
    console.print(f"[bold]call sites[/] ({ran} run, {len(result.evidence) - ran} not run):")
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("site", no_wrap=True)  # file:line:col must stay whole to be found
    table.add_column("code", overflow="fold")  # on a narrow terminal: folded, never cut to `Variable…`
    table.add_column("seen in the baseline")
    table.add_column("fix")
    for entry in result.evidence:
        table.add_row(
            escape(_where(result, entry.site.file, entry.site.start)),
            escape(entry.site.code),
            escape(entry.summary),
            _fix_cell(entry, verified, result),
        )
    console.print(table)
    if result.shim_fired:
        console.print(
            f"[yellow]shim:[/] the baseline ran with PyTorch 0.3's meaning of {escape(_and(COVERED))}: "
            f"{plural(result.shim_fired, 'time')} `t.data[0]` or `t.numpy()[0]` on a 0-dim tensor returned "
            "its number (today's torch raises IndexError)"
        )


def _and(items: Sequence[str]) -> str:
    """``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _fix_cell(entry: SiteEvidence, verified: set[Any], result: VerifyResult) -> str:
    if (entry.site.file, entry.site.start) in verified:
        return "[green]verified[/]"
    if result.options.baseline:
        return "-"
    labels = [r.label for r in result.rewrites if r.file == entry.site.file and r.start == entry.site.start]
    return labels[0] if labels else "-"


# -- JSON ------------------------------------------------------------------------------------------------


def result_to_json(result: VerifyResult) -> dict[str, Any]:
    """The result as JSON-ready data."""
    comparison = result.comparison
    divergence = comparison.divergence if comparison else None
    return {
        "verdict": result.verdict.lower(),
        "exit_code": result.exit_code,
        "command": list(result.options.command),
        "error": None
        if result.message is None
        else {
            "message": result.message,
            "run": result.failed_run.label if result.failed_run else None,
            "stderr_tail": result.failed_run.stderr_tail() if result.failed_run else None,
        },
        "runs": [_run_json(outcome) for outcome in result.runs],
        "compared": None
        if comparison is None
        else {
            "processes": comparison.processes,
            "calls": comparison.calls,
            "leaves": comparison.leaves,
            "tensors": comparison.tensors,
        },
        "stdout_difference": comparison.stdout_difference if comparison else None,
        "divergence": None
        if divergence is None
        else {
            "kind": divergence.kind,
            "summary": divergence.summary,
            "detail": divergence.detail,
            "call": divergence.call,
            "call_kind": divergence.call_kind,
            "baseline_site": divergence.baseline_site,
            "candidate_site": divergence.candidate_site,
            "file": divergence.file,
            "leaves": [{"leaf": d.leaf, "detail": d.detail} for d in divergence.leaves],
            "more_leaves": divergence.more_leaves,
            "rewrites": [str(r) for r in result.rewrites_in(divergence.file)],
            "changed_lines": [list(lines) for lines in result.changed],
        },
        "fixes": [
            {
                "file": r.file,
                "row": r.start.row,
                "column": r.start.column,
                "code": r.code,
                "title": r.title,
                "applicability": r.label,
            }
            for r in result.rewrites
        ],
        "sites": [
            {
                "file": e.site.file,
                "row": e.site.start.row,
                "column": e.site.start.column,
                "kind": e.site.kind.value,
                "code": e.site.code,
                "runs": e.runs,
                "seen": e.summary,
                "counts": dict(e.counts),
            }
            for e in result.evidence
        ],
        "shim_fired": result.shim_fired,
        "written": list(result.written),
        "notes": list(result.notes),
    }


def _run_json(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "run": outcome.label,
        "exit_status": outcome.returncode,
        "start_error": outcome.start_error,
        "seconds": round(outcome.seconds, 3),
        "processes": len(outcome.processes),
        "calls": outcome.calls,
        "exception": outcome.exception,
        "stdout_sha256": outcome.stdout_digest,
    }

"""How a verify result is shown: rich text on a terminal (plain text elsewhere), or JSON."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from varmigrate.harness.evidence import SiteEvidence
from varmigrate.harness.runner import RunOutcome
from varmigrate.harness.verify import DIVERGED, IDENTICAL, VerifyOptions, VerifyResult

_STYLE = {IDENTICAL: "bold green", DIVERGED: "bold red"}


def progress_reporter(options: VerifyOptions) -> Callable[[str], AbstractContextManager[object]]:
    """A context manager per run that shows a spinner on stderr when it is a terminal."""
    console = Console(stderr=True)

    @contextmanager
    def step(label: str) -> Iterator[object]:
        if not console.is_terminal:
            yield None
            return
        command = escape(shlex.join(options.command))
        with console.status(f"Running the {label}: [bold]{command}[/]") as status:
            yield status
        console.print(f"[green]✓[/] {label} finished")

    return step


def print_result(result: VerifyResult) -> None:
    """Print ``result`` in the format its options ask for, on stdout."""
    if result.options.output_format == "json":
        sys.stdout.write(json.dumps(result_to_json(result), indent=2) + "\n")
        return
    console = Console(highlight=False)
    # Piped, long lines (messages, paths) stay whole so they can be searched; a terminal wraps by word.
    console.soft_wrap = not console.is_terminal
    render(result, console)


def render(result: VerifyResult, console: Console) -> None:
    """The full report."""
    console.print(f"[bold]varmigrate verify[/] {escape(shlex.join(result.options.command))}")
    if result.runs:
        console.print(_runs_table(result))
    if result.comparison is not None:
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
        console.print(f"[green]wrote[/] {escape(file)}")
    if result.options.write and result.verdict != IDENTICAL and result.files:
        console.print("nothing written: the runs were not identical")


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
    table.add_column("code")
    table.add_column("seen in the baseline")
    table.add_column("fix")
    for entry in result.evidence:
        table.add_row(
            escape(entry.site.where),
            escape(entry.site.code),
            escape(entry.summary),
            _fix_cell(entry, verified, result),
        )
    console.print(table)
    if result.shim_fired:
        console.print(
            f"[yellow]shim:[/] the baseline ran with the PyTorch 0.3 `.data[0]` shim: {result.shim_fired} "
            "time(s) `t.data[0]` on a 0-dim tensor returned its number (today's torch raises IndexError)"
        )


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

"""Comparison of two recorded runs, for `varmigrate verify`.

The runs compare call by call, in order, their tensors bit for bit (`tensors`): the loss each call
starts from, the gradients of its leaves (paired by identity before graph shape), retained tensors and
`autograd.grad` results; then the end state of each process. The first difference is the divergence
that `verify` reports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from varmigrate.harness.calls import ProcessComparison
from varmigrate.harness.divergence import Comparison, Diverged, Divergence

if TYPE_CHECKING:
    from varmigrate.harness.recorder import ProcessRecord
    from varmigrate.harness.runner import RunOutcome

# -- recorded runs -------------------------------------------------------------------------------------


def compare_runs(baseline: RunOutcome, candidate: RunOutcome, compare_stdout: bool = False) -> Comparison:
    """Compare two recorded runs call by call; stop at the first divergence.

    With ``compare_stdout`` a difference in printed output (timings masked) is a divergence too.
    """
    comparison = Comparison()
    try:
        pairs = [
            ProcessComparison(*pair, comparison)
            for pair in _pair_processes(baseline.processes, candidate.processes)
        ]
        for pair in pairs:
            comparison.processes += 1
            comparison.leaves += len(pair.before["leaves"])
            pair.run()
        # After every call of every process: a gradient that differs is the better first divergence.
        for pair in pairs:
            pair.compare_end_state()
        _compare_exit_status(baseline, candidate)
    except Diverged as diverged:
        comparison.divergence = diverged.divergence
    before, after = mask_stdout(baseline.stdout), mask_stdout(candidate.stdout)
    if before != after:
        comparison.stdout_difference = _first_line_difference(before, after)
        if compare_stdout and comparison.divergence is None:
            comparison.divergence = Divergence("stdout", comparison.stdout_difference)
    return comparison


# What varies from run to run in printed output, replaced before stdout is compared (in this order:
# a rate's "s/it" is not a duration).
STDOUT_MASKS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("<rate>", re.compile(rb"\d+(?:\.\d+)?\s*(?:it/s|s/it|samples/s|examples/s|img/s|tokens/s)")),
    ("<timestamp>", re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?")),
    ("<clock>", re.compile(rb"\b\d+:\d{2}(?::\d{2})?(?:\.\d+)?\b")),
    (
        "<duration>",
        re.compile(
            rb"\d+(?:\.\d+)?(?:e-?\d+)?\s*(?:ns|us|\xc2\xb5s|ms|s|sec|secs|seconds|min|minutes|h|hours)\b"
        ),
    ),
    ("<address>", re.compile(rb"\b0x[0-9a-fA-F]{6,}\b")),
)


def mask_stdout(output: bytes) -> bytes:
    """``output`` with timings, rates, timestamps and memory addresses replaced by placeholders."""
    for placeholder, pattern in STDOUT_MASKS:
        output = pattern.sub(placeholder.encode(), output)
    return output


def _pair_processes(
    baseline: Sequence[ProcessRecord], candidate: Sequence[ProcessRecord]
) -> Iterator[tuple[ProcessRecord, ProcessRecord]]:
    """Processes of the two runs paired by command line, the command lines of their parents, and start
    order.

    The parents count: training moved into a forked child (same command line as its parent) is another
    process, whose parent goes on without the child's work. Processes that made no backward call and
    raised nothing are left out: helpers such as spawned DataLoader workers carry per-run file
    descriptor numbers in their command line.
    """
    waiting: dict[tuple[tuple[str, ...], ...], list[ProcessRecord]] = {}
    for process in filter(_recorded_something, candidate):
        waiting.setdefault(_lineage(process, candidate), []).append(process)
    for process in filter(_recorded_something, baseline):
        lineage = _lineage(process, baseline)
        if not waiting.get(lineage):
            raise Diverged(_only_in(lineage, "baseline"))
        yield process, waiting[lineage].pop(0)
    extra = next((lineage for lineage, queue in waiting.items() if queue), None)
    if extra is not None:
        raise Diverged(_only_in(extra, "candidate"))


def _lineage(process: ProcessRecord, run: Sequence[ProcessRecord]) -> tuple[tuple[str, ...], ...]:
    """The command lines of ``process`` and of its recorded ancestors, innermost first."""
    lineage = [tuple(process["argv"])]
    seen = {id(process)}
    while True:
        # Process ids are reused: the parent is the latest process with that id started before.
        parents = [
            p for p in run if p["pid"] == process["parent"] and p["started_ns"] <= process["started_ns"]
        ]
        if not parents:
            return tuple(lineage)
        process = max(parents, key=lambda p: p["started_ns"])
        if id(process) in seen:
            return tuple(lineage)
        seen.add(id(process))
        lineage.append(tuple(process["argv"]))


def _only_in(lineage: tuple[tuple[str, ...], ...], run: str) -> Divergence:
    return Divergence("process", f"{_described(lineage)} recorded calls or exceptions only in the {run}")


def _described(lineage: tuple[tuple[str, ...], ...]) -> str:
    """``process `train.py` (a child of `train.py`)``."""
    names = [" ".join(argv) or "python" for argv in lineage]
    parents = "".join(f" (a child of `{name}`" for name in names[1:]) + ")" * (len(names) - 1)
    return f"process `{names[0]}`{parents}"


def _recorded_something(process: ProcessRecord) -> bool:
    return bool(process["calls"] or process["exception"] or process["caught"])


def _compare_exit_status(baseline: RunOutcome, candidate: RunOutcome) -> None:
    if baseline.returncode != candidate.returncode:
        raise Diverged(
            Divergence(
                "exit-status",
                f"exit status {baseline.returncode} (baseline) vs {candidate.returncode} (candidate)",
            )
        )


def _first_line_difference(before: bytes, after: bytes) -> str:
    old = before.decode("utf-8", "replace").splitlines()
    new = after.decode("utf-8", "replace").splitlines()
    for number, (a, b) in enumerate(zip(old, new, strict=False), start=1):
        if a != b:
            return f"stdout differs at line {number}: {a[:80]!r} (baseline) vs {b[:80]!r} (candidate)"
    return f"stdout differs: {len(old)} lines (baseline) vs {len(new)} lines (candidate)"


__all__ = ["Comparison", "Divergence", "compare_runs", "mask_stdout"]

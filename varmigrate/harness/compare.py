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

from varmigrate.harness.calls import (
    Comparison,
    Divergence,
    _argv,
    _Diverged,
    _ProcessComparison,
)

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
            _ProcessComparison(*pair, comparison)
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
    except _Diverged as diverged:
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
    """Processes of the two runs paired by command line and start order.

    Processes that made no backward call and raised nothing are left out: helpers such as spawned
    DataLoader workers carry per-run file descriptor numbers in their command line.
    """
    waiting: dict[tuple[str, ...], list[ProcessRecord]] = {}
    for process in filter(_recorded_something, candidate):
        waiting.setdefault(tuple(process["argv"]), []).append(process)
    for process in filter(_recorded_something, baseline):
        argv = tuple(process["argv"])
        if not waiting.get(argv):
            raise _Diverged(Divergence("process", f"process `{_argv(process)}` ran only in the baseline"))
        yield process, waiting[argv].pop(0)
    extra = next((p for queue in waiting.values() for p in queue), None)
    if extra is not None:
        raise _Diverged(Divergence("process", f"process `{_argv(extra)}` ran only in the candidate"))


def _recorded_something(process: ProcessRecord) -> bool:
    return bool(process["calls"] or process["exception"] or process["caught"])


def _compare_exit_status(baseline: RunOutcome, candidate: RunOutcome) -> None:
    if baseline.returncode != candidate.returncode:
        raise _Diverged(
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

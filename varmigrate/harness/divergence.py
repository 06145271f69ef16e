"""What a comparison of two recorded runs finds: what was compared, and the first divergence."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Comparison:
    """What was compared, and the first divergence (None: identical)."""

    processes: int = 0
    calls: int = 0
    leaves: int = 0
    tensors: int = 0
    signed_zeros: int = 0  # tensors equal but for +0.0 vs -0.0 somewhere, counted as equal
    graphs_changed: int = 0  # calls whose leaves moved in the graph, every gradient equal
    new_leaves: int = 0  # candidate leaves that replaced one the baseline reused, every value equal
    divergence: Divergence | None = None
    # Printed output, timings masked (STDOUT_MASKS), decides the verdict only with --compare-stdout:
    # what else a program prints per run (a temporary path, a count of threads) would make runs diverge.
    stdout_difference: str | None = None

    @property
    def identical(self) -> bool:
        """Whether nothing differed."""
        return self.divergence is None


# How many differing leaves of the first diverging call are listed.
MAX_LEAVES = 8


@dataclass(frozen=True)
class LeafDifference:
    """One leaf (or retained tensor, or autograd.grad result) of a call that differs."""

    leaf: str
    detail: str

    def __str__(self) -> str:
        return f"{self.leaf}: {self.detail}"


@dataclass(frozen=True)
class Divergence:
    """The first way the candidate run differs from the baseline run."""

    # call-site, loss value, gradients, aliasing, end state, stdout, missing-call, extra-call, process,
    # exception, exit-status
    kind: str
    summary: str
    call: int | None = None  # the call number (0-based, per process, in call order)
    call_kind: str | None = None  # backward or grad
    baseline_site: str | None = None  # file:function:line
    candidate_site: str | None = None
    file: str | None = None  # the file (relative to the tree) whose code made the call
    leaves: tuple[LeafDifference, ...] = ()
    more_leaves: int = 0  # differing leaves not listed
    detail: str | None = None  # e.g. the exception that ended the candidate early


class Diverged(Exception):
    """Raised to stop a comparison at its first divergence."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(divergence.summary)
        self.divergence = divergence

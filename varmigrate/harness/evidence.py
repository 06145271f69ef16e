"""Call-site evidence: instrument the baseline copy, read what its run saw, decide which fixes it verifies.

Three kinds of site are instrumented in the baseline's copy of each file that is fixed:

- each `Variable(...)` call a VM0xx finding reports: its data argument ``x`` becomes
  ``__varmigrate_arg__(ID, x)``, which notes whether ``x`` was a plain tensor requiring grad and
  returns it untouched;
- each ``t.data[0]`` read: it becomes ``__varmigrate_index__(ID, t.data)``, which notes whether ``t``
  was 0-dim and, when it was, returns the number as PyTorch 0.3 did (today's torch raises there);
  ``t.numpy()[0]`` likewise (``__varmigrate_index__(ID, t.numpy())``: a 0-dim array gives the NumPy
  scalar 0.3's 1-element array gave);
- the receiver ``x`` of each ``x.new(...)`` (VM303) and ``x.type(T)`` (VM302) finding whose fix names a
  check on it, and the input ``x`` of each ``F.softmax(x)`` (VM414): ``__varmigrate_value__(ID, x)``,
  which notes whether ``x`` was a plain tensor, on the CPU, and its rank, and returns it untouched.

The wrappers are inserted inside the existing line, so line numbers do not move. Sites are found from
the engine's findings (same 1-based positions as its diagnostics) and from the CST shape of
``.data[0]``, never by matching source lines.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    CodeRange,
    ExpressionContext,
    ExpressionContextProvider,
    MetadataWrapper,
    PositionProvider,
)

from varmigrate.harness.recorder import ARG_HOOK, INDEX_HOOK, VALUE_HOOK
from varmigrate.model import Applicability, Diagnostic, Location, RuntimeCheck
from varmigrate.rules.torch_api import implicit_softmax_dim
from varmigrate.rules.variable import parse_variable_args

# Findings about `Variable(...)` construction (code allocation: VM0xx).
_VARIABLE_CODES = "VM0"
_DATA_ZERO = m.Subscript(
    value=m.Attribute(attr=m.Name("data")) | m.Call(func=m.Attribute(attr=m.Name("numpy")), args=[]),
    slice=[m.SubscriptElement(slice=m.Index(value=m.Integer("0")))],
)


class SiteKind(enum.Enum):
    """What is observed at a site."""

    VARIABLE = "variable"  # a `Variable(x)` call: was `x` ever a tensor requiring grad?
    DATA_INDEX = "data-index"  # a `t.data[0]` read: was `t` always 0-dim?
    RECEIVER = "receiver"  # `x.new(...)`, `x.type(T)`: was `x` always a plain tensor, on the CPU?
    INPUT = "input"  # `F.softmax(x)`: which ranks did `x` have?


# The checks observed through `__varmigrate_value__`, and where it goes.
_VALUE_CHECKS = {
    RuntimeCheck.RECEIVER_IS_TENSOR: SiteKind.RECEIVER,
    RuntimeCheck.RECEIVER_IS_CPU_TENSOR: SiteKind.RECEIVER,
    RuntimeCheck.INPUT_RANK_PICKS_DIM_1: SiteKind.INPUT,
    RuntimeCheck.INPUT_RANK_PICKS_DIM_0: SiteKind.INPUT,
}


@dataclass(frozen=True)
class Site:
    """One instrumented place in one file of the baseline."""

    id: int
    file: str
    kind: SiteKind
    start: Location
    end: Location
    code: str
    # A `Variable(...)` whose argument holds another `Variable(...)`: the fix looks through both, the
    # evidence sees only the inner result, so it verifies nothing here.
    nested: bool = False

    @property
    def where(self) -> str:
        """``file:row:col`` as diagnostics print it."""
        return f"{self.file}:{self.start}"

    def contains(self, start: Location, end: Location) -> bool:
        """Whether the range ``start``..``end`` lies inside this site."""
        return self.start <= start and end <= self.end


@dataclass(frozen=True)
class SiteEvidence:
    """What the baseline run saw at one site, summed over its processes."""

    site: Site
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        """How many times the site ran."""
        return self.counts.get("runs", 0)

    @property
    def shim_fired(self) -> int:
        """How often the baseline's `.data[0]` / `.numpy()[0]` shim returned the number of a 0-dim tensor."""
        return self.counts.get("zero_dim", 0) if self.site.kind is SiteKind.DATA_INDEX else 0

    def holds(self, check: RuntimeCheck) -> bool:
        """Whether ``check`` held every time the site ran (and it ran at least once)."""
        if self.runs == 0:
            return False
        if check is RuntimeCheck.DATA_IS_PLAIN_NO_GRAD:
            return (
                self.site.kind is SiteKind.VARIABLE
                and not self.site.nested
                and self.counts.get("plain_no_grad", 0) == self.runs
            )
        if check is RuntimeCheck.RECEIVER_IS_ZERO_DIM:
            return self.site.kind is SiteKind.DATA_INDEX and self.counts.get("zero_dim", 0) == self.runs
        if self.site.kind is not _VALUE_CHECKS.get(check):
            return False
        if check is RuntimeCheck.RECEIVER_IS_TENSOR:
            return self.counts.get("tensor", 0) == self.runs
        if check is RuntimeCheck.RECEIVER_IS_CPU_TENSOR:
            return self.counts.get("cpu_tensor", 0) == self.runs
        dim = 1 if check is RuntimeCheck.INPUT_RANK_PICKS_DIM_1 else 0
        return sum(n for rank, n in self.ranks.items() if implicit_softmax_dim(rank) == dim) == self.runs

    @property
    def ranks(self) -> dict[int, int]:
        """How many times the value was a plain tensor of each rank (value sites)."""
        prefix = "rank_"
        return {
            int(key[len(prefix) :]): n
            for key, n in self.counts.items()
            if key.startswith(prefix) and key[len(prefix) :].isdigit()
        }

    @property
    def summary(self) -> str:
        """What was seen, in words."""
        runs = self.runs
        if runs == 0:
            return "not run"
        times = f"{runs} run" + ("s" if runs != 1 else "")
        if self.site.kind is SiteKind.DATA_INDEX:
            zero = self.counts.get("zero_dim", 0)
            if zero == runs:
                return f"receiver always 0-dim ({times}; the shim returned the number)"
            return f"receiver not 0-dim in {runs - zero} of {times}"
        if self.site.kind in (SiteKind.RECEIVER, SiteKind.INPUT):
            return self._value_summary(times)
        for key, text in (
            ("requires_grad", "argument required grad"),
            ("subclass", "argument was a Parameter or tensor subclass"),
            ("not_tensor", "argument was not a tensor"),
        ):
            if self.counts.get(key):
                return f"{text} in {self.counts[key]} of {times}"
        if self.site.nested:
            return f"argument is another `Variable(...)` ({times})"
        return f"argument never required grad ({times})"

    def _value_summary(self, times: str) -> str:
        what = "receiver" if self.site.kind is SiteKind.RECEIVER else "input"
        for key, text in (("not_tensor", "not a tensor"), ("subclass", "a tensor subclass")):
            if self.counts.get(key):
                return f"{what} was {text} in {self.counts[key]} of {times}"
        if self.site.kind is SiteKind.INPUT:
            ranks = sorted(self.ranks)
            dims = sorted({implicit_softmax_dim(rank) for rank in ranks})
            return (
                f"input of rank {' or '.join(map(str, ranks))} ({times}): "
                f"PyTorch picked dim {' or '.join(map(str, dims))}"
            )
        elsewhere = self.runs - self.counts.get("cpu_tensor", 0)
        if elsewhere:
            return f"receiver a tensor, not on the CPU in {elsewhere} of {times}"
        return f"receiver always a CPU tensor ({times})"


@dataclass(frozen=True)
class Instrumented:
    """A file's baseline source with its sites wrapped."""

    source: str
    sites: list[Site]


def instrument(file: str, source: str, diagnostics: Sequence[Diagnostic], first_id: int) -> Instrumented:
    """Wrap the sites of ``source`` (path ``file``) in recorder calls numbered from ``first_id``."""
    variable_ranges = {(d.start, d.end) for d in diagnostics if d.code.startswith(_VARIABLE_CODES)}
    value_ranges = {
        (d.start, d.end): _VALUE_CHECKS[fix.verified_by]
        for d in diagnostics
        for fix in d.fixes
        if fix.verified_by in _VALUE_CHECKS
    }
    if not variable_ranges and not value_ranges and ".data" not in source and ".numpy(" not in source:
        return Instrumented(source, [])
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        # Findings in a file Python cannot parse (`t.cuda(async=True)`, VM405): it cannot run as it
        # is, so there is nothing to observe in it.
        return Instrumented(source, [])
    finder = _SiteFinder(variable_ranges, value_ranges)
    wrapper.visit(finder)
    if not finder.found:
        return Instrumented(source, [])
    sites: list[Site] = []
    targets: dict[cst.CSTNode, Site] = {}
    variable_spans = [span for node, kind, span in finder.found if kind is SiteKind.VARIABLE]
    for offset, (node, kind, (start, end)) in enumerate(finder.found):
        nested = kind is SiteKind.VARIABLE and any(
            (start, end) != other and start <= other[0] and other[1] <= end for other in variable_spans
        )
        site = Site(
            id=first_id + offset,
            file=file,
            kind=kind,
            start=start,
            end=end,
            code=_snippet(wrapper.module, finder.nodes[offset]),
            nested=nested,
        )
        sites.append(site)
        targets[node] = site
    return Instrumented(wrapper.module.visit(_Wrapper(targets)).code, sites)


def _snippet(module: cst.Module, node: cst.CSTNode) -> str:
    """The site's code on one line, whole (the report's table folds it on a narrow terminal)."""
    return " ".join(module.code_for_node(node).split())


class _SiteFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider, ExpressionContextProvider)

    def __init__(
        self,
        variable_ranges: set[tuple[Location, Location]],
        value_ranges: dict[tuple[Location, Location], SiteKind],
    ) -> None:
        super().__init__()
        self.variable_ranges = variable_ranges
        self.value_ranges = value_ranges
        # (node to wrap, kind, site range); `nodes` holds the node whose text names the site.
        self.found: list[tuple[cst.CSTNode, SiteKind, tuple[Location, Location]]] = []
        self.nodes: list[cst.CSTNode] = []

    def _range(self, node: cst.CSTNode) -> tuple[Location, Location]:
        position: CodeRange = self.get_metadata(PositionProvider, node)
        return (
            Location(position.start.line, position.start.column + 1),
            Location(position.end.line, position.end.column + 1),
        )

    def visit_Call(self, node: cst.Call) -> None:
        span = self._range(node)
        kind = self.value_ranges.get(span)
        if kind is not None:
            self._value_site(node, kind, span)
        if span not in self.variable_ranges:
            return
        data = parse_variable_args(node).data
        argument = next((arg for arg in node.args if arg.value is data), None)
        if data is None or argument is None:
            return  # `Variable()` / `Variable(None)`: nothing to observe
        self.found.append((argument, SiteKind.VARIABLE, span))
        self.nodes.append(node)

    def _value_site(self, node: cst.Call, kind: SiteKind, span: tuple[Location, Location]) -> None:
        """The receiver (the `x.new` attribute, whose value is wrapped) or the input argument of ``node``."""
        target: cst.CSTNode | None
        if kind is SiteKind.RECEIVER:
            target = node.func if isinstance(node.func, cst.Attribute) else None
        else:
            positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
            named = [arg for arg in node.args if arg.keyword is not None and arg.keyword.value == "input"]
            found = positional or named
            target = found[0] if found else None
        if target is not None:
            self.found.append((target, kind, span))
            self.nodes.append(node)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if not m.matches(node, _DATA_ZERO):
            return
        # `t.data[0] = v` and `del t.data[0]` are targets: nothing to wrap there.
        if self.get_metadata(ExpressionContextProvider, node, None) is not ExpressionContext.LOAD:
            return
        self.found.append((node, SiteKind.DATA_INDEX, self._range(node)))
        self.nodes.append(node)


class _Wrapper(cst.CSTTransformer):
    def __init__(self, targets: dict[cst.CSTNode, Site]) -> None:
        super().__init__()
        self.targets = targets

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        site = self.targets.get(original_node)
        if site is None:
            return updated_node
        hook = ARG_HOOK if site.kind is SiteKind.VARIABLE else VALUE_HOOK
        return updated_node.with_changes(value=_hook(hook, site, updated_node.value))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        site = self.targets.get(original_node)
        if site is None:
            return updated_node
        return updated_node.with_changes(value=_hook(VALUE_HOOK, site, updated_node.value))

    def leave_Subscript(
        self, original_node: cst.Subscript, updated_node: cst.Subscript
    ) -> cst.BaseExpression:
        site = self.targets.get(original_node)
        if site is None:
            return updated_node
        call = _hook(INDEX_HOOK, site, updated_node.value)
        return call.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)


def _hook(name: str, site: Site, value: cst.BaseExpression) -> cst.Call:
    """``name(ID, value)`` on one line with ``value`` unchanged (its own lines stay where they were)."""
    return cst.Call(
        func=cst.Name(name),
        args=[
            cst.Arg(cst.Integer(str(site.id)), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Arg(value),
        ],
    )


def gather(sites: Iterable[Site], counts: Iterable[Mapping[int, Mapping[str, int]]]) -> list[SiteEvidence]:
    """Sum the per-process counts of the baseline run into one evidence entry per site."""
    totals: dict[int, dict[str, int]] = {}
    for process in counts:
        for site_id, site_counts in process.items():
            total = totals.setdefault(site_id, {})
            for key, value in site_counts.items():
                total[key] = total.get(key, 0) + value
    return [SiteEvidence(site, totals.get(site.id, {})) for site in sites]


def verified_findings(
    diagnostics: Sequence[Diagnostic], evidence: Sequence[SiteEvidence]
) -> dict[tuple[str, Location, RuntimeCheck], SiteEvidence]:
    """Findings whose UNSAFE (or DISPLAY_ONLY) fix the evidence made exact, by (code, start, the check that
    held), with the evidence that did; of a finding's fixes that name a check, the first that held."""
    verified: dict[tuple[str, Location, RuntimeCheck], SiteEvidence] = {}
    for diagnostic in diagnostics:
        for fix in diagnostic.fixes:
            if fix.applicability is Applicability.SAFE or fix.verified_by is None:
                continue
            site = _site_of(diagnostic, fix.verified_by, evidence)
            if site is not None and site.holds(fix.verified_by):
                verified[(diagnostic.code, diagnostic.start, fix.verified_by)] = site
                break
    return verified


def _site_of(
    diagnostic: Diagnostic, check: RuntimeCheck, evidence: Sequence[SiteEvidence]
) -> SiteEvidence | None:
    """The site a finding is about: the same call (`Variable(...)`, or the call whose receiver or input was
    observed), or the smallest `.data[0]` around it."""
    same_call = SiteKind.VARIABLE if check is RuntimeCheck.DATA_IS_PLAIN_NO_GRAD else _VALUE_CHECKS.get(check)
    if same_call is not None:
        return next(
            (
                e
                for e in evidence
                if e.site.kind is same_call
                and (e.site.start, e.site.end) == (diagnostic.start, diagnostic.end)
            ),
            None,
        )
    around = [
        e
        for e in evidence
        if e.site.kind is SiteKind.DATA_INDEX
        and (
            e.site.contains(diagnostic.start, diagnostic.end)
            or (diagnostic.start <= e.site.start and e.site.end <= diagnostic.end)
        )
    ]
    return min(
        around,
        key=lambda e: (e.site.end.row - e.site.start.row, e.site.end.column - e.site.start.column),
        default=None,
    )

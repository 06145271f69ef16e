"""One process's calls compared with its counterpart's: leaves paired by identity before graph shape,
calls aligned as sequences, then the process's end state; and the divergence found first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from itertools import zip_longest
from typing import TYPE_CHECKING

from varmigrate.harness.divergence import MAX_LEAVES, Comparison, Diverged, Divergence, LeafDifference
from varmigrate.harness.tensors import describe_stored, only_signs_of_zero_differ, stored_difference

if TYPE_CHECKING:
    from varmigrate.harness.recorder import CallRecord, LeafInfo, ProcessRecord, StoredTensor

# The end state's key of a leaf without a parameter name (recorder.Recorder._end_state).
_UNNAMED_LEAF = "leaf #"

# A call's leaf as recorded: (path through the graph, leaf uid, .grad after the call).
_Leaf = tuple[str, int, "StoredTensor | None"]


def _argv(process: ProcessRecord) -> str:
    return " ".join(process["argv"]) or "python"


def _site(call: CallRecord) -> str:
    return f"{call['file']}:{call['function']}:{call['line']}"


def _match_key(call: CallRecord) -> tuple[str, str, str, int, int]:
    # Line numbers are for display only: fixes (a removed import) move every line.
    return (call["kind"], call["file"], call["function"], call["occurrence"], call["depth"])


def _unpaired(
    kind: str, summary: str, index: int, call: CallRecord, *, in_baseline: bool, detail: str | None = None
) -> Divergence:
    """A call of one run with no counterpart in the other."""
    site = _site(call)
    return Divergence(
        kind,
        summary,
        call=index,
        call_kind=call["kind"],
        baseline_site=site if in_baseline else None,
        candidate_site=None if in_baseline else site,
        file=call["file"],
        detail=detail,
    )


def _align_key(call: CallRecord) -> tuple[str, str, str, int]:
    # Without the occurrence number: after a missing call every later one at its site would shift.
    return (call["kind"], call["file"], call["function"], call["depth"])


def _loss_key(call: CallRecord) -> tuple[object, ...]:
    return tuple(None if root is None else (root["data"], root["digest"]) for root in call["roots"])


def _caught(caught: dict[str, str] | None) -> str:
    if caught is None:
        return "nothing"
    where = f" at {caught['where']}" if caught.get("where") else ""
    return f"{caught['test']}: {caught['type']}: {caught['message']}{where}"


def _exception(process: ProcessRecord) -> str | None:
    error = process["exception"]
    if error is None:
        return None
    where = f" at {error['where']}" if error.get("where") else ""
    return f"{error['type']}: {error['message']}{where}"


@dataclass
class ProcessComparison:
    before: ProcessRecord
    after: ProcessRecord
    comparison: Comparison
    # The baseline<->candidate leaf pairing must stay a bijection over all calls: a rewrite that
    # reuses one tensor where the original made a new leaf each time is caught even if values agree.
    forward: dict[int, int] = field(default_factory=dict)
    backward: dict[int, int] = field(default_factory=dict)

    def run(self) -> None:
        before_calls, after_calls = self.before["calls"], self.after["calls"]
        # Aligned as sequences, not by position: one missing call (a loop that stops early, an
        # off-by-one) is reported as missing rather than shifting every later call.
        before_keys: list[tuple[object, ...]] = [_align_key(c) for c in before_calls]
        after_keys: list[tuple[object, ...]] = [_align_key(c) for c in after_calls]
        if len(before_calls) != len(after_calls):
            # Calls missing or extra at one site (a skipped first batch, an added check): the loss each
            # call starts from tells which calls are each other's counterparts.
            before_keys = [(*key, _loss_key(c)) for key, c in zip(before_keys, before_calls, strict=True)]
            after_keys = [(*key, _loss_key(c)) for key, c in zip(after_keys, after_calls, strict=True)]
        blocks: Sequence[tuple[str, int, int, int, int]] = [
            ("equal", 0, len(before_keys), 0, len(after_keys))
        ]
        if before_keys != after_keys:
            blocks = SequenceMatcher(None, before_keys, after_keys, autojunk=False).get_opcodes()
        for _tag, start, end, other_start, other_end in blocks:
            # equal and replace: compared pair by pair (a replaced call from another place, or with
            # another loss, raises); what a replaced run has more of is missing or extra.
            paired = min(end - start, other_end - other_start)
            for offset in range(paired):
                index = start + offset
                self._compare_call(index, before_calls[index], after_calls[other_start + offset])
                self.comparison.calls += 1
            if end - start > paired:
                raise Diverged(self._missing(start + paired, end, other_start + paired))
            if other_end - other_start > paired:
                raise Diverged(self._extra(other_start + paired, other_end, start + paired))
        for before_caught, after_caught in zip_longest(self.before["caught"], self.after["caught"]):
            if before_caught != after_caught:
                raise Diverged(
                    Divergence(
                        "exception",
                        f"a test runner caught in `{_argv(self.before)}`: {_caught(before_caught)} "
                        f"(baseline) vs {_caught(after_caught)} (candidate)",
                    )
                )
        before_error, after_error = _exception(self.before), _exception(self.after)
        if before_error != after_error:
            raise Diverged(
                Divergence(
                    "exception",
                    f"uncaught exception in `{_argv(self.before)}`: {before_error or 'none'} (baseline) vs "
                    f"{after_error or 'none'} (candidate)",
                )
            )

    def compare_end_state(self) -> None:
        """Modules, optimizers, leaf flags and saved tensors as the process left them."""
        before, after = self.before["end_state"], self.after["end_state"]
        # An unnamed leaf's entry is keyed by its number, which is the run's own: the candidate's
        # leaves are renamed after the baseline leaves they were paired with.
        renamed = [(self._baseline_leaf(key), value) for key, value in after.items()]
        differences = self._keyed("", list(before.items()), renamed)
        if differences:
            raise Diverged(
                Divergence(
                    "end state",
                    f"`{_argv(self.before)}` ended with {len(differences)} different "
                    f"entr{'ies' if len(differences) != 1 else 'y'} (parameters, buffers, optimizer state, "
                    "leaf flags, saved or global tensors)",
                    leaves=tuple(differences[:MAX_LEAVES]),
                    more_leaves=max(0, len(differences) - MAX_LEAVES),
                )
            )

    def _baseline_leaf(self, key: str) -> str:
        """``leaf #7`` as ``leaf #1`` when candidate leaf 7 was paired with baseline leaf 1."""
        number = key.removeprefix(_UNNAMED_LEAF)
        if number == key or not number.isdigit():
            return key
        paired = self.backward.get(int(number))
        return key if paired is None else f"{_UNNAMED_LEAF}{paired}"

    def _missing(self, start: int, end: int, other_start: int) -> Divergence:
        """Baseline calls ``start:end`` have no counterpart; the candidate's next call is ``other_start``."""
        call = self.before["calls"][start]
        error = _exception(self.after)
        if other_start == len(self.after["calls"]):
            summary = (
                f"the candidate made {other_start} call{'s' if other_start != 1 else ''}; "
                f"the baseline went on to call {start} ({call['kind']} at {_site(call)})"
            )
        else:
            what = f"call {start}" if end - start == 1 else f"calls {start}-{end - 1}"
            summary = (
                f"the candidate has no counterpart of the baseline's {what} ({call['kind']} at "
                f"{_site(call)}); the calls before and after match"
            )
        detail = f"the candidate raised {error}" if error else None
        return _unpaired("missing-call", summary, start, call, in_baseline=True, detail=detail)

    def _extra(self, start: int, end: int, other_start: int) -> Divergence:
        """Candidate calls ``start:end`` have no counterpart; the baseline's next call is ``other_start``."""
        extra = self.after["calls"][start]
        made = len(self.before["calls"])
        if other_start == made:
            summary = (
                f"the candidate made call {start} ({extra['kind']} at {_site(extra)}), "
                f"the baseline made {made} calls"
            )
        else:
            what = "an extra call" if end - start == 1 else f"{end - start} extra calls"
            summary = (
                f"the candidate made {what} at {start} ({extra['kind']} at {_site(extra)}) before the "
                f"baseline's call {other_start}; the calls before and after match"
            )
        return _unpaired("extra-call", summary, start, extra, in_baseline=False)

    def _compare_call(self, index: int, before: CallRecord, after: CallRecord) -> None:
        divergence = Divergence(
            "call-site",
            "",
            call=index,
            call_kind=before["kind"],
            baseline_site=_site(before),
            candidate_site=_site(after),
            file=before["file"],
        )
        if _match_key(before) != _match_key(after):
            raise Diverged(
                replace(
                    divergence,
                    summary=f"call {index} was {before['kind']} at {_site(before)} in the baseline but "
                    f"{after['kind']} at {_site(after)} in the candidate",
                )
            )
        losses = self._keyed("loss value", list(enumerate(before["roots"])), list(enumerate(after["roots"])))
        differences = self._leaves(before, after)
        aliasing = any(d.detail.startswith("leaf identity") for d in differences)
        differences += self._keyed("retained", before["retained"], after["retained"])
        differences += self._keyed(
            "result", list(enumerate(before["results"])), list(enumerate(after["results"]))
        )
        if losses and not differences:
            # A changed loss whose gradients agree (a constant term in it, a clamp that never bites):
            # what the program reports or schedules on changed all the same.
            kind, what = "loss value", "loss values"
        else:
            kind = "aliasing" if aliasing else "gradients"
            what = "leaf identity (aliasing) and gradients" if aliasing else "gradients"
        differences = losses + differences
        if differences:
            raise Diverged(
                replace(
                    divergence,
                    kind=kind,
                    summary=f"call {index} ({before['kind']} at {_site(before)}): {what} differ",
                    leaves=tuple(differences[:MAX_LEAVES]),
                    more_leaves=max(0, len(differences) - MAX_LEAVES),
                )
            )

    def _leaves(self, before: CallRecord, after: CallRecord) -> list[LeafDifference]:
        found: list[LeafDifference] = []
        pairs, only_before, only_after = self._match_leaves(before["leaves"], after["leaves"])
        reshaped = False
        for (key, uid, grad), (other_key, other_uid, other_grad) in pairs:
            reshaped = reshaped or key != other_key
            label = _leaf_label(self.before["leaves"].get(uid), uid)
            identity = self._pair(uid, other_uid)
            if identity is not None:
                found.append(LeafDifference(label, identity))
            detail = self._difference(grad, other_grad)
            if detail is not None:
                found.append(LeafDifference(label, detail))
        for _, uid, grad in only_before:
            label = _leaf_label(self.before["leaves"].get(uid), uid)
            found.append(LeafDifference(label, f"{describe_stored(grad)} vs not reached (candidate)"))
        for _, uid, grad in only_after:
            label = _leaf_label(self.after["leaves"].get(uid), uid)
            found.append(LeafDifference(label, f"not reached (baseline) vs {describe_stored(grad)}"))
        if reshaped and not found:
            self.comparison.graphs_changed += 1
        return found

    def _match_leaves(
        self, before: Sequence[_Leaf], after: Sequence[_Leaf]
    ) -> tuple[list[tuple[_Leaf, _Leaf]], list[_Leaf], list[_Leaf]]:
        """Pair a call's leaves by identity before shape: module parameter name, the pairing of earlier
        calls, the path through the graph, and last the order in which the rest first appeared.

        A rewrite that reshapes the graph (`x + b.expand_as(x)` -> `x + b`) changes a leaf's path, not
        which tensor it is.
        """
        pairs: list[tuple[_Leaf, _Leaf]] = []
        left_before, left_after = list(before), list(after)

        def match(key_before: Callable[[_Leaf], object], key_after: Callable[[_Leaf], object]) -> None:
            nonlocal left_before, left_after
            wanted = Counter(key_before(leaf) for leaf in left_before)
            offered = Counter(key_after(leaf) for leaf in left_after)
            # Only keys that name one leaf on each side pair up.
            waiting = {key_after(leaf): leaf for leaf in left_after if offered[key_after(leaf)] == 1}
            kept = []
            for leaf in left_before:
                key = key_before(leaf)
                if key is not None and wanted[key] == 1 and key in waiting:
                    pairs.append((leaf, waiting.pop(key)))
                else:
                    kept.append(leaf)
            taken = {id(other) for _, other in pairs}
            left_before, left_after = kept, [leaf for leaf in left_after if id(leaf) not in taken]

        match(lambda leaf: self._name(self.before, leaf), lambda leaf: self._name(self.after, leaf))
        match(lambda leaf: self.forward.get(leaf[1]), lambda leaf: leaf[1])
        match(lambda leaf: leaf[0], lambda leaf: leaf[0])
        if len(left_before) == len(left_after):
            ranked = list(zip(sorted(left_before, key=_uid), sorted(left_after, key=_uid), strict=True))
            if all(_shape(self.before, b) == _shape(self.after, a) for b, a in ranked):
                pairs.extend(ranked)
                left_before, left_after = [], []
        return pairs, left_before, left_after

    @staticmethod
    def _name(process: ProcessRecord, leaf: _Leaf) -> str | None:
        info = process["leaves"].get(leaf[1])
        if info is None or not info["name"]:
            return None
        return info["name"]

    def _pair(self, before: int, after: int) -> str | None:
        """Why pairing baseline leaf ``before`` with candidate leaf ``after`` breaks the bijection.

        A candidate tensor that stands for two baseline leaves is aliasing: state the baseline kept
        apart (``.grad`` accumulating, ``requires_grad`` set on a tensor the program shares) is carried
        from call to call, whatever this run's values show. The other way round, a new candidate leaf
        where the baseline reused one (weights rebuilt each step instead of updated in place) carries
        nothing: its values are compared like any other, and it is counted for a note.
        """
        paired_before = self.backward.setdefault(after, before)
        if paired_before != before:
            return (
                f"leaf identity differs: the candidate reuses the tensor that was baseline leaf "
                f"#{paired_before} in an earlier call, where the baseline has a new leaf #{before}"
            )
        paired_after = self.forward.setdefault(before, after)
        if paired_after != after:
            self.forward[before] = after
            self.comparison.new_leaves += 1
        return None

    def _difference(self, before: StoredTensor | str | None, after: StoredTensor | str | None) -> str | None:
        """Why two recorded values (tensors, or the repr of anything else) differ, or None."""
        self.comparison.tensors += 1
        if isinstance(before, str) or isinstance(after, str):
            return None if before == after else f"{_shown(before)} vs {_shown(after)}"
        detail = stored_difference(before, after)
        if detail is not None and only_signs_of_zero_differ(before, after):
            self.comparison.signed_zeros += 1
            return None
        return detail

    def _keyed(
        self,
        what: str,
        before: Sequence[tuple[object, StoredTensor | str | None]],
        after: Sequence[tuple[object, StoredTensor | str | None]],
    ) -> list[LeafDifference]:
        found = []
        after_map = dict(after)
        before_map = dict(before)
        for key in [k for k, _ in before] + [k for k, _ in after if k not in before_map]:
            label = f"{what} {key}".strip()
            if key not in after_map or key not in before_map:
                side = "baseline" if key in before_map else "candidate"
                found.append(LeafDifference(label, f"only in the {side}"))
                continue
            detail = self._difference(before_map[key], after_map[key])
            if detail is not None:
                found.append(LeafDifference(label, detail))
        return found


def _shown(value: StoredTensor | str | None) -> str:
    return value[:60] if isinstance(value, str) else describe_stored(value)


def _uid(leaf: _Leaf) -> int:
    return leaf[1]


def _shape(process: ProcessRecord, leaf: _Leaf) -> tuple[object, ...] | None:
    info = process["leaves"].get(leaf[1])
    return None if info is None else (tuple(info["shape"]), info["dtype"])


def _leaf_label(info: LeafInfo | None, uid: int) -> str:
    if info is None:
        return f"leaf #{uid}"
    name = info["name"] or f"leaf #{uid}"
    return f"{name} {tuple(info['shape'])} {info['dtype']}"

"""The harness's parts: instrumentation, evidence, stored tensors, run comparison, recorder, trees."""

from __future__ import annotations

import argparse
import io
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from varmigrate.cli.verify import add_verify_arguments, options_from_args
from varmigrate.engine import Settings, check_source, fix_source
from varmigrate.harness.compare import compare_runs, mask_stdout
from varmigrate.harness.evidence import Instrumented, SiteEvidence, SiteKind, instrument, verified_findings
from varmigrate.harness.recorder import store
from varmigrate.harness.runner import RunOutcome, RunSpec, run
from varmigrate.harness.tensors import only_signs_of_zero_differ, stored_difference, tensor_difference
from varmigrate.harness.tree import changed_lines, read_source, write_source
from varmigrate.harness.verify import ERROR, RecordedBaseline, UsageError, VerifyOptions, VerifyResult, verify
from varmigrate.model import Location, RuntimeCheck
from varmigrate.output.console import make_console
from varmigrate.output.verify_report import render
from varmigrate.rules import select_rules

LEGACY = textwrap.dedent(
    """\
    import torch
    from torch.autograd import Variable

    def step(batch, model):
        x = Variable(batch)
        h = Variable(model(
            x))
        return h, loss.data[0], Variable(Variable(batch))

    loss.data[0] = 1.0
    """
)


# -- instrumentation and evidence ------------------------------------------------------------------------


def test_instrumentation_wraps_sites_inside_their_lines():
    instrumented = instrument("pkg/train.py", LEGACY, check_source(LEGACY), first_id=7)
    lines = instrumented.source.splitlines()
    assert len(lines) == len(LEGACY.splitlines())
    assert lines[4] == "    x = Variable(__varmigrate_arg__(7, batch))"
    assert lines[6] == "        x)))"  # a wrapped multi-line argument keeps its lines
    assert lines[5] == "    h = Variable(__varmigrate_arg__(8, model("
    assert "__varmigrate_index__(9, loss.data)" in lines[7]
    assert lines[9] == "loss.data[0] = 1.0"  # a target is not a read
    assert [(s.id, s.kind, str(s.start), s.nested) for s in instrumented.sites] == [
        (7, SiteKind.VARIABLE, "5:9", False),
        (8, SiteKind.VARIABLE, "6:9", False),
        (9, SiteKind.DATA_INDEX, "8:15", False),
        (10, SiteKind.VARIABLE, "8:29", True),
        (11, SiteKind.VARIABLE, "8:38", False),
    ]


def test_sites_take_the_positions_of_the_engines_diagnostics():
    diagnostics = check_source(LEGACY)
    sites = instrument("train.py", LEGACY, diagnostics, first_id=1).sites
    assert {(d.start, d.end) for d in diagnostics if d.code == "VM001"} == {
        (s.start, s.end) for s in sites if s.kind is SiteKind.VARIABLE
    }


def _evidence(**counts_by_site: dict[str, int]) -> list[SiteEvidence]:
    sites = instrument("train.py", LEGACY, check_source(LEGACY), first_id=1).sites
    by_where = {str(s.start): s for s in sites}
    return [
        SiteEvidence(by_where[where.replace("_", ":")[1:]], counts)
        for where, counts in counts_by_site.items()
    ]


def test_evidence_verifies_a_variable_site_only_when_its_argument_never_required_grad():
    evidence = _evidence(
        _5_9={"runs": 3, "plain_no_grad": 3},
        _6_9={"runs": 3, "plain_no_grad": 2, "requires_grad": 1},
    )
    verified = verified_findings(check_source(LEGACY), evidence)
    assert [(code, str(start), check) for code, start, check in verified] == [
        ("VM001", "5:9", RuntimeCheck.DATA_IS_PLAIN_NO_GRAD)
    ]
    assert evidence[1].summary == "argument required grad in 1 of 3 runs"


@pytest.mark.parametrize(
    ("counts", "summary"),
    [
        ({}, "not run"),
        (
            {"runs": 2, "plain_no_grad": 1, "subclass": 1},
            "argument was a Parameter or tensor subclass in 1 of 2 runs",
        ),
        ({"runs": 1, "not_tensor": 1}, "argument was not a tensor in 1 of 1 run"),
    ],
    ids=["not-run", "parameter", "not-a-tensor"],
)
def test_evidence_that_does_not_verify(counts, summary):
    evidence = _evidence(_5_9=counts)
    assert verified_findings(check_source(LEGACY), evidence) == {}
    assert evidence[0].summary == summary


def test_the_report_names_every_api_the_baseline_shims():
    result = VerifyResult(
        VerifyOptions(command=("python", "train.py")), evidence=_evidence(_8_15={"runs": 2, "zero_dim": 2})
    )
    out = io.StringIO()
    render(result, make_console(file=out, no_color=True, markup=True))
    text = " ".join(out.getvalue().split())
    assert (
        "shim: the baseline ran with PyTorch 0.3's meaning of `t.data[0]` and `t.numpy()[0]` on 0-dim "
        "tensors, `backward(retain_variables=...)`, `TensorDataset(data_tensor=..., target_tensor=...)` and "
        "`torch.potrf`, `torch.potrs`, `torch.potri`, `torch.btriunpack`: 2 times `t.data[0]` or "
        "`t.numpy()[0]` on a 0-dim tensor returned its number (today's torch raises IndexError)"
    ) in text


def test_a_nested_variable_is_not_verified_by_its_inner_result():
    evidence = _evidence(_8_29={"runs": 1, "plain_no_grad": 1})
    assert verified_findings(check_source(LEGACY), evidence) == {}


def test_engine_applies_the_unsafe_fix_only_at_verified_findings():
    source = "import torch\nfrom torch.autograd import Variable\na = Variable(x)\nb = Variable(x)\n"
    result = fix_source(
        source, Settings(verified=frozenset({("VM001", Location(3, 5), RuntimeCheck.DATA_IS_PLAIN_NO_GRAD)}))
    )
    assert result.source == "import torch\na = x\nb = x.detach()\n"
    assert [str(d.start) for d in result.verified] == ["3:5"]


def test_engine_does_not_promote_a_fix_that_names_no_runtime_check():
    # `Variable(h.data)` has only a SAFE fix; a verified location changes nothing there.
    source = "import torch\nfrom torch.autograd import Variable\na = Variable(h.data)\n"
    result = fix_source(
        source, Settings(verified=frozenset({("VM001", Location(3, 5), RuntimeCheck.DATA_IS_PLAIN_NO_GRAD)}))
    )
    assert result.source == "import torch\na = h.detach()\n"
    assert result.verified == []


# Receivers and softmax inputs whose fix names a check on their value (VM302, VM303, VM414).
VALUES = textwrap.dedent(
    """\
    import torch
    import torch.nn.functional as F
    h = w.new(2, 3).zero_()
    d = w.data.new(2, 3)
    y = x.type(torch.DoubleTensor)
    p = F.softmax(logits)
    q = F.softmax(torch.randn(2, 3))
    """
)
VALUE_SETTINGS = Settings(rules=select_rules(["VM302", "VM303", "VM414"]))


def _value_evidence(counts: dict[str, int], row: int) -> SiteEvidence:
    sites = instrument("m.py", VALUES, check_source(VALUES, VALUE_SETTINGS), first_id=1).sites
    (site,) = [s for s in sites if s.start.row == row]
    return SiteEvidence(site, counts)


def test_receivers_and_softmax_inputs_are_wrapped_only_where_a_fix_names_a_check_on_them():
    instrumented = instrument("m.py", VALUES, check_source(VALUES, VALUE_SETTINGS), first_id=1)
    lines = instrumented.source.splitlines()
    assert lines[2] == "h = __varmigrate_value__(1, w).new(2, 3).zero_()"
    assert lines[3] == "d = w.data.new(2, 3)"  # a SAFE fix: nothing to verify
    assert lines[4] == "y = __varmigrate_value__(2, x).type(torch.DoubleTensor)"
    assert lines[5] == "p = F.softmax(__varmigrate_value__(3, logits))"
    assert lines[6] == "q = F.softmax(torch.randn(2, 3))"  # the rank is written out: a SAFE fix
    assert [(s.kind, str(s.start), s.code) for s in instrumented.sites] == [
        (SiteKind.RECEIVER, "3:5", "w.new(2, 3)"),
        (SiteKind.RECEIVER, "5:5", "x.type(torch.DoubleTensor)"),
        (SiteKind.INPUT, "6:5", "F.softmax(logits)"),
    ]


@pytest.mark.parametrize(
    ("row", "counts", "check", "holds"),
    [
        (3, {"runs": 2, "tensor": 2, "rank_2": 2}, RuntimeCheck.RECEIVER_IS_TENSOR, True),
        (3, {"runs": 2, "tensor": 1, "rank_2": 1, "not_tensor": 1}, RuntimeCheck.RECEIVER_IS_TENSOR, False),
        (3, {"runs": 1, "subclass": 1}, RuntimeCheck.RECEIVER_IS_TENSOR, False),
        (5, {"runs": 2, "tensor": 2, "cpu_tensor": 2}, RuntimeCheck.RECEIVER_IS_CPU_TENSOR, True),
        (5, {"runs": 2, "tensor": 2, "cpu_tensor": 1}, RuntimeCheck.RECEIVER_IS_CPU_TENSOR, False),
        (5, {"runs": 1, "not_tensor": 1}, RuntimeCheck.RECEIVER_IS_CPU_TENSOR, False),
        # A receiver site does not verify a check on a softmax input, nor the reverse.
        (5, {"runs": 2, "tensor": 2, "rank_2": 2}, RuntimeCheck.INPUT_RANK_PICKS_DIM_1, False),
        (6, {"runs": 2, "tensor": 2, "cpu_tensor": 2}, RuntimeCheck.RECEIVER_IS_CPU_TENSOR, False),
        (6, {"runs": 3, "tensor": 3, "rank_2": 2, "rank_4": 1}, RuntimeCheck.INPUT_RANK_PICKS_DIM_1, True),
        (6, {"runs": 3, "tensor": 3, "rank_2": 2, "rank_4": 1}, RuntimeCheck.INPUT_RANK_PICKS_DIM_0, False),
        (6, {"runs": 3, "tensor": 3, "rank_2": 2, "rank_3": 1}, RuntimeCheck.INPUT_RANK_PICKS_DIM_1, False),
        (
            6,
            {"runs": 3, "tensor": 3, "rank_0": 1, "rank_1": 1, "rank_3": 1},
            RuntimeCheck.INPUT_RANK_PICKS_DIM_0,
            True,
        ),
        (6, {"runs": 2, "tensor": 1, "rank_2": 1, "subclass": 1}, RuntimeCheck.INPUT_RANK_PICKS_DIM_1, False),
        (6, {}, RuntimeCheck.INPUT_RANK_PICKS_DIM_1, False),
    ],
    ids=[
        "tensor-receiver",
        "receiver-once-not-a-tensor",
        "receiver-a-subclass",
        "cpu-receiver",
        "receiver-once-elsewhere",
        "module-receiver",
        "receiver-site-for-a-rank-check",
        "input-site-for-a-receiver-check",
        "ranks-2-and-4-pick-1",
        "ranks-2-and-4-do-not-pick-0",
        "rank-3-once-picks-0",
        "ranks-0-1-3-pick-0",
        "input-once-a-subclass",
        "not-run",
    ],
)
def test_value_evidence_holds_only_when_every_run_showed_the_fact(row, counts, check, holds):
    assert _value_evidence(counts, row).holds(check) is holds


def test_the_softmax_dim_every_observed_rank_picks_is_the_one_applied():
    diagnostics = check_source(VALUES, VALUE_SETTINGS)
    evidence = [_value_evidence({"runs": 2, "tensor": 2, "rank_3": 2}, row=6)]
    verified = verified_findings(diagnostics, evidence)
    assert [(code, str(start), check) for code, start, check in verified] == [
        ("VM414", "6:5", RuntimeCheck.INPUT_RANK_PICKS_DIM_0)
    ]
    fixed = fix_source(VALUES, Settings(rules=VALUE_SETTINGS.rules, verified=frozenset(verified)))
    assert "p = F.softmax(logits, dim=0)\n" in fixed.source
    assert "h = w.new(2, 3).zero_()\n" in fixed.source  # no evidence there: its UNSAFE fix waits
    assert "q = F.softmax(torch.randn(2, 3), dim=1)\n" in fixed.source  # the SAFE fix


# -- stored tensors ---------------------------------------------------------------------------------------


def test_stored_tensors_compare_bit_for_bit():
    import torch

    zero, negative_zero = torch.tensor([0.0, 1.0]), torch.tensor([-0.0, 1.0])
    nan = torch.tensor([float("nan"), 2.0])
    assert stored_difference(store(zero), store(zero.clone())) is None
    assert stored_difference(store(nan), store(nan.clone())) is None
    assert stored_difference(store(zero), store(negative_zero)) == "values differ (max abs difference 0)"
    assert stored_difference(store(zero), store(zero.double())) == "tensor(2,) float32 vs tensor(2,) float64"
    assert stored_difference(None, store(zero)) == "None vs tensor(2,) float32"
    assert stored_difference(store(torch.tensor(1.5)), store(torch.tensor(1.0))) == tensor_difference(
        torch.tensor(1.5), torch.tensor(1.0)
    )


def test_signs_of_zero_are_told_apart_from_other_differences():
    import torch

    zero, negative_zero = torch.tensor([0.0, 1.0]), torch.tensor([-0.0, 1.0])
    assert only_signs_of_zero_differ(store(zero), store(negative_zero))
    assert only_signs_of_zero_differ(
        store(zero.to(torch.complex64)), store(negative_zero.to(torch.complex64))
    )
    assert not only_signs_of_zero_differ(store(zero), store(torch.tensor([0.0, 2.0])))
    nan, other_nan = torch.tensor([float("nan"), 0.0]), torch.tensor([-float("nan"), -0.0])
    assert not only_signs_of_zero_differ(store(nan), store(other_nan))  # NaN payloads still count
    assert not only_signs_of_zero_differ(store(zero, full_bytes=0), store(negative_zero, full_bytes=0))


def test_large_tensors_are_stored_as_digests():
    import torch

    big = torch.arange(1000, dtype=torch.float32)
    stored = store(big, full_bytes=64)
    assert stored["data"] is None
    assert stored["stats"] == {"mean": 499.5, "abs_max": 999.0, "nonfinite": 0.0}
    assert stored_difference(stored, store(big.clone(), full_bytes=64)) is None
    changed = big.clone()
    changed[3] = 3.5
    assert stored_difference(stored, store(changed, full_bytes=64)).startswith(
        "values differ (stored as digests"
    )


def test_sparse_and_strided_views_are_stored_by_value():
    import torch

    dense = torch.tensor([[0.0, 2.0], [3.0, 0.0]])
    assert stored_difference(store(dense.t()), store(dense.t().contiguous())) is None
    assert stored_difference(store(dense.to_sparse()), store(dense)) == "layout sparse_coo vs strided"


# -- comparing runs ---------------------------------------------------------------------------------------


def _call(seq, uid, grad, line=10, occurrence=None, roots=()):
    return {
        "seq": seq,
        "kind": "backward",
        "file": "train.py",
        "function": "<module>",
        "line": line,
        "occurrence": seq if occurrence is None else occurrence,
        "depth": 0,
        "roots": list(roots),
        "leaves": [("0:SumBackward0/0:AccumulateGrad", uid, grad)],
        "retained": [],
        "results": [],
        "error": None,
    }


def _outcome(calls, label="baseline", returncode=0, stdout=b""):
    process = {
        "format": 1,
        "argv": ["train.py"],
        "pid": 1,
        "parent": 0,
        "started_ns": 0,
        "torch": True,
        "calls": calls,
        "leaves": {
            0: {"name": "", "shape": (2,), "dtype": "float32"},
            1: {"name": "", "shape": (2,), "dtype": "float32"},
        },
        "exception": None,
        "caught": [],
        "sites": {},
        "leaked": [],
        "errors": [],
        "end_state": {},
    }
    spec = RunSpec(label, ("python",), Path(), Path(), Path(), 0, Path())
    return RunOutcome(spec, returncode, None, stdout, b"", 0.0, [process])


def test_reusing_one_leaf_is_a_divergence_even_when_values_agree():
    import torch

    grad = store(torch.ones(2))
    baseline = _outcome([_call(0, 0, grad), _call(1, 1, grad)])
    candidate = _outcome([_call(0, 0, grad), _call(1, 0, grad)], "candidate")
    divergence = compare_runs(baseline, candidate).divergence
    assert (divergence.kind, divergence.call) == ("aliasing", 1)
    assert len(divergence.leaves) == 1
    assert divergence.leaves[0].detail.startswith("leaf identity differs: the candidate reuses")


def test_identical_runs_count_what_was_compared():
    import torch

    grad = store(torch.ones(2))
    baseline = _outcome([_call(0, 0, grad), _call(1, 1, grad)])
    # Line numbers are shown, not compared: a removed import moves every line.
    candidate = _outcome([_call(0, 0, grad, line=9), _call(1, 1, grad, line=9)], "candidate")
    comparison = compare_runs(baseline, candidate)
    assert comparison.identical
    assert (comparison.processes, comparison.calls, comparison.tensors, comparison.leaves) == (1, 2, 2, 2)


def test_a_loss_value_that_differs_is_named_when_the_gradients_agree():
    import torch

    grad, loss, other = store(torch.ones(2)), store(torch.tensor(0.5)), store(torch.tensor(0.25))
    baseline = _outcome([_call(0, 0, grad, roots=[loss])])
    divergence = compare_runs(baseline, _outcome([_call(0, 0, grad, roots=[other])], "candidate")).divergence
    assert (divergence.kind, divergence.summary) == (
        "loss value",
        "call 0 (backward at train.py:<module>:10): loss values differ",
    )
    assert [str(d) for d in divergence.leaves] == ["loss value 0: values differ (max abs difference 0.25)"]
    changed = _outcome([_call(0, 0, store(torch.zeros(2)), roots=[other])], "candidate")
    divergence = compare_runs(baseline, changed).divergence
    assert divergence.kind == "gradients"
    assert [d.leaf for d in divergence.leaves] == ["loss value 0", "leaf #0 (2,) float32"]


def test_leaves_that_moved_in_the_graph_pair_up_and_their_gradients_still_count():
    import torch

    grad = store(torch.ones(2))
    moved = _call(0, 0, grad)
    moved["leaves"] = [("0:SumBackward0/0:ExpandBackward0/0:AccumulateGrad", 0, grad)]
    comparison = compare_runs(_outcome([_call(0, 0, grad)]), _outcome([moved], "candidate"))
    assert (comparison.identical, comparison.graphs_changed) == (True, 1)
    moved["leaves"] = [("0:SumBackward0/0:ExpandBackward0/0:AccumulateGrad", 0, store(torch.zeros(2)))]
    divergence = compare_runs(_outcome([_call(0, 0, grad)]), _outcome([moved], "candidate")).divergence
    assert [str(d) for d in divergence.leaves] == [
        "leaf #0 (2,) float32: values differ (max abs difference 1)"
    ]


def test_a_call_from_another_place_is_a_divergence():
    import torch

    grad = store(torch.ones(2))
    moved = _call(0, 0, grad)
    moved["function"] = "train"
    divergence = compare_runs(_outcome([_call(0, 0, grad)]), _outcome([moved], "candidate")).divergence
    assert divergence.kind == "call-site"
    assert divergence.summary == (
        "call 0 was backward at train.py:<module>:10 in the baseline "
        "but backward at train.py:train:10 in the candidate"
    )


def _calls_at(grad, *sites):
    """Calls made by the functions named in ``sites``, in order, each counting its own occurrences."""
    calls, counts = [], {}
    for seq, function in enumerate(sites):
        call = _call(seq, 0, grad, occurrence=counts.get(function, 0))
        call["function"] = function
        counts[function] = counts.get(function, 0) + 1
        calls.append(call)
    return calls


def test_a_call_missing_in_the_middle_is_reported_as_missing_not_as_a_shift():
    import torch

    grad = store(torch.ones(2))
    baseline = _outcome(_calls_at(grad, "pretrain", "train", "evaluate", "train"))
    candidate = _outcome(_calls_at(grad, "pretrain", "evaluate", "train"), "candidate")
    divergence = compare_runs(baseline, candidate).divergence
    assert (divergence.kind, divergence.call) == ("missing-call", 1)
    assert divergence.summary == (
        "the candidate has no counterpart of the baseline's call 1 (backward at train.py:train:10); "
        "the calls before and after match"
    )
    divergence = compare_runs(candidate, baseline).divergence
    assert (divergence.kind, divergence.call) == ("extra-call", 1)
    assert divergence.summary == (
        "the candidate made an extra call at 1 (backward at train.py:train:10) before the baseline's "
        "call 1; the calls before and after match"
    )


def test_exit_status_decides_the_verdict_and_stdout_is_reported():
    assert (
        compare_runs(_outcome([]), _outcome([], "candidate", returncode=3)).divergence.kind == "exit-status"
    )
    comparison = compare_runs(_outcome([], stdout=b"a\nb\n"), _outcome([], "candidate", stdout=b"a\nc\n"))
    assert comparison.identical
    assert comparison.stdout_difference == "stdout differs at line 2: 'b' (baseline) vs 'c' (candidate)"


@pytest.mark.parametrize(
    ("printed", "masked"),
    [
        (b"epoch 3 took 2.41s, loss 0.125\n", b"epoch 3 took <duration>, loss 0.125\n"),
        (b"=== 4 passed in 12.03 seconds ===", b"=== 4 passed in <duration> ==="),
        (b"100%|####| 50/50 [00:03<00:00, 15.2it/s]", b"100%|####| 50/50 [<clock><<clock>, <rate>]"),
        (b"2026-12-01 11:42:07,123 INFO step 5", b"<timestamp> INFO step 5"),
        (b"<Net object at 0x7f3a9c2b1d90>", b"<Net object at <address>>"),
        (b"lr 1e-3 step 10 loss 3.5", b"lr 1e-3 step 10 loss 3.5"),
    ],
    ids=["duration", "pytest-summary", "tqdm", "logging", "address", "numbers-kept"],
)
def test_stdout_masks_timings_and_keeps_the_numbers_a_program_computes(printed, masked):
    assert mask_stdout(printed) == masked


def test_stdout_decides_the_verdict_only_when_asked():
    baseline = _outcome([], stdout=b"loss 0.5 in 1.2s\n")
    timing_only = _outcome([], "candidate", stdout=b"loss 0.5 in 1.9s\n")
    assert compare_runs(baseline, timing_only, compare_stdout=True).stdout_difference is None
    changed = _outcome([], "candidate", stdout=b"loss 0.25 in 1.9s\n")
    assert compare_runs(baseline, changed).identical
    divergence = compare_runs(baseline, changed, compare_stdout=True).divergence
    assert (divergence.kind, divergence.summary) == (
        "stdout",
        "stdout differs at line 1: 'loss 0.5 in <duration>' (baseline) "
        "vs 'loss 0.25 in <duration>' (candidate)",
    )


# -- the recorder in a real process -------------------------------------------------------------------------

RECORDED = textwrap.dedent(
    """\
    import subprocess, sys
    import torch

    w = torch.ones(3, requires_grad=True)
    h = w * 2
    h.retain_grad()

    def train():
        (h * h).sum().backward(retain_graph=True)

    train()
    train()
    (h * 3).sum().backward(inputs=[w])
    g, = torch.autograd.grad((w ** 3).sum(), w)
    w.backward(torch.ones(3))  # a leaf as the root
    child = "import torch; torch.ones(2, requires_grad=True).sum().backward()"
    subprocess.run([sys.executable, "-c", child], check=True)
    raise RuntimeError("done")
    """
)


@pytest.mark.slow
def test_recorder_records_calls_subprocesses_and_the_uncaught_exception(tmp_path):
    (tmp_path / "prog.py").write_text(RECORDED)
    outcome = run(
        RunSpec("baseline", (sys.executable, "prog.py"), tmp_path, Path(), tmp_path / "out", 0, tmp_path)
    )
    assert outcome.returncode == 1
    parent, child = outcome.processes
    assert (parent["argv"], child["argv"][0]) == (["prog.py"], "-c")
    calls = parent["calls"]
    assert [(c["kind"], c["function"], c["line"], c["occurrence"]) for c in calls] == [
        ("backward", "train", 9, 0),
        ("backward", "train", 9, 1),
        ("backward", "<module>", 13, 0),
        ("grad", "<module>", 14, 1),
        ("backward", "<module>", 15, 2),
    ]
    first, second = calls[0], calls[1]
    assert [key for key, _, _ in first["leaves"]] == [
        "0:SumBackward0/0:MulBackward0/0:MulBackward0/0:AccumulateGrad"
    ]
    assert [key for key, _ in first["retained"]] == ["0:SumBackward0/0:MulBackward0/0:MulBackward0"]
    assert first["leaves"][0][1] == second["leaves"][0][1]  # the same leaf both times
    assert (
        stored_difference(first["leaves"][0][2], second["leaves"][0][2])
        == "values differ (max abs difference 8)"
    )
    assert [key for key, _, _ in calls[2]["leaves"]] == [
        "0:SumBackward0/0:MulBackward0/0:MulBackward0/0:AccumulateGrad"
    ]
    assert len(calls[3]["results"]) == 1
    assert calls[3]["leaves"] == []
    assert [key for key, _, _ in calls[4]["leaves"]] == ["root0"]
    assert parent["exception"] == {"type": "RuntimeError", "message": "done", "where": "prog.py:<module>:18"}
    assert len(child["calls"]) == 1


@pytest.mark.slow
def test_parameters_of_a_deepcopied_module_are_named_by_the_variable_holding_it(tmp_path):
    program = (
        "import copy, torch\n"
        "model = torch.nn.Linear(2, 1)\n"
        "ema = copy.deepcopy(model)\n"
        "ema(torch.ones(2)).sum().backward()\n"
    )
    (tmp_path / "ema.py").write_text(program)
    spec = RunSpec("baseline", (sys.executable, "ema.py"), tmp_path, Path(), tmp_path / "out", 0, tmp_path)
    (process,) = run(spec).processes
    assert sorted(info["name"] for info in process["leaves"].values()) == ["ema.bias", "ema.weight"]
    assert sorted(key for key in process["end_state"] if key.startswith("module")) == [
        "module Linear#0.bias",
        "module Linear#0.weight",
        "module Linear#1.bias",
        "module Linear#1.weight",
    ]


@pytest.mark.slow
def test_recorder_seeds_every_process_identically(tmp_path):
    (tmp_path / "draw.py").write_text("import random, torch\nprint(random.random(), torch.rand(1).item())\n")
    outputs = [
        run(
            RunSpec(label, (sys.executable, "draw.py"), tmp_path, Path(), tmp_path / label, 5, tmp_path)
        ).stdout
        for label in ("baseline", "candidate")
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0].split()[0].decode() == str(__import__("random").Random(5).random())


DETERMINISM = """\
import sys
import torch

print(torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
print("torch._inductor.config" in sys.modules)
import torch._inductor.config

print(torch._inductor.config.deterministic)
"""


@pytest.mark.slow
def test_determinism_is_set_without_importing_inductor_until_the_program_does(tmp_path):
    (tmp_path / "show.py").write_text(DETERMINISM)
    spec = RunSpec("baseline", (sys.executable, "show.py"), tmp_path, Path(), tmp_path / "out", 0, tmp_path)
    outcome = run(spec)
    assert (outcome.returncode, outcome.stdout) == (0, b"True True\nFalse\nTrue\n"), outcome.stderr_tail()


@pytest.mark.slow
def test_the_users_own_sitecustomize_still_runs(tmp_path):
    user_site = tmp_path / "site"
    user_site.mkdir()
    (user_site / "sitecustomize.py").write_text("import builtins\nbuiltins.USER_SITE = 'ran'\n")
    (tmp_path / "show.py").write_text("print(USER_SITE)\n")
    spec = RunSpec("baseline", (sys.executable, "show.py"), tmp_path, Path(), tmp_path / "out", 0, tmp_path)
    outcome = run(spec, environ={**os.environ, "PYTHONPATH": str(user_site)})
    assert (outcome.returncode, outcome.stdout) == (0, b"ran\n")
    assert len(outcome.processes) == 1  # and the recorder ran too


@pytest.mark.slow
def test_the_harness_front_end_does_not_import_torch():
    program = (
        "import sys\n"
        "import varmigrate.harness.verify, varmigrate.output.verify_report, varmigrate.harness.evidence\n"
        "import varmigrate.harness.compare, varmigrate.harness.runner, varmigrate.cli.verify\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


# -- command line and files --------------------------------------------------------------------------------


def _parse(*argv: str):
    parser = argparse.ArgumentParser()
    add_verify_arguments(parser)
    return options_from_args(parser.parse_args(argv), cwd=Path("/project"))


def test_verify_script_is_shorthand_for_running_it_with_python():
    options = _parse("train.py")
    assert (options.command, options.paths) == ((sys.executable, "train.py"), (".",))


def test_paths_and_options_before_and_after_them_and_a_command_after_the_double_dash():
    options = _parse("--seed", "3", "src", "lib", "--unsafe-fixes", "--", "pytest", "-q", "--seed", "9")
    assert options.paths == ("src", "lib")
    assert options.command == ("pytest", "-q", "--seed", "9")
    assert (options.seed, options.unsafe_fixes, options.write) == (3, True, False)
    assert not options.compare_stdout
    assert _parse("--compare-stdout", "train.py").compare_stdout


@pytest.mark.parametrize(
    "argv",
    [("src",), ("--write", "--baseline", "HEAD", "--", "python", "x.py")],
    ids=["no-command", "write-with-baseline"],
)
def test_unusable_arguments(argv):
    with pytest.raises(UsageError):
        _parse(*argv)


def test_sources_are_written_back_byte_for_byte(tmp_path):
    path = tmp_path / "legacy.py"
    original = "# -*- coding: latin-1 -*-\r\nname = 'caf\xe9'\r\n".encode("latin-1")
    path.write_bytes(original)
    path.chmod(0o750)
    source = read_source(path)
    assert source.encoding == "iso-8859-1"
    write_source(path, source.text.replace("name", "label"), source.encoding)
    assert path.read_bytes() == original.replace(b"name", b"label")
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert [p.name for p in tmp_path.iterdir()] == ["legacy.py"]


def test_timeout_defaults_to_half_an_hour_and_zero_means_no_limit():
    assert _parse("train.py").timeout == 1800
    assert _parse("--timeout", "2.5", "train.py").timeout == 2.5
    assert _parse("--timeout", "0", "train.py").timeout is None


@pytest.mark.slow
def test_changed_lines_are_the_work_trees_side_of_each_hunk(tmp_path):
    run_git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*run_git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("".join(f"line{n}\n" for n in range(1, 11)))
    subprocess.run([*run_git, "add", "a.py"], check=True)
    subprocess.run([*run_git, "commit", "-qm", "a"], check=True)
    lines = [f"line{n}\n" for n in range(1, 11)]
    lines[1] = "changed\n"  # line 2
    del lines[5]  # line 6 deleted: the hunk is shown at the line after it
    lines[7:7] = ["new\n", "new\n"]  # lines 8-9 of the new file
    (tmp_path / "a.py").write_text("".join(lines))
    assert changed_lines(tmp_path, "HEAD", "a.py") == [(2, 2), (6, 6), (8, 9)]
    assert changed_lines(tmp_path, "no-such-revision", "a.py") == []


def test_a_new_leaf_where_the_baseline_reused_one_is_counted_not_aliasing():
    import torch

    # Weights rebuilt each step (`w = (w - lr * w.grad).requires_grad_()`) where the baseline updated
    # one leaf in place: every value agrees, no state is carried that the baseline kept apart.
    grad = store(torch.ones(2))
    baseline = _outcome([_call(0, 0, grad), _call(1, 0, grad), _call(2, 0, grad)])
    candidate = _outcome([_call(0, 0, grad), _call(1, 1, grad), _call(2, 1, grad)], "candidate")
    # At exit the leaf flags are listed under each run's own leaf numbers.
    baseline.processes[0]["end_state"] = {"leaf #0": "requires_grad=True, is_leaf=True"}
    candidate.processes[0]["end_state"] = {"leaf #1": "requires_grad=True, is_leaf=True"}
    comparison = compare_runs(baseline, candidate)
    assert (comparison.identical, comparison.new_leaves) == (True, 1)
    # Reusing a tensor where the baseline had new leaves is still aliasing.
    assert compare_runs(candidate, baseline).divergence.kind == "aliasing"


def test_a_call_missing_at_a_site_with_many_is_found_by_its_loss():
    import torch

    grad = store(torch.ones(2))
    losses = [store(torch.tensor(float(n))) for n in range(4)]
    baseline = _outcome([_call(n, 0, grad, roots=[losses[n]]) for n in range(4)])
    # The first of four calls at one line is skipped (`for image in images[1:]`).
    candidate = _outcome([_call(n - 1, 0, grad, roots=[losses[n]]) for n in range(1, 4)], "candidate")
    divergence = compare_runs(baseline, candidate).divergence
    assert (divergence.kind, divergence.call) == ("missing-call", 0)
    assert compare_runs(candidate, baseline).divergence.kind == "extra-call"
    # A replaced stretch with as many calls on each side is compared pair by pair.
    changed = _outcome([_call(0, 0, grad, roots=[losses[0]]), _call(1, 0, grad, roots=[losses[3]])])
    divergence = compare_runs(_outcome(baseline.processes[0]["calls"][:2]), changed).divergence
    assert (divergence.kind, divergence.call) == ("loss value", 1)


def test_work_moved_into_a_forked_child_is_another_process():
    import torch

    grad = store(torch.ones(2))
    baseline = _outcome([_call(0, 0, grad)])
    candidate = _outcome([], "candidate")
    parent = candidate.processes[0]
    child = {**parent, "pid": 2, "parent": parent["pid"], "started_ns": 1, "calls": [_call(0, 0, grad)]}
    candidate.processes.append(child)
    divergence = compare_runs(baseline, candidate).divergence
    assert (divergence.kind, divergence.summary) == (
        "process",
        "process `train.py` recorded calls or exceptions only in the baseline",
    )
    divergence = compare_runs(candidate, baseline).divergence
    assert divergence.summary == (
        "process `train.py` (a child of `train.py`) recorded calls or exceptions only in the baseline"
    )


def test_a_recorded_baseline_serves_only_the_options_it_was_run_with(tmp_path):
    options = VerifyOptions(command=("python", "train.py"), cwd=tmp_path, baseline="HEAD")
    recorded = RecordedBaseline(options, Path(), _outcome([]), [], {}, {}, [], ())
    assert recorded.runs(options, Path())
    assert recorded.runs(VerifyOptions(command=("python", "train.py"), baseline="HEAD", write=True), Path())
    assert not recorded.runs(options, Path("sub"))
    other = VerifyOptions(command=("python", "train.py"), cwd=tmp_path, baseline="HEAD", seed=1)
    assert not recorded.runs(other, Path())
    # Nothing runs: the candidate would be compared with another program's baseline.
    result = verify(other, baseline=recorded)
    assert (result.verdict, result.runs) == (ERROR, [])
    assert result.message == (
        "the recorded baseline was run with other options "
        "(command, directory, paths, seed, fixes or revision)"
    )


def test_a_file_python_cannot_parse_has_no_sites():
    """`t.cuda(async=True)` is a finding (VM405), but such a file cannot run: nothing to instrument."""
    source = "import torch\nx = t.cuda(async=True)\ny = loss.data[0]\n"
    diagnostics = check_source(source)
    assert [d.code for d in diagnostics] == ["VM405", "VM201"]
    assert instrument("a.py", source, diagnostics, first_id=1) == Instrumented(source, [])

"""`varmigrate verify`: run a command on the original and on the fixed code, compare every gradient.

    varmigrate verify [PATH ...] [--unsafe-fixes] [--write] [--baseline REV] [--seed N]
                      [--output-format full|json] -- COMMAND [ARG ...]
    varmigrate verify script.py      # runs `python script.py`

1. Baseline: COMMAND runs in a temporary copy of the project tree (with ``--baseline REV``, a temporary
   git worktree of REV) whose files under PATH are instrumented (see :mod:`.evidence`), with the
   recorder (:mod:`.recorder`) in every Python process it starts.
2. Candidate: the same COMMAND, same seeds, same tree path, cwd and environment, on a copy with the
   fixes applied: SAFE ones, UNSAFE ones with ``--unsafe-fixes``, and the UNSAFE fixes that the
   baseline's evidence made exact (*verified*). With ``--baseline`` the candidate is the working tree
   as it is.
3. The records are compared call by call — loss values, gradients, leaf identity — then by the end
   state each process left (:mod:`.compare`); the first divergence is reported. Exit status and
   uncaught exceptions count too; stdout (timings masked) is compared and reported, and decides the
   verdict with ``--compare-stdout``. With ``--write`` and an identical verdict, the candidate's files
   are written to the working tree.

Exit codes: 0 identical, 1 diverged, 2 could not compare.

Known limits: backward started from C++ (compiled autograd, DDP internals) is not seen; Python run
with ``-S``/``-E``/``-I`` does not load the recorder; the project is copied (environments are linked),
so very large data directories cost time; code the command imports from the working tree instead of
the copy (an editable install) is detected and reported as "could not compare".
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from varmigrate.config import resolve
from varmigrate.engine import Settings, SourceParseError, check_source, fix_source
from varmigrate.engine.fixer import verified_fix
from varmigrate.engine.parsing import repair_async_keywords
from varmigrate.harness.compare import compare_runs
from varmigrate.harness.evidence import Site, gather, instrument, verified_findings
from varmigrate.harness.options import (
    DEFAULT_TIMEOUT,
    DIVERGED,
    ERROR,
    EXIT_CODES,
    IDENTICAL,
    INSTALL_HINT,
    FileFix,
    Rewrite,
    UsageError,
    VerifyOptions,
    VerifyResult,
)
from varmigrate.harness.runner import RunOutcome, RunSpec, run
from varmigrate.harness.tree import (
    TreeError,
    add_git_worktree,
    changed_lines,
    copy_tree,
    project_root,
    python_files,
    read_source,
    remove_git_worktree,
    write_source,
)
from varmigrate.model import Diagnostic
from varmigrate.pipeline.project import project_view

# The options and result types live in `.options`; this module is where callers have always found them.
__all__ = [
    "DEFAULT_TIMEOUT",
    "DIVERGED",
    "ERROR",
    "EXIT_CODES",
    "IDENTICAL",
    "INSTALL_HINT",
    "FileFix",
    "RecordedBaseline",
    "Rewrite",
    "UsageError",
    "VerifyOptions",
    "VerifyResult",
    "record_baseline",
    "verify",
]

# -- verify ------------------------------------------------------------------------------------------

Progress = Callable[[str], AbstractContextManager[object]]


@dataclass(frozen=True)
class RecordedBaseline:
    """A baseline run kept to compare several candidates against (:func:`record_baseline`)."""

    options: VerifyOptions
    cwd: Path  # relative to the project root
    outcome: RunOutcome
    files: list[Path]
    settings: dict[Path, Settings]
    diagnostics: dict[Path, list[Diagnostic]]
    sites: list[Site]
    notes: tuple[str, ...]

    def runs(self, options: VerifyOptions, cwd: Path) -> bool:
        """Whether this is the baseline ``options`` would run from ``cwd`` (relative to the root)."""
        fields = ("command", "paths", "unsafe_fixes", "baseline", "seed", "configuration")
        same = all(getattr(options, name) == getattr(self.options, name) for name in fields)
        return same and cwd == self.cwd


def verify(
    options: VerifyOptions, progress: Progress | None = None, baseline: RecordedBaseline | None = None
) -> VerifyResult:
    """Run the baseline and the candidate, compare them, and write the fixes when asked and identical.

    With ``baseline`` (from :func:`record_baseline` with the same command, paths, seed, fixes and
    revision) the baseline is not run again: only the candidate is.
    """
    result = VerifyResult(options)
    if importlib.util.find_spec("torch") is None:
        result.message = INSTALL_HINT
        return result
    step = progress or (lambda _label: nullcontext())
    try:
        with _workspace() as workspace:
            _verify(options, result, workspace, step, baseline)
    except (TreeError, UsageError) as error:
        result.verdict, result.message = ERROR, str(error)
    return result


def record_baseline(options: VerifyOptions) -> RecordedBaseline | VerifyResult:
    """Run only the baseline of ``options``, to pass to :func:`verify` for each of several candidates.

    Returns the result that explains why when the baseline cannot be compared against (it failed, no
    torch, a tree error).
    """
    result = VerifyResult(options)
    if importlib.util.find_spec("torch") is None:
        result.message = INSTALL_HINT
        return result
    try:
        with _workspace() as workspace:
            recorded = _record_baseline(options, result, workspace, lambda _label: nullcontext())
    except (TreeError, UsageError) as error:
        result.verdict, result.message = ERROR, str(error)
        return result
    return result if recorded is None else recorded


@contextmanager
def _workspace() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="varmigrate-verify-")).resolve()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _record_baseline(
    options: VerifyOptions, result: VerifyResult, workspace: Path, step: Progress
) -> RecordedBaseline | None:
    """Run the baseline in ``workspace``; None (with ``result`` saying why) when it cannot be compared."""
    cwd = (options.cwd or Path.cwd()).resolve()
    root = project_root(cwd)
    result.root = root
    configuration = options.configuration or resolve(None)
    files = python_files(root, cwd, options.paths, configuration)
    settings = _in_project(
        root,
        {
            file: configuration.settings_for(root / file)._replace(unsafe_fixes=options.unsafe_fixes)
            for file in files
        },
    )
    special: list[Path] = []
    tree = workspace / root.name
    if options.baseline is not None:
        shared = add_git_worktree(root, options.baseline, tree)
        cleanup: Callable[[], None] = lambda: remove_git_worktree(root, tree)  # noqa: E731
    else:
        shared = copy_tree(root, tree, special)
        cleanup = lambda: shutil.rmtree(tree)  # noqa: E731
    try:
        diagnostics, sites = _instrument_baseline(tree, files, settings, result)
        with step("baseline"):
            outcome = run(_spec(options, "baseline", root, cwd, workspace, shared))
    finally:
        cleanup()
    result.runs.append(outcome)
    if _failed(outcome, result, "the baseline"):
        return None
    if special:
        names = ", ".join(str(path.relative_to(root)) for path in special[:3])
        more = f" and {len(special) - 3} more" if len(special) > 3 else ""
        result.notes.append(f"not copied (FIFOs, sockets or devices): {names}{more}")
    return RecordedBaseline(
        options, cwd.relative_to(root), outcome, files, settings, diagnostics, sites, tuple(result.notes)
    )


def _spec(
    options: VerifyOptions, label: str, root: Path, cwd: Path, workspace: Path, shared: Sequence[Path]
) -> RunSpec:
    # Both runs use the same path for the tree (the baseline's is removed before the candidate's is
    # made), so paths printed by the program, pytest's rootdir line for one, are equal.
    return RunSpec(
        label=label,
        command=options.command,
        tree=workspace / root.name,
        cwd=cwd.relative_to(root),
        output=workspace / label,
        seed=options.seed,
        original=root,
        shared=tuple(shared),
        evidence=label == "baseline",
        timeout=options.timeout,
    )


def _verify(
    options: VerifyOptions,
    result: VerifyResult,
    workspace: Path,
    step: Progress,
    recorded: RecordedBaseline | None,
) -> None:
    cwd = (options.cwd or Path.cwd()).resolve()
    root = project_root(cwd)
    if recorded is None:
        recorded = _record_baseline(options, result, workspace, step)
        if recorded is None:
            return
    elif not recorded.runs(options, cwd.relative_to(root)):
        raise UsageError(
            "the recorded baseline was run with other options "
            "(command, directory, paths, seed, fixes or revision)"
        )
    else:
        result.runs.append(recorded.outcome)
        result.notes.extend(recorded.notes)
    result.root = root
    baseline, files, settings = recorded.outcome, recorded.files, recorded.settings
    result.evidence = gather(recorded.sites, [p["sites"] for p in baseline.processes])
    tree = workspace / root.name
    shared = copy_tree(root, tree)
    if options.baseline is None:
        _fix_candidate(tree, files, recorded.diagnostics, settings, result)
    try:
        with step("candidate"):
            candidate = run(_spec(options, "candidate", root, cwd, workspace, shared))
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    result.runs.append(candidate)
    if candidate.start_error is not None or _leaked(candidate, result):
        result.failed_run = candidate
        result.message = result.message or candidate.start_error
        return
    result.comparison = compare_runs(baseline, candidate, options.compare_stdout)
    result.verdict = IDENTICAL if result.comparison.identical else DIVERGED
    divergence = result.comparison.divergence
    if options.baseline is not None and divergence is not None and divergence.file:
        result.changed = changed_lines(root, options.baseline, divergence.file)
    for outcome in (baseline, candidate):
        problems = [e for p in outcome.processes for e in p["errors"]]
        problems += [
            f"call {c['seq']}: {c['error']}" for p in outcome.processes for c in p["calls"] if c["error"]
        ]
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            result.notes.append(f"the recorder failed in the {outcome.label}: {problems[0]}{more}")
    if result.comparison.graphs_changed and result.verdict == IDENTICAL:
        result.notes.append(
            f"the autograd graph changed shape at {result.comparison.graphs_changed} call(s); leaves were "
            "paired by parameter name and order of first use, and every gradient is bitwise equal"
        )
    if result.comparison.new_leaves and result.verdict == IDENTICAL:
        result.notes.append(
            f"{result.comparison.new_leaves} time(s) the candidate had a new leaf where the baseline reused "
            "one (a tensor rebuilt each step instead of updated in place): its values were compared, "
            "and are equal"
        )
    if result.comparison.signed_zeros:
        result.notes.append(
            f"{result.comparison.signed_zeros} tensor(s) differed only in the sign of zeros (+0.0 vs -0.0, "
            "e.g. `grad.zero_()` replaced by `grad = None`): counted as equal"
        )
    if baseline.calls == 0 and candidate.calls == 0:  # over every process of both trees
        result.notes.append(
            "the command made no backward / autograd.grad call in any process: "
            "only exit status, exceptions and stdout were compared"
        )
    if options.write and result.verdict == IDENTICAL:
        _write(result)


def _in_project(root: Path, files: dict[Path, Settings]) -> dict[Path, Settings]:
    """Each file's settings (``files``), with what imports of the project's other modules bind in it (the
    project view, as `fix` has it; an import another file uses is kept, since verify never waits for the
    users)."""
    readable = {}
    for file in files:
        try:
            readable[root / file] = (root / file).read_bytes()
        except OSError:
            continue
    view = project_view(readable, fixes=True)
    found = {}
    for file, settings in files.items():
        facts = view.settings_for(root / file)
        found[file] = settings if facts is None else settings.in_project(facts)
    return found


def _instrument_baseline(
    tree: Path, files: Sequence[Path], settings: dict[Path, Settings], result: VerifyResult
) -> tuple[dict[Path, list[Diagnostic]], list[Site]]:
    """Instrument the baseline copy's files; return each file's findings and all sites."""
    diagnostics: dict[Path, list[Diagnostic]] = {}
    sites: list[Site] = []
    for file in files:
        path = tree / file
        if not path.is_file():
            continue  # --baseline: the file is new in the working tree
        source = read_source(path)
        try:
            found = check_source(source.text, settings[file])
            instrumented = instrument(file.as_posix(), source.text, found, first_id=len(sites) + 1)
        except SourceParseError as error:
            result.notes.append(f"{file.as_posix()}:{error}: not instrumented (does not parse)")
            continue
        diagnostics[file] = found
        sites.extend(instrumented.sites)
        text = instrumented.source
        # `async=` has been a syntax error since Python 3.7: the baseline says it as PyTorch 0.4 renamed it.
        if (repaired := repair_async_keywords(text)) is not None:
            text = repaired.text
            result.notes.append(f"{file.as_posix()}: the baseline ran with `async=` renamed `non_blocking=`")
        if text != source.text:
            write_source(path, text, source.encoding)
    return diagnostics, sites


def _failed(outcome: RunOutcome, result: VerifyResult, name: str) -> bool:
    """Record why ``outcome`` cannot be compared, if it cannot."""
    if outcome.start_error is not None:
        result.message = outcome.start_error
    elif outcome.returncode != 0:
        result.message = f"{name} failed (exit status {outcome.returncode}): nothing to compare against"
        if "__varmigrate_" in outcome.stderr.decode("utf-8", "replace"):
            result.message += " (the recorder did not start in a process: was Python run with -S, -E or -I?)"
    elif not _leaked(outcome, result):
        return False
    result.failed_run = outcome
    return True


def _leaked(outcome: RunOutcome, result: VerifyResult) -> bool:
    leaked = sorted({path for p in outcome.processes for path in p["leaked"]})
    if not leaked:
        return False
    result.message = (
        f"the {outcome.label} imported code from the working tree instead of its copy ({leaked[0]}"
        f"{' and more' if len(leaked) > 1 else ''}); is the project installed in editable mode? "
        "Run the command so that it imports the project from the current directory (e.g. `python -m`)"
    )
    return True


def _fix_candidate(
    tree: Path,
    files: Sequence[Path],
    diagnostics: dict[Path, list[Diagnostic]],
    settings_of: dict[Path, Settings],
    result: VerifyResult,
) -> None:
    """Apply the fixes (SAFE, UNSAFE when asked, and those the baseline's evidence verified)."""
    for file in files:
        if file not in diagnostics or not diagnostics[file]:
            continue
        settings = settings_of[file]
        assert result.root is not None
        original = read_source(result.root / file)
        name = file.as_posix()
        evidence = [e for e in result.evidence if e.site.file == name]
        verified = frozenset(verified_findings(diagnostics[file], evidence))
        fixed = fix_source(original.text, settings._replace(verified=verified))
        promoted = {(d.code, d.start) for d in fixed.verified}
        entry = FileFix(file=name, original=original, fixed=fixed.source)
        for diagnostic in diagnostics[file]:
            key = (diagnostic.code, diagnostic.start)
            fix = (
                verified_fix(diagnostic, verified)
                if key in promoted
                else diagnostic.fix_for(settings.threshold)
            )
            if fix is None:
                continue
            label = "verified" if key in promoted else fix.applicability.label
            entry.rewrites.append(Rewrite(name, diagnostic.start, diagnostic.code, fix.title, label))
        result.files.append(entry)
        if entry.changed:
            write_source(tree / file, entry.fixed, original.encoding)


def _write(result: VerifyResult) -> None:
    """Write the candidate's code (exactly what was verified) to the working tree, atomically."""
    assert result.root is not None
    for entry in result.files:
        if not entry.changed:
            continue
        path = result.root / entry.file
        if read_source(path).text != entry.original.text:
            result.notes.append(f"{entry.file}: changed while verify ran; not written")
            continue
        write_source(path, entry.fixed, entry.original.encoding)
        result.written.append(entry.file)

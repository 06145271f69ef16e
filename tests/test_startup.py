"""Start-up: `--version`, `--help`, `rule` and a check that no file passes the prefilter import only the
standard library and the command line's own light modules: no LibCST, rich, pathspec, torch or harness,
and of those modules exactly the ones each run needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# What each run loads of varmigrate, exactly: a module more is start-up every run pays for.
BASE = {"varmigrate", "varmigrate._lazy", "varmigrate._version", "varmigrate.cli", "varmigrate.output"}
RULES = {"varmigrate.rules", "varmigrate.rules.spec", "varmigrate.rules.torch_api"}
# Every parser is varmigrate's own (varmigrate.cli.common), with a help formatter that needs no shutil.
RULE = BASE | RULES | {"varmigrate.cli.common", "varmigrate.cli.rule", "varmigrate.output.console"}
HELP = RULE | {
    "varmigrate.cache",
    "varmigrate.cli.check_fix",
    "varmigrate.cli.clean",
    "varmigrate.cli.common",
    "varmigrate.cli.presentation",
    "varmigrate.cli.verify",
    "varmigrate.model",
}
CHECK = (
    BASE
    | RULES
    | {
        "varmigrate.cache",
        "varmigrate.cli.check_fix",
        "varmigrate.cli.common",
        "varmigrate.cli.presentation",
        "varmigrate.config",
        "varmigrate.engine",
        "varmigrate.engine.prefilter",
        "varmigrate.engine.settings",
        "varmigrate.model",
        "varmigrate.output.console",
        "varmigrate.output.report",
        "varmigrate.pipeline",
        "varmigrate.pipeline.batch",
        "varmigrate.pipeline.cache_entries",
        "varmigrate.pipeline.job",
        "varmigrate.pipeline.screen",
        "varmigrate.sources",
        "varmigrate.sources.discovery",
        "varmigrate.sources.io",
    }
)

# Standard modules that cost milliseconds and that none of these runs needs: a pool's and its threads', the
# configuration file's, JSON and pickle (formats for programs, cache entries with findings), OpenSSL,
# shutil (argparse's own help formatter imports it for the terminal's width), dataclasses (about 14 ms
# with what it imports, and a millisecond more for each class it makes: the records these runs create are
# named tuples or plain classes) and copy (with weakref).
NEVER = {"multiprocessing", "concurrent.futures", "threading", "tomllib", "json", "pickle", "_hashlib"}
NEVER |= {"shutil", "dataclasses", "copy"}
# `rule` reads a rule's docstring with `ast` (and `inspect`); the other runs need neither, nor `dis`,
# which only dataclasses brought, nor `tokenize` (a file without a PEP 263 cookie or BOM is UTF-8).
NOT_FOR_CHECK = NEVER | {"ast", "dis", "inspect", "tokenize"}
# `--version` needs no parser and no annotations.
NOT_FOR_VERSION = NOT_FOR_CHECK | {"argparse", "typing"}

PROGRAM = """
import json, sys
before = set(sys.modules)
from varmigrate.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps(sorted(set(sys.modules) - before)), file=sys.stderr)
raise SystemExit(code)
"""


def _loaded(args: list[str], cwd: Path) -> tuple[int, set[str]]:
    """The exit code of ``varmigrate ARGS`` and the modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    return done.returncode, set(json.loads(done.stderr.strip().splitlines()[-1]))


def _outside_stdlib(loaded: set[str]) -> set[str]:
    # Editable installs' finders are not ours to judge.
    return {
        name
        for name in loaded
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("__editable__")
    }


@pytest.mark.parametrize(
    ("args", "ours", "never"),
    [
        (["--version"], BASE, NOT_FOR_VERSION),
        (["--help"], HELP, NOT_FOR_CHECK),
        (["rule", "VM001"], RULE, NEVER),
        (["rule", "--all"], RULE, NEVER),
        (["check", "clean.py"], CHECK, NOT_FOR_CHECK),
        (["fix", "clean.py"], CHECK, NOT_FOR_CHECK),
        (["check", "--no-cache", "clean.py"], CHECK, NOT_FOR_CHECK),
    ],
    ids=["version", "help", "rule", "rule-all", "check-clean", "fix-clean", "check-clean-no-cache"],
)
def test_a_run_without_candidates_loads_only_light_modules(
    tmp_path: Path, args: list[str], ours: set[str], never: set[str]
) -> None:
    # Modern PyTorch: it mentions torch, so only the text prefilter can turn it away.
    (tmp_path / "clean.py").write_text(
        "import torch\n\nx = torch.ones(2, requires_grad=True)\nx.sum().backward()\n"
    )
    # Twice: a check's second run reads the clean file's cache entry (a name only: nothing is unpickled).
    for _ in range(2):
        code, loaded = _loaded(args, tmp_path)
        assert code == 0
        assert _outside_stdlib(loaded) == ours
        assert not never & loaded, sorted(never & loaded)


def test_a_candidate_file_does_load_the_engine(tmp_path: Path) -> None:
    """The test above can fail: a file with a finding needs LibCST."""
    (tmp_path / "legacy.py").write_text(
        "import torch\nfrom torch.autograd import Variable\nv = Variable(x)\n"
    )
    code, loaded = _loaded(["check", "legacy.py"], tmp_path)
    outside = _outside_stdlib(loaded)
    assert code == 1
    assert "libcst" in outside
    assert not outside <= CHECK
    # Through the loader that keeps LibCST's compiled methods.
    assert "varmigrate.pipeline.libcst_loader" in outside


@pytest.mark.parametrize(("mode", "fixer"), [("CHECK", False), ("DIFF", True)])
def test_a_check_loads_no_fixer(mode: str, fixer: bool) -> None:
    """Where a file is analysed (a worker), checking it imports the engine's analysis, not its fixer."""
    program = (
        "import sys\n"
        "from varmigrate.pipeline.job import Job, Mode\n"
        "from varmigrate.pipeline.single import process_bytes\n"
        "data = b'import torch\\nfrom torch.autograd import Variable\\nv = Variable(x)\\n'\n"
        f"result, fixed = process_bytes(data, 'legacy.py', Job(mode=Mode.{mode}))\n"
        "assert result.diagnostics or fixed\n"
        "print('varmigrate.engine.fixer' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(fixer)


@pytest.mark.parametrize("output_format", ["concise", "full"])
def test_findings_printed_to_a_pipe_need_no_rich(tmp_path: Path, output_format: str) -> None:
    """Findings that show no styles are written as rich would print them, without rich."""
    (tmp_path / "legacy.py").write_text(
        "import torch\nfrom torch.autograd import Variable\nv = Variable(x)\n"
    )
    code, loaded = _loaded(["check", "--output-format", output_format, "legacy.py"], tmp_path)
    assert code == 1
    assert "rich" not in {name.split(".")[0] for name in loaded}

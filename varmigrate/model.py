"""Findings, their fixes, file errors, output formats: plain data, no LibCST, no terminals.

The findings and their fixes (:class:`Diagnostic`, :class:`Fix`, :class:`Edit`) are defined in
``varmigrate.diagnostics`` and loaded from there on first use: a run no file of which reaches the engine
never creates those classes.

The records such a run does create, here and elsewhere (the configuration, the settings, the job, the
result, the report), are named tuples, or plain classes where they change, never dataclasses: importing
``dataclasses`` (with ``inspect``, ``ast`` and ``dis``) and generating each class's methods is start-up a
clean check would pay for nothing (``tests/test_startup.py`` keeps it out; figures in docs/speed.md).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, NamedTuple

from varmigrate._lazy import lazy_getattr

if TYPE_CHECKING:
    from varmigrate.diagnostics import Diagnostic, Edit, Fix

_FINDINGS = {name: "varmigrate.diagnostics" for name in ("Diagnostic", "Edit", "Fix")}

__getattr__ = lazy_getattr(__name__, _FINDINGS, globals())


class Applicability(enum.IntEnum):
    """How far a fix may be trusted; a higher value is more trustworthy.

    SAFE: values, dtype, device, requires_grad, is_leaf, storage sharing, gradients and comments are
    preserved for every input the old code accepted. UNSAFE: idiomatic, but may change behaviour; applied
    only with ``--unsafe-fixes``. DISPLAY_ONLY: shown to the user, never applied.
    """

    DISPLAY_ONLY = 0
    UNSAFE = 1
    SAFE = 2

    @property
    def label(self) -> str:
        """The spelling used in JSON output (ruff's)."""
        return self.name.lower().replace("_", "-")


class RuntimeCheck(enum.Enum):
    """A fact one run of the program can establish that makes an UNSAFE fix exact at its site.

    A rule names the check on an UNSAFE fix whose only risk is that fact (or on a DISPLAY_ONLY fix that
    is a guess without it: VM414's `dim=`); `varmigrate verify` observes the site while the original
    program runs and, when the fact held every time, applies the fix as a *verified* fix even without
    ``--unsafe-fixes``. A finding may offer several such fixes: the first whose check held is applied.
    """

    # `Variable(x)` -> `x`: exact when `x` was always a plain `torch.Tensor` that did not require grad.
    DATA_IS_PLAIN_NO_GRAD = "data-is-plain-no-grad"
    # `t.data[0]` -> `t.item()`: exact (in PyTorch 0.3's meaning) when `t` was always a 0-dim tensor.
    RECEIVER_IS_ZERO_DIM = "receiver-is-zero-dim"
    # `x.new(...)` -> `x.new_empty(...)` etc.: exact when `x` was always a `torch.Tensor` (or an
    # `nn.Parameter`, whose `new_*` give what its `new` gave), not another object with a `new` method.
    RECEIVER_IS_TENSOR = "receiver-is-tensor"
    # `x.type(torch.FloatTensor)` -> `x.float()`: exact when `x` was always a CPU `torch.Tensor` (or
    # `nn.Parameter`), not a CUDA tensor (which `.type` moved to the CPU) or an `nn.Module`.
    RECEIVER_IS_CPU_TENSOR = "receiver-is-cpu-tensor"
    # `F.softmax(x)` -> `F.softmax(x, dim=1)`: exact when `x` was always a tensor of 2 or 4-or-more
    # dims, for which PyTorch picks dim 1 (`torch.nn.functional._get_softmax_dim`).
    INPUT_RANK_PICKS_DIM_1 = "input-rank-picks-dim-1"
    # `F.softmax(x)` -> `F.softmax(x, dim=0)`: exact when `x` was always 0-, 1- or 3-dim.
    INPUT_RANK_PICKS_DIM_0 = "input-rank-picks-dim-0"


class Location(NamedTuple):
    """A 1-based row and 1-based column (in characters); ordered by row, then column, as tuples are."""

    row: int
    column: int

    def __str__(self) -> str:
        return f"{self.row}:{self.column}"


class OutputFormat(str, enum.Enum):
    """How findings are printed."""

    FULL = "full"
    CONCISE = "concise"
    JSON = "json"
    # One JSON object per line, printed as each file is done.
    JSON_LINES = "json-lines"
    # GitHub Actions workflow commands: annotations on the pull request.
    GITHUB = "github"
    SARIF = "sarif"

    @property
    def for_people(self) -> bool:
        """Whether the format is read by people (and so gets the summary), not by programs."""
        return self in (OutputFormat.FULL, OutputFormat.CONCISE)


# The code of a finding that reports varmigrate's own failure (a fix that would break the module).
INTERNAL_ERROR = "VM900"
# The code of the error that says a file's fixes were not applied because the fixed text would also
# differ elsewhere (text LibCST does not print back as it read it, that the engine could not keep).
FIX_REFUSED = "VM901"


class SourceParseError(Exception):
    """The source is not valid Python 3 (for example Python 2 `print x`)."""

    def __init__(self, message: str, row: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column

    def __str__(self) -> str:
        return f"{self.row}:{self.column}: {self.message}"


class FileError(NamedTuple):
    """A file that could not be read, decoded, parsed or written; ``location`` when known."""

    path: str
    message: str
    location: Location | None = None
    # In a notebook: the cell (1-based position among all cells) the location is relative to.
    cell: int | None = None

    def __str__(self) -> str:
        where = self.path if self.cell is None else f"{self.path}:cell {self.cell}"
        where = where if self.location is None else f"{where}:{self.location}"
        return f"{where}: {self.message}"


class ProjectImports(NamedTuple):
    """What imports between the modules of a project mean for one of them (the project view).

    Found by ``varmigrate.pipeline.project`` for the files of a run; plain, hashable data that reaches the
    engine in its settings. Empty for a module looked at alone.
    """

    # Names that are torch's `Variable` here because imports of the project's own modules bind them, each
    # with the module whose import of torch's `Variable` they come from (its path, relative to this
    # module's directory). A bare name is bound by a star import (`from model import *` gives `Variable`);
    # a dotted one is the qualified name a use of an explicit import has: `model.Variable` after
    # `from model import Variable` or `import model`, `.model.V` after `from .model import V`.
    variable: tuple[tuple[str, str], ...] = ()
    # The words such a name may be written as here (the local names and attributes).
    spellings: frozenset[str] = frozenset()
    # torch reaches this module only through the project's modules (a notebook that does `from main
    # import *`): it may hold findings without spelling `torch` or `autograd`.
    reaches_torch: bool = False
    # Names this module binds that other modules of the project import, by name or by a star import:
    # the import clean-up keeps the imports that bind them.
    imported_elsewhere: frozenset[str] = frozenset()

    @property
    def star_variables(self) -> frozenset[str]:
        """The names star imports of the project's modules bind to torch's `Variable` here."""
        return frozenset(name for name, _ in self.variable if "." not in name)

    @property
    def qualified_variables(self) -> frozenset[str]:
        """The qualified names of explicit imports that are torch's `Variable` here."""
        return frozenset(name for name, _ in self.variable if "." in name)


__all__ = [
    "FIX_REFUSED",
    "INTERNAL_ERROR",
    "Applicability",
    "Diagnostic",
    "Edit",
    "FileError",
    "Fix",
    "Location",
    "OutputFormat",
    "ProjectImports",
    "RuntimeCheck",
    "SourceParseError",
]

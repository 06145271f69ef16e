"""VM403: linear-algebra functions PyTorch removed (`torch.gesv`, `torch.potrf`, `torch.symeig`, ...)."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import QualifiedName, QualifiedNameProvider, QualifiedNameSource

from varmigrate.model import Applicability
from varmigrate.rules import nodes
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import FUNCTION_ONLY_LINALG, REMOVED_LINALG, RemovedLinalg

RENAME_TITLE = "Replace with `{function}(...)`"


class RemovedLinalgFunction(Rule):
    """
    ## What it does
    Flags calls of linear-algebra functions PyTorch has removed: `torch.gesv`, `torch.trtrs`,
    `torch.gels`, `torch.potrf`, `torch.potrs`, `torch.potri`, `torch.pstrf`, `torch.btrifact`,
    `torch.btrifact_with_info`, `torch.btrisolve`, `torch.btriunpack`, `torch.symeig`, `torch.eig`,
    `torch.lstsq`, `torch.solve` and `torch.matrix_rank`, and the tensor methods of the same names
    (`A.potrf()`) but for the common words `eig`, `solve`, `lstsq` and `matrix_rank`.

    ## Why is this bad?
    PyTorch 1.0 renamed most of them (`potrf` became `cholesky`, `gesv` became `solve`,
    `btrifact` became `lu`) and 1.2 removed the old names: they raise `AttributeError` today.
    `torch.linalg` (1.8) then replaced the renamed ones, whose calls raise `RuntimeError` since 1.13.
    The modern functions often take their arguments in another order or return fewer results:
    `torch.gesv(B, A)` returned `(X, LU)`, `torch.linalg.solve(A, B)` returns `X`.

    ## Example
    ```python
    import torch

    upper = torch.potrf(a)
    x = torch.potrs(b, upper)
    ```

    Use instead:
    ```python
    import torch

    upper = torch.linalg.cholesky(a, upper=True)
    x = torch.cholesky_solve(b, upper, upper=True)
    ```

    ## Fix safety
    A fix is offered, and is safe, only where the function PyTorch forwarded the old name to while
    deprecating it still exists with the same arguments and results: `torch.potrf` (whose
    `torch.cholesky(a, upper)` equals `torch.linalg.cholesky(a, upper=upper)`, gradients included),
    `torch.potrs` (`torch.cholesky_solve`), `torch.potri` (`torch.cholesky_inverse`) and
    `torch.btriunpack` (`torch.lu_unpack`). The old functions took the upper triangle by default
    and the new ones the lower, so the fix spells `upper=True` out. Elsewhere the message names
    the modern function and how it differs: the rewrite is yours.

    ## Known problems
    A file is looked at only where its text spells `torch.` and a removed name (`torch.potrf`):
    there, other spellings (`th.potrf` after `import torch as th`, `a.potrf()`) are found too, but
    a file that only has those is not reached. Methods (`a.potrf()`), calls with `*args`,
    `**kwargs` or a positional `out`, and calls of a name imported with `from torch import potrf`
    (an import that fails today; it is not flagged itself) are reported without a fix.
    `torch.solve`, `torch.eig`, `torch.lstsq` and `torch.matrix_rank` are found only as functions
    of torch, spelled so (not `th.solve`), by qualified name.
    """

    VALID = (
        Valid("import torch\nx = torch.linalg.solve(A, B)\n"),
        # A solver's own method of a common name.
        Valid("import torch\nx = solver.solve(b, A)\n"),
    )
    INVALID = (
        Invalid("import torch\nx, lu = torch.gesv(B, A)\n"),
        Invalid(
            "import torch\nu = torch.potrf(a, upper=False)\n",
            fixed="import torch\nu = torch.linalg.cholesky(a)\n",
        ),
        # A method is reported, never fixed.
        Invalid("import torch\nx, lu = torch.gesv(B, A)\nu = a.potrf()\n"),
    )

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        removed = REMOVED_LINALG.get(name) if isinstance(name, str) else None
        if removed is None:
            return
        message = f"`torch.{name}` was removed from PyTorch: use {removed.instead}"
        if self.resolves_to(func, {f"torch.{name}", f"torch.functional.{name}"}):
            # Through `from torch import potrf` the import itself fails today, and stays.
            replacement = self._exact(node, removed) if isinstance(func, cst.Attribute) else None
            if replacement is not None:
                title = RENAME_TITLE.format(function=nodes.code(replacement.func))
                fix = self.replace_with(node, replacement, title, Applicability.SAFE)
                self.report(node, message=message, fixes=[fix])
                return
            self.report(node, message=message)
        elif (
            isinstance(func, cst.Attribute) and name not in FUNCTION_ONLY_LINALG and not self._imported(func)
        ):
            self.report(node, message=f"`Tensor.{name}` was removed from PyTorch: use {removed.instead}")

    def _imported(self, func: cst.Attribute) -> bool:
        """Whether ``func`` is a function of an imported module other than torch (`scipy.linalg.potrf`)."""
        empty: set[QualifiedName] = set()
        names = self.ctx.metadata(QualifiedNameProvider, func, empty)
        return any(q.source is QualifiedNameSource.IMPORT and not q.name.startswith("torch.") for q in names)

    def _exact(self, node: cst.Call, removed: RemovedLinalg) -> cst.Call | None:
        """The call of the function PyTorch forwarded the old one to, or None when there is none."""
        parameters = removed.parameters
        positional = [arg for arg in node.args if arg.keyword is None]
        if removed.exact is None or any(arg.star for arg in node.args) or len(positional) > len(parameters):
            return None
        upper: cst.BaseExpression | None = cst.Name("True") if "upper" in parameters else None
        args: list[cst.Arg] = []
        for parameter, arg in zip(parameters, positional, strict=False):
            if parameter == "upper":
                upper = arg.value
            else:
                args.append(cst.Arg(value=arg.value))
        out = None
        for arg in node.args:
            key = nodes.keyword_name(arg)
            if key == "upper" and upper is not None:
                upper = arg.value
            elif key == "out":
                out = arg.value
            elif key in removed.same_keywords:
                args.append(nodes.keyword(key, arg.value))
            elif key is not None:
                # A data argument by its 0.3 name, which the new function spells differently.
                return None
        # The old functions' `upper` defaulted to True, the new ones' to False.
        if upper is not None and nodes.literal_bool(upper) is not False:
            args.append(nodes.keyword("upper", upper))
        if out is not None:
            args.append(nodes.keyword("out", out))
        return nodes.append_args(cst.Call(func=self.torch_attr(*removed.exact)), args)

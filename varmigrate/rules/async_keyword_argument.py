"""VM405: `t.cuda(async=True)`, a keyword PyTorch 0.4 renamed and Python 3.7 made a syntax error."""

from __future__ import annotations

import libcst as cst

from varmigrate.model import Applicability
from varmigrate.rules._base import Invalid, Rule, Valid
from varmigrate.rules.torch_api import NON_BLOCKING

RENAME_TITLE = "Rename to `non_blocking=`"


class AsyncKeywordArgument(Rule):
    """
    ## What it does
    Flags `async=` keyword arguments, as in `t.cuda(async=True)` and `t.to(device, async=True)`,
    in a file that fails to parse only because of them. The file is analysed as if they were
    `non_blocking=`, so every other rule reports and fixes it too.

    ## Why is this bad?
    Python 3.7 made `async` a reserved word, so a call with `async=` is a `SyntaxError`: the
    whole file fails to compile. PyTorch 0.4 renamed the keyword of `Tensor.cuda`, `Tensor.to`,
    `Tensor.type`, `Tensor.copy_` and `pin_memory`-era loaders to `non_blocking`, with the same
    meaning.

    ## Example
    ```python
    import torch

    inputs = inputs.cuda(async=True)
    ```

    Use instead:
    ```python
    import torch

    inputs = inputs.cuda(non_blocking=True)
    ```

    ## Fix safety
    The fix renames the keyword and is safe: it is the rename PyTorch 0.4 made (0.4 still took
    `async=` as an alias of `non_blocking=`). A file with any other syntax error is reported as a
    parse error, as before, and left alone.

    ## Known problems
    Every call's `async=` is renamed, torch's or not: a function of the project that read
    `kwargs["async"]` must be changed by hand. `async` as a parameter name (`def f(async=False)`)
    is a parse error, not a finding.

    A `# noqa` that suppresses this rule on the line of an `async=` keyword (`# noqa` or
    `# noqa: VM405`) makes the whole file a parse error again, reported as such and left as it is
    by `fix` too: the suppressed keyword would have to stay `async=` while the rest of the file is
    rewritten, and the result would still not compile. Whoever keeps that spelling (for a
    Python 3.6 interpreter) keeps the file as it is; drop the `noqa` to have the file fixed.
    """

    VALID = (
        Valid("import torch\nx = t.cuda(non_blocking=True)\n"),
        # A comparison with a name `async` could not be: the file does not parse at all, an error.
        Valid("import torch\nasync def load():\n    return await fetch(timeout=1)\n"),
    )
    INVALID = (
        Invalid(
            "import torch\nx = t.to(device, async=True)\n",
            fixed="import torch\nx = t.to(device, non_blocking=True)\n",
        ),
    )

    def visit_Arg(self, node: cst.Arg) -> None:
        keyword = node.keyword
        if keyword is None or keyword.value != NON_BLOCKING or not self.ctx.async_repairs:
            return
        position = self.range_of(keyword).start
        if self.ctx.offset(position.line, position.column) in self.ctx.async_repairs:
            # In the module as analysed the keyword already reads `non_blocking`; placed in the
            # original text, the edit replaces `async`.
            fix = self.replace_with(keyword, cst.Name(NON_BLOCKING), RENAME_TITLE, Applicability.SAFE)
            self.report(keyword, fixes=[fix])

"""The text prefilter: whether a module's text can hold a finding at all, before anything is parsed.

Standard library only: a file that fails it costs a few substring tests, and no parser is ever imported.

What a rule's findings need is in its catalog entry (:class:`~varmigrate.rules.RuleSpec`): every string
of ``requires`` somewhere in the text (and each of ``requires_words`` as a word), and then either a
match of ``pattern`` anywhere, or one of the
``triggers`` as a word outside strings and comments. Rules that ask the same (the four rules about
`Variable`) are asked once. The words are not looked for in a copy of the text with its strings and
comments blanked out, which costs a scan of every string and comment of every file that spells the word
anywhere (torch's docstrings do, often): each occurrence of a word is found with a literal search, and
the strings and comments are scanned only as far as the first occurrence that lies outside them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

from varmigrate.rules import DEFAULT_RULES, RuleSpec

if TYPE_CHECKING:
    import ast

    from varmigrate.diagnostics import Diagnostic

# What one or more rules need of a text: all of the strings (`requires`) and of the words
# (`requires_words`), then a match of the pattern or, when there is none, one of the words outside
# strings and comments.
_Test = tuple[tuple[str, ...], tuple[re.Pattern[str], ...], re.Pattern[str] | None, tuple[str, ...]]


def could_match(
    source: str,
    rules: Iterable[RuleSpec] = DEFAULT_RULES,
    *,
    within: str | None = None,
    examples: bool = False,
) -> bool:
    """Cheap text prefilter: whether ``source`` can hold a finding of any of ``rules``.

    ``within``, when given, is the whole program ``source`` is part of (where the ``requires`` strings may
    be). With ``examples``, the code of the doctest examples in ``source``'s strings counts as code too;
    they are looked for only when a rule's word is in the text but in no code.
    """
    program = source if within is None else within
    words: set[str] = set()
    for requires, required_words, pattern, triggers in _tests(tuple(rules)):
        if not all(required in program for required in requires):
            continue
        if not all(word.search(source) for word in required_words):
            continue
        if pattern is not None:
            if pattern.search(source):
                return True
        else:
            words.update(word for word in triggers if word in source)
    if not words:
        return False
    found = frozenset(words)
    if _word_in_code(source, found):
        return True
    return examples and ">>>" in source and _word_in_code(example_code(source), found)


# Trees CPython's parse gave the first stage for texts that go on to the second stage, which parses them
# again: each is handed out once, by its text, to the next parse of that text (in this process, or in a
# worker forked after it was kept). See `keep_tree`.
_KEPT: dict[str, ast.Module] = {}
# How much source the kept trees may come from: CPython's tree takes about 80 times the memory of its
# source.
KEPT_TREES_CHARACTERS = 512 * 1024


def keep_tree(source: str, tree: ast.Module) -> None:
    """Have the next `parse_ast` of ``source`` return ``tree`` (nobody changes a tree once parsed), while
    the trees kept come from `KEPT_TREES_CHARACTERS` of source at most."""
    if kept_size() + len(source) <= KEPT_TREES_CHARACTERS:
        _KEPT[source] = tree


def kept_size() -> int:
    """How many characters of source the kept trees were parsed from."""
    return sum(map(len, _KEPT))


def forget_trees() -> None:
    """Drop the trees kept for later parses (those a forked worker needs, it has a copy of)."""
    _KEPT.clear()


def parse_ast(source: str) -> ast.Module | None:
    """CPython's parse of ``source`` (no compilation), or None when CPython rejects it."""
    kept = _KEPT.pop(source, None)
    if kept is not None:
        return kept
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            # Invalid escape sequences and the like are the user's business, not a finding of ours.
            warnings.simplefilter("ignore")
            tree = compile(source, "<source>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    assert isinstance(tree, ast.Module)
    return tree


def lines_agree(source: str) -> bool:
    """Whether CPython and LibCST end the lines of ``source`` alike: a lone carriage return ends a line
    for LibCST, not for CPython."""
    return "\r" not in source or source.count("\r") == source.count("\r\n")


def shaped_out(source: str, rules: Iterable[RuleSpec] = DEFAULT_RULES, *, keep: bool = False) -> bool:
    """Whether CPython's parse of ``source`` shows that none of ``rules`` has a finding in it.

    The second look, after the text's (`could_match`): asked only of a text every rule of which that
    the text passes has a known shape (`varmigrate.rules.shapes`: `.data[0]` and `.numpy()[0]`, common
    in modern code), and no doctest example, which CPython's parse would not see as code. With ``keep``,
    a parse that leaves a finding possible is kept for the next parse of ``source`` (`keep_tree`).
    """
    from varmigrate.rules.shapes import has_shape, shaped_rules

    if ">>>" in source:
        return False
    possible = possible_rules(source, rules)
    if not possible or not all(has_shape(rule) for rule in possible):
        return not possible
    tree = parse_ast(source) if lines_agree(source) else None
    if tree is None:
        return False
    if shaped_rules(source, tree, possible):
        if keep:
            keep_tree(source, tree)
        return False
    return True


def settled_check(source: str, rules: Iterable[RuleSpec] = DEFAULT_RULES) -> list[Diagnostic] | None:
    """The findings of ``rules`` in ``source`` (after `# noqa`, sorted by position), when CPython's parse
    settles all of them without LibCST (`varmigrate.rules.settled`); else None, and the parse it took
    is kept for the next (`keep_tree`).

    Asked of a `.py` text that a check sends on (no doctest examples: CPython's parse would not see
    them as code): the rules it passes must all have a known shape.
    """
    from varmigrate.rules.settled import SETTLED_RULE, settled_findings
    from varmigrate.rules.shapes import has_shape, shaped_rules

    possible = possible_rules(source, rules)
    if not any(rule.code == SETTLED_RULE for rule in possible) or not all(map(has_shape, possible)):
        return None
    if ">>>" in source or not lines_agree(source):
        return None
    tree = parse_ast(source)
    if tree is None:
        return None
    found = settled_findings(source, tree, shaped_rules(source, tree, possible))
    if found is None:
        keep_tree(source, tree)
        return None
    from varmigrate.noqa import reported

    return reported(found, source)


def possible_rules(source: str, rules: Iterable[RuleSpec]) -> tuple[RuleSpec, ...]:
    """The rules of ``rules`` that ``source`` can hold a finding of: each rule that `could_match` passes
    alone (rules that ask the same are asked once). The others have no finding in ``source``."""
    answers: dict[_Key, bool] = {}
    possible = []
    for rule in rules:
        key = _key(rule)
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = could_match(source, (rule,))
        if answer:
            possible.append(rule)
    return tuple(possible)


# What a rule's prefilter asks: `requires`, `requires_words`, `pattern`, and `triggers` when no pattern.
_Key = tuple[tuple[str, ...], tuple[str, ...], str | None, tuple[str, ...]]


def _key(rule: RuleSpec) -> _Key:
    """What ``rule``'s prefilter asks of a text (rules with equal keys pass or fail together)."""
    return rule.requires, rule.requires_words, rule.pattern, () if rule.pattern is not None else rule.triggers


@cache
def _tests(rules: tuple[RuleSpec, ...]) -> tuple[_Test, ...]:
    """The distinct tests ``rules`` ask for (rules with the same prefilter share one)."""
    tests = {_key(rule): None for rule in rules}
    return tuple(
        (
            requires,
            tuple(_bounded((word,)) for word in required_words),
            None if pattern is None else re.compile(pattern),
            words,
        )
        for requires, required_words, pattern, words in tests
    )


def _word_in_code(source: str, words: frozenset[str]) -> bool:
    """Whether one of ``words`` occurs in ``source`` as a word (``\\bword\\b``) outside strings and comments.

    That is, in the text with every string and comment replaced by a space. An occurrence of a word made
    of word characters only lies wholly inside one string or comment or outside them all (it holds no
    quote, `#` or line break), and a space is no more a word character than the quote or `#` it stands
    for: such words are found in the text itself. Others are looked for in the blanked-out text.
    """
    plain = tuple(sorted(word for word in words if _word().fullmatch(word)))
    others = tuple(sorted(words.difference(plain)))
    if others and _bounded(others).search(strings_and_comments().sub(" ", source)):
        return True
    if not plain:
        return False
    bounded = _bounded(plain)
    hidden = strings_and_comments().finditer(source)
    # The first string or comment that ends after the start of the occurrence being looked at.
    hidden_start = hidden_end = -1
    # A literal search finds every occurrence that can be a word: one it steps over starts inside an
    # earlier occurrence, right after a word character.
    for occurrence in _literal(plain).finditer(source):
        start, end = occurrence.span()
        if not bounded.match(source, start):
            continue
        while hidden_end <= start:
            following = next(hidden, None)
            if following is None:
                return True
            hidden_start, hidden_end = following.span()
        if hidden_start >= end:
            return True
    return False


@cache
def _word() -> re.Pattern[str]:
    """A run of word characters (compiled on first use, as the patterns below: a file no rule's words are
    in needs none of them)."""
    return re.compile(r"\w+")


@cache
def strings_and_comments() -> re.Pattern[str]:
    """Strings and comments, matched left to right (compiled on first use: most files need no scan).

    A quote in a comment or a `#` in a string is consumed by the construct that starts first. A
    triple-quoted string runs to the first closing triple quote, backslashes or not; a one-quoted one to
    its closing quote on the same line, over escapes; a comment to the end of the line. Written as
    unrolled loops (runs of ordinary characters between the special ones), every character has one way
    to be consumed: the matches of the lazy `("{3}|'{3}).*?\\1`, about five times as fast. Only used to
    prefilter, never to decide a finding.
    """
    return re.compile(
        "|".join(
            (
                r'"""[^"]*(?:"(?!"")[^"]*)*"""',
                r"'''[^']*(?:'(?!'')[^']*)*'''",
                r'"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"',
                r"'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'",
                r"#[^\r\n]*",
            )
        ),
        re.DOTALL,
    )


@cache
def _literal(words: tuple[str, ...]) -> re.Pattern[str]:
    """``word\\b`` for each of ``words``: a literal search, as fast as ``str.find``."""
    return re.compile(r"(?:" + "|".join(re.escape(word) for word in words) + r")\b")


@cache
def _bounded(words: tuple[str, ...]) -> re.Pattern[str]:
    """``\\bword\\b`` for each of ``words``."""
    return re.compile(r"\b(?:" + "|".join(re.escape(word) for word in words) + r")\b")


@cache
def _examples() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """A `>>>` prompt with the rest of its line and the `...` lines that go on with it (a doctest example),
    and the line break and prompt of one of those `...` lines."""
    example = re.compile(r">>>(?: ([^\r\n]*))?((?:(?:\r\n|\r|\n)[ \t]*\.\.\.(?: [^\r\n]*)?)*)")
    return example, re.compile(r"(?:\r\n|\r|\n)[ \t]*\.\.\. ?")


def could_match_examples(source: str, rules: Iterable[RuleSpec] = DEFAULT_RULES) -> bool:
    """Whether the doctest examples in ``source`` (its ``>>>`` lines, in docstrings say) can hold a finding
    of ``rules``; the ``requires`` strings may be anywhere in ``source``. Without ``>>>``: one substring
    test."""
    return ">>>" in source and could_match(example_code(source), rules, within=source)


def example_code(source: str) -> str:
    """The code of the ``>>>`` examples in ``source``, a line each (continuations joined by line breaks)."""
    example, continuation = _examples()
    return "\n".join(
        (found[1] or "") + continuation.sub("\n", found[2]) for found in example.finditer(source)
    )

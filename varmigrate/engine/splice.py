"""What LibCST prints, spliced into the text it parsed: no byte outside a change is LibCST's.

LibCST does not print every module back as it read it (``parse_module(s).code != s``): it drops a
byte order mark, a form feed in a statement's indentation (and gives every line of a block the
indentation of its first), a line that is only a backslash continuation, the last line when it is
only whitespace, and the last lone carriage return. So printed text never replaces the original
wholesale: :func:`merge` carries the changes between LibCST's printing before and after a
transformation over to the original (a three-way merge), :class:`Alignment` maps positions in the
printing into the original, and :class:`Ledger` lets the fixer check, at the end, that every byte
outside the changes it made is the original's.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

# A line and its line break: CRLF, LF or a lone CR (never `str.splitlines`, which also splits on form
# feeds, vertical tabs, file separators, U+2028...).
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTINUATION = re.compile(r"\\[\r\n]")

# (start, end, text): replace ``text[start:end]`` of the text a change applies to with ``text``.
Change = tuple[int, int, str]
# A row (1-based) of a text -> its row in the text after some changes and how far its offsets moved;
# None for a row the changes touched.
Shift = Callable[[int], "tuple[int, int] | None"]


class UnpreservedText(Exception):
    """A change would reach outside the spans that were meant to change (``offset`` in ``text``)."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(f"a change at offset {offset} is outside the spans meant to change")
        self.text = text
        self.offset = offset


def may_differ(source: str) -> bool:
    """Whether LibCST may print ``source`` differently from it (False: it prints it back as it is).

    What LibCST 1.x was seen to print differently when the fixtures were fuzzed with whitespace and
    line breaks (see the module docstring). Where a whole module is printed, a miss makes the fixer
    refuse to write; positions of findings would be off by what LibCST left out.
    """
    return (
        "\x0c" in source
        or source.startswith("\ufeff")
        or source.endswith(("\r", " ", "\t"))
        or ("\\" in source and _has_backslash_line(source))
    )


def _has_backslash_line(source: str) -> bool:
    """Whether a line of ``source`` is only whitespace and a backslash continuation."""
    for match in _CONTINUATION.finditer(source):
        position = match.start()
        while position and source[position - 1] in " \t\x0c":
            position -= 1
        if not position or source[position - 1] in "\r\n":
            return True
    return False


def line_starts(text: str) -> list[int]:
    """The offset where each line of ``text`` starts (an empty last line too, after a final line break)."""
    return [0, *(match.end() for match in _LINE_BREAK.finditer(text))]


def row_shift(text: str, changes: Iterable[Change]) -> Shift:
    """How the rows of ``text`` move when ``changes`` (not overlapping) are made to it.

    A row a change touches is gone (None), save the row that whole inserted lines go before: it moves.
    """
    starts = line_starts(text)
    # First and last row touched (0-based; last < first for lines inserted before the first), the rows
    # and characters added.
    spans: list[list[int]] = []
    for start, end, content in sorted(changes):
        first = bisect.bisect_right(starts, start) - 1
        last = bisect.bisect_right(starts, max(start, end - 1)) - 1
        if start == end and starts[first] == start and content.endswith(("\n", "\r")):
            last = first - 1
        rows = len(_LINE_BREAK.findall(content)) - len(_LINE_BREAK.findall(text, start, end))
        chars = len(content) - (end - start)
        if spans and first <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], last)
            spans[-1][2] += rows
            spans[-1][3] += chars
        else:
            spans.append([first, last, rows, chars])

    firsts = [span[0] for span in spans]
    # Rows and characters added up to the end of each span.
    moves: list[tuple[int, int]] = []
    for _, _, rows, chars in spans:
        before = moves[-1] if moves else (0, 0)
        moves.append((before[0] + rows, before[1] + chars))

    def shift(row: int) -> tuple[int, int] | None:
        index = bisect.bisect_right(firsts, row - 1)
        if not index:
            return row, 0
        if row - 1 <= spans[index - 1][1]:
            return None
        rows, chars = moves[index - 1]
        return row + rows, chars

    return shift


def _matching_blocks(a: str, b: str) -> list[tuple[int, int, int]]:
    """The runs of characters ``a`` and ``b`` share, in order: (start in ``a``, start in ``b``, length).

    Lines are matched first; characters only within the lines that differ.
    """
    a_lines, b_lines = LINE.findall(a), LINE.findall(b)
    a_at = [0, *itertools.accumulate(map(len, a_lines))]
    b_at = [0, *itertools.accumulate(map(len, b_lines))]
    # The lines both begin and end with need no matcher (it is quadratic in the worst case).
    head = common_prefix(a_lines, b_lines)
    tail = common_prefix(a_lines[head:][::-1], b_lines[head:][::-1])
    a_end, b_end = len(a_lines) - tail, len(b_lines) - tail
    blocks = [(0, 0, a_at[head])]
    lines = SequenceMatcher(None, a_lines[head:a_end], b_lines[head:b_end], autojunk=False)
    for tag, i1, i2, j1, j2 in lines.get_opcodes():
        a1, a2, b1, b2 = a_at[head + i1], a_at[head + i2], b_at[head + j1], b_at[head + j2]
        if tag == "equal":
            blocks.append((a1, b1, a2 - a1))
        elif tag == "replace":
            characters = SequenceMatcher(None, a[a1:a2], b[b1:b2], autojunk=False)
            blocks.extend((a1 + i, b1 + j, size) for i, j, size in characters.get_matching_blocks())
    blocks.append((a_at[a_end], b_at[b_end], len(a) - a_at[a_end]))
    return [block for block in blocks if block[2]]


def common_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    """How many items ``a`` and ``b`` begin with alike."""
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return size


class Alignment:
    """Offsets in LibCST's printing of a text -> offsets in the text (``printed`` and ``text`` differ)."""

    def __init__(self, printed: str, text: str) -> None:
        self._blocks = _matching_blocks(printed, text)
        self._starts = [start for start, _, _ in self._blocks]
        self._length = len(text)

    def start(self, offset: int) -> int:
        """Where the character at ``offset`` is (the next one the text has, when only the printing has it)."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if index >= 0:
            start, other, size = self._blocks[index]
            if offset < start + size:
                return other + offset - start
        return self._blocks[index + 1][1] if index + 1 < len(self._blocks) else self._length

    def end(self, offset: int) -> int:
        """Where a span ending at ``offset`` ends (after the last character before it the text has)."""
        index = bisect.bisect_right(self._starts, offset - 1) - 1
        if index < 0:
            return 0
        start, other, size = self._blocks[index]
        return other + min(offset - start, size)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Where the span ``start``-``end`` of the printing is (an empty one stays empty)."""
        first = self.start(start)
        return first, (max(first, self.end(end)) if end > start else first)


@dataclass(frozen=True)
class Merged:
    """The original text with a transformation's changes, and those changes (offsets in the original)."""

    text: str
    changes: list[Change]


def merge(original: str, base: str, theirs: str, regions: Sequence[tuple[int, int]] | None = None) -> Merged:
    """``original`` with the changes that turn ``base`` (LibCST's printing of it) into ``theirs``.

    Where only the original differs from the printing, the original is kept; where only ``theirs``
    does, ``theirs`` is taken. Where both do, what only the original has (a page break before a
    removed line) and what only ``theirs`` has stay, in order, and the rest goes. ``regions``
    (offsets in ``base``) are where changes may be: :class:`UnpreservedText` says ``theirs``
    differs from ``base`` elsewhere.
    """
    if regions is not None and (outside := _first_outside(base, theirs, regions)) is not None:
        where = Alignment(base, original).start(outside) if base != original else outside
        raise UnpreservedText(original, where)
    ours = [(0, 0, len(base))] if base == original else _matching_blocks(base, original)
    others = _matching_blocks(base, theirs)
    parts: list[str] = []
    changes: list[Change] = []
    b = o = t = 0  # where the part before the next stable run starts, in base, original (ours), theirs
    for stable, stable_end, o_stable, t_stable in _stable(
        ours, others, (len(base), len(original), len(theirs))
    ):
        before, mine, their = base[b:stable], original[o:o_stable], theirs[t:t_stable]
        if their in (before, mine):
            new = mine
        elif mine == before:
            new = their
        else:
            runs = [(*run, 0) for run in _own_runs(ours, b, stable, original, o, o_stable)]
            runs += [(*run, 1) for run in _own_runs(others, b, stable, theirs, t, t_stable)]
            new = "".join(text for _, text, _ in sorted(runs, key=lambda run: (run[0], run[2])))
        if new != mine:
            same = common_prefix(mine, new)
            rest = common_prefix(mine[same:][::-1], new[same:][::-1])
            changes.append((o + same, o_stable - rest, new[same : len(new) - rest]))
        size = stable_end - stable
        parts.extend((new, original[o_stable : o_stable + size]))
        b, o, t = stable_end, o_stable + size, t_stable + size
    return Merged("".join(parts), changes)


def _stable(
    ours: Sequence[tuple[int, int, int]], theirs: Sequence[tuple[int, int, int]], ends: tuple[int, int, int]
) -> Iterable[tuple[int, int, int, int]]:
    """The runs of the base both others kept, in order: (start, end in base, start in ours, in theirs).

    Ends with the empty run at the end of all three.
    """
    i = j = 0
    while i < len(ours) and j < len(theirs):
        a_base, a_other, a_size = ours[i]
        b_base, b_other, b_size = theirs[j]
        start, end = max(a_base, b_base), min(a_base + a_size, b_base + b_size)
        if start < end:
            yield start, end, a_other + start - a_base, b_other + start - b_base
        if a_base + a_size < b_base + b_size:
            i += 1
        else:
            j += 1
    yield ends[0], ends[0], ends[1], ends[2]


def _clipped(blocks: Sequence[tuple[int, int, int]], start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The parts of ``blocks`` within base's ``start``-``end``: (start, end in base, start in the other)."""
    first = max(bisect.bisect_right(blocks, start, key=lambda block: block[0]) - 1, 0)
    for base_at, other_at, size in itertools.islice(blocks, first, None):
        if base_at >= end:
            break
        low, high = max(base_at, start), min(base_at + size, end)
        if low < high:
            yield low, high, other_at + low - base_at


def _own_runs(
    blocks: Sequence[tuple[int, int, int]], start: int, end: int, other: str, other_start: int, other_end: int
) -> list[tuple[int, str]]:
    """The runs of ``other[other_start:other_end]`` that match none of base's ``start``-``end``.

    Each comes with where it goes in base: after the last base character matched before it.
    """
    runs: list[tuple[int, str]] = []
    anchor, position = start, other_start
    for low, high, at in _clipped(blocks, start, end):
        if at > position:
            runs.append((anchor, other[position:at]))
        anchor, position = high, at + high - low
    if other_end > position:
        runs.append((anchor, other[position:other_end]))
    return runs


def _first_outside(base: str, theirs: str, regions: Iterable[tuple[int, int]]) -> int | None:
    """Where ``theirs`` first fails to keep ``base``'s text outside ``regions`` (None: it keeps all of it).

    The kept text must be there in order, with anything between: each piece is looked for after
    the last, so that no way of telling the changes apart (a removed line among equal ones) is missed.
    """
    kept: list[tuple[int, int]] = []
    position = 0
    for start, end in sorted(regions):
        if start >= position:
            kept.append((position, start))
        position = max(position, end)
    kept.append((position, len(base)))
    first, last = kept[0], kept[-1]
    head, tail = base[first[0] : first[1]], base[last[0] : last[1]]
    if not theirs.startswith(head):
        return common_prefix(head, theirs)
    if len(kept) == 1:
        return None if theirs == head else len(theirs)
    if not theirs.endswith(tail) or len(head) + len(tail) > len(theirs):
        return last[0]
    at, limit = len(head), len(theirs) - len(tail)
    for start, end in kept[1:-1]:
        found = theirs.find(base[start:end], at, limit)
        if found < 0:
            return start
        at = found + end - start
    return None


class Ledger:
    """A text through a series of changes: pieces kept from the original (offsets in it) and new text."""

    def __init__(self, original: str) -> None:
        self.original = original
        self._pieces: list[tuple[int, int] | str] = [(0, len(original))] if original else []

    @property
    def text(self) -> str:
        """The text after the changes so far."""
        return "".join(p if isinstance(p, str) else self.original[p[0] : p[1]] for p in self._pieces)

    def apply(self, changes: Iterable[Change]) -> None:
        """Make ``changes`` (offsets in the text so far, in order, not overlapping)."""
        starts = self._starts()
        pieces: list[tuple[int, int] | str] = []
        position = 0
        for start, end, text in changes:
            pieces.extend(self._slice(starts, position, start))
            if text:
                pieces.append(text)
            position = end
        pieces.extend(self._slice(starts, position, starts[-1]))
        self._pieces = pieces

    def original_offset(self, offset: int) -> int:
        """Where ``offset`` of the text so far was in the original (new text: where it was put)."""
        starts = self._starts()
        index = bisect.bisect_right(starts, offset) - 1
        kept = 0
        for piece, start in zip(self._pieces[: index + 1], starts, strict=False):
            if not isinstance(piece, str):
                kept = piece[0] + min(offset - start, piece[1] - piece[0])
        return kept

    def _starts(self) -> list[int]:
        lengths = (len(p) if isinstance(p, str) else p[1] - p[0] for p in self._pieces)
        return [0, *itertools.accumulate(lengths)]

    def _slice(self, starts: Sequence[int], start: int, end: int) -> list[tuple[int, int] | str]:
        """The pieces of the text so far between offsets ``start`` and ``end``."""
        found: list[tuple[int, int] | str] = []
        index = max(bisect.bisect_right(starts, start) - 1, 0)
        while index < len(self._pieces) and starts[index] < end:
            piece, offset = self._pieces[index], starts[index]
            low, high = max(start - offset, 0), min(end, starts[index + 1]) - offset
            if low < high:
                found.append(piece[low:high] if isinstance(piece, str) else (piece[0] + low, piece[0] + high))
            index += 1
        return found

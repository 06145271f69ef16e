"""console.py: styled text is written as it is where rich would print it unchanged, else through rich."""

from __future__ import annotations

import io
import random

import pytest

from varmigrate.output.console import Stream, Styled, make_console

# Pieces that rich prints as given, and those it changes (control codes it strips, tabs it expands,
# whitespace it trims at the end of a line wider than the console).
PLAIN = ["a = Variable(x)", "名前", "é", "\u200b", "\x1b[31m", "\x00", "\x7f", "[bold]", ":smile:", "😀"]
PLAIN.append("\n")
CHANGED = ["\t", "\r", "\a", "\b", "\v", "\f", "   ", "\u00a0", "\u3000"]
STYLES = ["", "bold", "bold red", "cyan"]


def rich_prints(text: Styled) -> str:
    """What a rich console over a file, showing no styles, prints of ``text``."""
    buffer = io.StringIO()
    make_console(file=buffer, no_color=True).print(text.rich())
    return buffer.getvalue()


def stream_prints(text: Styled) -> str:
    buffer = io.StringIO()
    Stream(file=buffer, no_color=True).styled(text)
    return buffer.getvalue()


def random_text(rng: random.Random) -> Styled:
    text = Styled()
    for _ in range(rng.randint(0, 5)):
        length = rng.choice([3, 30, 100])
        pieces = PLAIN * 4 + CHANGED if rng.random() < 0.5 else PLAIN
        text.append("".join(rng.choice(pieces) for _ in range(length)), rng.choice(STYLES))
    return text


def test_a_stream_prints_what_rich_prints() -> None:
    rng = random.Random(20261201)
    written_as_given = 0
    for _ in range(1500):
        text = random_text(rng)
        assert stream_prints(text) == rich_prints(text), repr(text.plain)
        written_as_given += text.printed_as_given()
    # Both ways were taken.
    assert 300 < written_as_given < 1200


@pytest.mark.parametrize(
    "plain",
    [
        "a\tb",
        "line\r",
        "x" * 120 + "   ",
        "ends in a space \nnext",
        "bell\a",
        "wide\u3000",
    ],
)
def test_text_rich_would_change_goes_through_rich(plain: str) -> None:
    text = Styled(plain, "bold")
    assert not text.printed_as_given()
    assert stream_prints(text) == rich_prints(text)


def test_styles_shown_on_a_forced_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    buffer = io.StringIO()
    Stream(file=buffer).styled(Styled("VM001", "bold red"))
    assert buffer.getvalue() != "VM001\n"
    assert "\x1b[" in buffer.getvalue()


def test_styled_pieces() -> None:
    text = Styled("a", "bold")
    text.append("")
    text.append("b")
    assert text.pieces == [("a", "bold"), ("b", "")]
    assert text.plain == "ab"
    assert str(text.rich()) == "ab"

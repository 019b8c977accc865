"""Normalisation for the template linter, keeping a map from every normalised character back to the
original text.

The normalised text is what the lexicon rules match on:

* NFKC (full-width → half-width, circled letters, ligatures), lower case, Cyrillic/Greek look-alikes →
  Latin, traditional → simplified Chinese (OpenCC t2s, per character), capital numerals (壹贰…) → digits;
* separators between Chinese characters are dropped (``老 赖``, ``老*赖``, ``後.果.自.負`` → ``老赖``,
  ``后果自负``), and so are emoji, zero-width characters and combining marks;
* Latin text keeps one space between words; punctuation inside a word is dropped (``dead-beat``,
  ``l*o*s*e*r``), runs of letters spaced out one by one are joined (``d e a d b e a t``; a wider gap between
  the groups keeps the word boundary: ``w a t c h   y o u r``), leetspeak is undone inside words
  (``d3adb34t``, ``$cum``; ``1``/``!``/``|`` become :data:`AMBIGUOUS_IL`, which rules read as *i* or *l*), and
  repeated letters are squeezed to one (``looooser`` → ``loser``; rules are squeezed the same way);
* a sentence break (``。！？!?；;``, newline, ``.`` before a space) becomes :data:`BREAK`, unless the text on
  either side is shorter than two characters (so punctuation inserted between single characters is not a
  sentence break).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache

from opencc import OpenCC  # type: ignore[import-untyped]

__all__ = ["AMBIGUOUS_IL", "BREAK", "Normalized", "is_cjk", "normalize"]

BREAK = "|"
#: What ``1``, ``!`` and ``|`` inside a Latin word become: ``1d10t`` is "idiot", ``l0s3r``/``1oser`` "loser".
AMBIGUOUS_IL = "_"

_LEET = {
    "0": "o",
    "1": AMBIGUOUS_IL,
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "$": "s",
    "@": "a",
    "!": "_",
    "|": "_",
}
_LEET_SYMBOLS = frozenset("$@!|")
_SENTENCE = frozenset("。！？!?；;\n\r…")
_CAPITAL_NUMERALS = dict(zip("零壹贰叁肆伍陆柒捌玖", "0123456789", strict=True))
_VARIANTS = {"妳": "你", "祢": "你", "袮": "你", "亇": "个"}
# Cyrillic and Greek letters that look like Latin ones ("lоser" with a Cyrillic о).
_CONFUSABLES = dict(
    zip("авсеһіјкмнорѕтухԁɡαβεικνορτυχ", "abceh" + "ijkmhopstyxdg" + "abeiknoptux", strict=True)
)

_T2S = OpenCC("t2s")


def is_cjk(ch: str) -> bool:
    """A Chinese character (the unified ideograph blocks)."""
    o = ord(ch)
    return 0x3400 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x3134F


@lru_cache(maxsize=8192)
def _fold(ch: str) -> str:
    """One original character → its folded form (possibly several characters or none)."""
    out = []
    for c in unicodedata.normalize("NFKC", ch) if not ch.isascii() else ch:
        if is_cjk(c):
            c = _VARIANTS.get(c, c)
            s = _T2S.convert(c)
            c = s if len(s) == 1 else c
            c = _CAPITAL_NUMERALS.get(c, c)
            out.append(c)
            continue
        for lc in c.lower():
            out.append(_CONFUSABLES.get(lc, lc))
    return "".join(out)


@dataclass(frozen=True)
class Normalized:
    """The normalised text and, for each of its characters, the original ``[start, end)``."""

    text: str
    start: tuple[int, ...]
    end: tuple[int, ...]
    #: Indices of :data:`BREAK` in ``text``, ascending.
    breaks: tuple[int, ...]
    #: ``[a, b)`` ranges of ``text`` that were letters spaced out one by one and joined into one word.
    spaced: tuple[tuple[int, int], ...]

    def original_span(self, i: int, j: int) -> tuple[int, int]:
        """The original span of normalised ``[i, j)`` (``j > i``)."""
        return self.start[i], self.end[j - 1]

    def sentence(self, i: int, j: int) -> tuple[int, int]:
        """The normalised ``[a, b)`` of the sentence that holds ``[i, j)``."""
        k = bisect_right(self.breaks, i) - 1
        a = self.breaks[k] + 1 if k >= 0 else 0
        m = bisect_left(self.breaks, j)
        b = self.breaks[m] if m < len(self.breaks) else len(self.text)
        return a, b


# An atom: one folded character, its original index and its class:
# H Chinese, A letter/digit, Y leet symbol, W whitespace, B sentence break, X anything else (dropped).
_Atom = tuple[str, int, str]


def _classify(folded: list[tuple[str, int]]) -> list[_Atom]:
    atoms: list[_Atom] = []
    n = len(folded)
    for idx, (c, k) in enumerate(folded):
        prev = folded[idx - 1][0] if idx > 0 else " "
        nxt = folded[idx + 1][0] if idx + 1 < n else " "
        if is_cjk(c):
            kind = "H"
        elif c.isalnum():
            kind = "A"
        elif c.isspace():
            kind = "B" if c in "\n\r" else "W"
        elif (
            c in _LEET_SYMBOLS and (prev.isalnum() or nxt.isalnum()) and not is_cjk(prev) and not is_cjk(nxt)
        ):
            # "sh!t", "$cum", "l|ar"; but "!" ending a sentence before a space stays a sentence break.
            kind = "B" if c == "!" and not nxt.isalnum() else "Y"
        elif c in _SENTENCE or (c == "." and (nxt.isspace() or is_cjk(nxt) or idx + 1 == n)):
            kind = "B"
        else:
            kind = "X"
        atoms.append((c, k, kind))
    return atoms


@dataclass
class _Word:
    """A Latin word: its atoms (character, original index)."""

    atoms: list[tuple[str, int]]
    gap: int  # whitespace characters before the word (0 after anything but whitespace)
    spaced: bool = False


@dataclass(frozen=True)
class _Han:
    char: str
    index: int


@dataclass(frozen=True)
class _Break:
    index: int


_Unit = _Word | _Han | _Break


def _units(atoms: list[_Atom]) -> list[_Unit]:
    units: list[_Unit] = []
    word: _Word | None = None
    ws = xs = 0  # whitespace and dropped characters since the last kept one
    for c, k, kind in atoms:
        if kind in "AY":
            if word is not None and ws == 0:
                word.atoms.append((c, k))  # only dropped punctuation since: the same word ("dead-beat")
            else:
                gap = ws if xs == 0 and units and isinstance(units[-1], _Word) else 0
                word = _Word([(c, k)], gap)
                units.append(word)
        elif kind == "H":
            units.append(_Han(c, k))
            word = None
        elif kind == "B":
            units.append(_Break(k))
            word = None
        elif kind == "W":
            ws += 1
            word = None
            continue
        else:  # X: dropped
            xs += 1
            continue
        ws = xs = 0
    return units


def _single(unit: _Unit) -> bool:
    return isinstance(unit, _Word) and len(unit.atoms) == 1


def _join_spaced(units: list[_Unit]) -> list[_Unit]:
    """Join runs of three or more one-character words separated by whitespace only."""
    out: list[_Unit] = []
    i = 0
    while i < len(units):
        if not _single(units[i]):
            out.append(units[i])
            i += 1
            continue
        j = i + 1
        while j < len(units):
            u = units[j]
            if not (isinstance(u, _Word) and len(u.atoms) == 1 and u.gap):
                break
            j += 1
        run = [u for u in units[i:j] if isinstance(u, _Word)]
        if len(run) < 3 or not any(w.atoms[0][0].isalpha() for w in run):
            out.extend(units[i:j])
            i = j
            continue
        # Wider gaps than the narrowest one separate words ("w a t c h   y o u r").
        narrow = min(w.gap for w in run[1:])
        groups: list[_Word] = [_Word(list(run[0].atoms), run[0].gap)]
        for w in run[1:]:
            if w.gap > narrow:
                groups.append(_Word(list(w.atoms), w.gap))
            else:
                groups[-1].atoms.extend(w.atoms)
        if len(groups) == 1:
            groups[0].spaced = True
        out.extend(groups)
        i = j
    return out


def _is_leet(word: _Word, leet_mode: bool) -> bool:
    """Undo leetspeak in this word? Not in numbers with a unit ("10am"); in a name with a number at the end
    ("covid19", "w3") only when other words of the message are plainly leetspeak."""
    raw = "".join(c for c, _ in word.atoms)
    if not any(c.isalpha() for c in raw):
        return False
    plain = "".join(c for c in raw if c.isalnum())
    if re.fullmatch(r"\d+[a-z]{0,3}", plain):
        return False
    if re.fullmatch(r"[a-z]+\d+", plain):
        return leet_mode and all(c in _LEET for c in plain if c.isdigit())
    return plain != raw or any(c.isdigit() for c in plain)


def _word_chars(word: _Word, leet: bool) -> list[tuple[str, int, int]]:
    """The characters of a Latin word after leetspeak and squeezing, with original spans."""
    chars: list[tuple[str, int, int]] = []
    for c, k in word.atoms:
        if leet:
            c = _LEET.get(c, c)
        elif not c.isalnum():
            continue
        if chars and c.isalpha() and c.isascii() and chars[-1][0] == c:
            chars[-1] = (c, chars[-1][1], k + 1)  # squeeze "looooser" → "loser"
        else:
            chars.append((c, k, k + 1))
    return chars


def normalize(text: str) -> Normalized:
    """Normalise ``text`` (see the module docstring)."""
    folded = [(c, k) for k, ch in enumerate(text) for c in _fold(ch)]
    units = _join_spaced(_units(_classify(folded)))
    # The stream: (char, start, end, class) with class c(ontent), s(pace) or b(reak candidate).
    stream: list[tuple[str, int, int, str]] = []
    spaced_ranges: list[tuple[int, int]] = []  # stream indices
    prev_word = False
    leet_mode = any(isinstance(u, _Word) and _is_leet(u, False) for u in units)
    for unit in units:
        if isinstance(unit, _Han):
            stream.append((unit.char, unit.index, unit.index + 1, "c"))
            prev_word = False
        elif isinstance(unit, _Break):
            if not (stream and stream[-1][3] == "b"):
                stream.append((BREAK, unit.index, unit.index + 1, "b"))
        else:
            chars = _word_chars(unit, _is_leet(unit, leet_mode))
            if not chars:
                continue
            if prev_word and stream and stream[-1][3] == "c":
                stream.append((" ", chars[0][1], chars[0][1] + 1, "s"))
            begin = len(stream)
            stream.extend((c, a, b, "c") for c, a, b in chars)
            if unit.spaced:
                spaced_ranges.append((begin, len(stream)))
            prev_word = True
    return _finish(stream, spaced_ranges)


def _finish(stream: list[tuple[str, int, int, str]], spaced: list[tuple[int, int]]) -> Normalized:
    """Decide which break candidates are real sentence breaks and build the result."""
    # Count content characters between consecutive break candidates.
    seg_len: list[int] = []
    count = 0
    for s in stream:
        if s[3] == "b":
            seg_len.append(count)
            count = 0
        elif s[3] == "c":
            count += 1
    seg_len.append(count)
    text: list[str] = []
    start: list[int] = []
    end: list[int] = []
    breaks: list[int] = []
    index_map: list[int] = []  # stream index → output index (for the spaced ranges)
    next_content = [""] * (len(stream) + 1)  # the next content character after each stream index
    for idx in range(len(stream) - 1, -1, -1):
        next_content[idx] = (
            stream[idx + 1][0]
            if idx + 1 < len(stream) and stream[idx + 1][3] == "c"
            else next_content[idx + 1]
        )
    b_seen = 0
    for idx, (c, a, b, cls) in enumerate(stream):
        index_map.append(len(text))
        if cls == "b":
            real = seg_len[b_seen] >= 2 and seg_len[b_seen + 1] >= 2
            b_seen += 1
            prev_c = text[-1] if text else ""
            nxt = next_content[idx]
            if real and text:
                c = BREAK
            elif prev_c.isascii() and prev_c.isalnum() and nxt.isascii() and nxt.isalnum():
                c = " "  # not a sentence break, but the Latin words on either side stay apart
            else:
                continue
            if text and text[-1] == " ":
                text.pop(), start.pop(), end.pop()
        elif cls == "s" and text and text[-1] in (" ", BREAK):
            continue
        if c == BREAK:
            breaks.append(len(text))
        text.append(c)
        start.append(a)
        end.append(b)
    index_map.append(len(text))
    while text and text[-1] in (" ", BREAK):
        if text[-1] == BREAK:
            breaks.pop()
        text.pop(), start.pop(), end.pop()
    n = len(text)
    ranges = tuple((min(index_map[a], n), min(index_map[b], n)) for a, b in spaced)
    return Normalized("".join(text), tuple(start), tuple(end), tuple(breaks), ranges)

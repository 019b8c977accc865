"""Text encodings of extract files: a file is entirely UTF-8 (with or without BOM) or entirely
GBK/GB18030, decoded strictly; a file that mixes the two, or is in any other encoding, is refused
with the first offending line, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from charset_normalizer import from_bytes

from recoup.errors import ImportFileError

#: The encodings a text file may be in (GB 18030 reads GBK and GB 2312).
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
_SUPPORTED = "UTF-8, UTF-8 with BOM, or GBK / GB2312 / GB18030"

_UTF8_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_CJK = re.compile("[\u4e00-\u9fff]")
_SAMPLE_BYTES = 512 * 1024  # of lines with non-ASCII bytes, to judge a GBK file
_SAMPLE_LINE = 64 * 1024
#: A GBK file's non-ASCII characters must mostly be common Chinese characters (GB 2312); text in
#: Latin-1 or Shift-JIS decodes as GBK into rare ones (about 0 %), Chinese text gives 60–100 %.
_MIN_GB2312_SHARE = 0.5


def _position(raw: bytes, offset: int) -> dict[str, Any]:
    return {
        "line": raw.count(b"\n", 0, offset) + 1,
        "byte_offset": offset,
        "bytes": raw[offset : offset + 8].hex(" "),
    }


def _at(pos: dict[str, Any]) -> str:
    return f"line {pos['line']} (byte offset {pos['byte_offset']:,}: {pos['bytes']})"


@dataclass
class _Census:
    """Lines with non-ASCII bytes: valid UTF-8 with Chinese characters, or not valid UTF-8."""

    utf8: int = 0
    other: int = 0
    first_utf8: int = 0  # line number
    first_utf8_offset: int = 0
    sample: bytearray = field(default_factory=bytearray)


def _census(raw: bytes) -> _Census:
    out = _Census()
    pos, line, n = 0, 0, len(raw)
    while pos < n:
        end = raw.find(b"\n", pos)
        end = n if end < 0 else end
        line += 1
        chunk = raw[pos:end]
        if (
            (line == 1 or not chunk.isascii())
            and len(out.sample) < _SAMPLE_BYTES
            and len(chunk) <= _SAMPLE_LINE
        ):
            out.sample += chunk + b"\n"
        if not chunk.isascii():
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                out.other += 1
            else:
                if _CJK.search(text):
                    out.utf8 += 1
                    if not out.first_utf8:
                        out.first_utf8, out.first_utf8_offset = line, pos
        pos = end + 1
    return out


def _gb2312_share(text: str) -> float:
    """The share of ``text``'s non-ASCII characters that GB 2312 (common simplified Chinese) has."""
    ascii_n = len(text.encode("ascii", errors="ignore"))
    other = len(text) - ascii_n
    if other == 0:
        return 1.0
    common = (len(text.encode("gb2312", errors="ignore")) - ascii_n) // 2
    return common / other


def _is_gb(encoding: str) -> bool:
    enc = encoding.lower().replace("-", "").replace("_", "")
    return enc.startswith("gb") or enc in {"cp936", "ms936", "hz"}


def decode_text(raw: bytes, name: str) -> tuple[str, str]:
    """The text of ``raw`` and its encoding, one of :data:`ENCODINGS`.

    The whole file must be valid in that one encoding. A file that is UTF-8 except for some lines
    (or GBK except for some UTF-8 lines), UTF-16/32, binary, or in another encoding (Big5, Latin-1…)
    is refused, naming the first offending line and byte offset; nothing is ever decoded by guess.
    """

    def refuse(message: str, **details: Any) -> ImportFileError:
        return ImportFileError(f"{name}: {message}", details={"file": name, **details})

    for bom, label in _WIDE_BOMS:
        if raw.startswith(bom):
            raise refuse(
                f"unsupported text encoding {label}; supported encodings are {_SUPPORTED} — save the file "
                f"as CSV UTF-8 / 不支持的文件编码，请另存为 UTF-8",
                encoding=label,
            )
    nul = raw.find(b"\x00")
    if nul >= 0:
        pos = _position(raw, nul)
        raise refuse(
            f"not a text table: binary content, a NUL byte at {_at(pos)}. UTF-16 text or a spreadsheet "
            f"under a text file name? Supported encodings are {_SUPPORTED} / 不是文本表格",
            **pos,
        )
    if raw.startswith(_UTF8_BOM):
        try:
            return raw[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            pos = _position(raw, exc.start + 3)
            raise refuse(
                f"mixed text encodings: the file starts with a UTF-8 byte-order mark, but {_at(pos)} is not "
                f"valid UTF-8 (a row in another encoding, such as GBK?); save the whole file as UTF-8 "
                f"/ 文件编码不一致",
                encoding="utf-8-sig",
                **pos,
            ) from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    census = _census(raw)
    if census.utf8 and census.utf8 >= census.other:
        pos = _position(raw, first_bad)
        raise refuse(
            f"mixed text encodings: the file is UTF-8, but {_at(pos)} is not valid UTF-8 "
            f"({census.other} line(s) are not; rows pasted from a GBK file?); save the whole file in one "
            f"encoding / 文件编码不一致：UTF-8 文件中混有其他编码的行",
            encoding="utf-8",
            bad_lines=census.other,
            **pos,
        )
    if census.utf8:
        pos = _position(raw, census.first_utf8_offset)
        raise refuse(
            f"mixed text encodings: the file is GBK/GB18030, but line {census.first_utf8} is UTF-8 "
            f"({census.utf8} such line(s)); save the whole file in one encoding / 文件编码不一致：GBK 文件中"
            f"混有 UTF-8 的行",
            encoding="gb18030",
            utf8_lines=census.utf8,
            **pos,
        )
    try:
        text = raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        pos = _position(raw, exc.start)
        raise refuse(
            f"unsupported text encoding: the file is neither UTF-8 nor GBK/GB18030: {_at(pos)} is valid in "
            f"neither; supported encodings are {_SUPPORTED} / 不支持的文件编码",
            **pos,
        ) from None
    sample = bytes(census.sample)
    candidates = [m.encoding for m in from_bytes(sample)]
    share = _gb2312_share(sample.decode("gb18030", errors="replace"))
    if not any(_is_gb(c) for c in candidates) or share < _MIN_GB2312_SHARE:
        guess = next((c for c in candidates if not _is_gb(c)), "an unknown encoding")
        raise refuse(
            f"unsupported text encoding: the file is not UTF-8 and does not read as Chinese text in "
            f"GBK/GB18030 (it looks like {guess}); supported encodings are {_SUPPORTED} / 不支持的文件编码",
            encoding=guess,
            gb2312_share=round(share, 3),
        )
    return text.removeprefix("\ufeff"), "gb18030"


def detect_encoding(raw: bytes) -> str:
    """The text encoding of ``raw``, one of :data:`ENCODINGS`; refuses any other (:func:`decode_text`)."""
    return decode_text(raw, "the file")[1]

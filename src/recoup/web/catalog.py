"""The message catalogs of the pages and the CLI: extract every translatable string (``_()`` in the
templates, ``N_()`` and ``tr()`` in the page modules, ``_()``, ``N_()`` and ``ngettext()`` of
:mod:`recoup.i18n` in the rest of the package) with Babel, and update
``locale/<locale>/LC_MESSAGES/messages.po`` keeping existing translations. ``python -m recoup.web.catalog``
rewrites the catalogs; ``--check`` lists the strings zh_CN does not translate yet and translations whose
``{placeholders}`` differ from the source (what ``tests/test_web_pages.py`` and ``tests/test_cli_lang.py``
fail on)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from recoup.web.i18n import LOCALE_DIR, LOCALES

WEB = Path(__file__).parent
_METHODS = [("templates/**.html", "jinja2"), ("*.py", "python")]
_OPTIONS = {"templates/**.html": {"extensions": ""}}
_KEYWORDS = {"_": None, "N_": None, "tr": (3,)}
#: The CLI and everything else outside web/: recoup.i18n's markers.
SRC = WEB.parent
_CLI_METHODS = [("web/**", "ignore"), ("**.py", "python")]
_CLI_KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extract() -> list[str]:
    """Every msgid of the pages and the CLI, sorted (a plural's singular stands for it)."""
    return sorted({*_extract_web(), *extract_cli()})


def _extract_web() -> set[str]:
    return {
        msg
        for _file, _line, msg, _comments, _ctx in extract_from_dir(
            WEB, method_map=_METHODS, options_map=_OPTIONS, keywords=_KEYWORDS
        )
        if isinstance(msg, str) and msg
    }


def extract_cli() -> list[str]:
    """Every msgid marked outside web/ (the CLI's strings), sorted."""
    found: set[str] = set()
    for _file, _line, msg, _comments, _ctx in extract_from_dir(
        SRC, method_map=_CLI_METHODS, keywords=_CLI_KEYWORDS
    ):
        first = msg[0] if isinstance(msg, tuple) else msg
        if isinstance(first, str) and first:
            found.add(first)
    return sorted(found)


_FIELD = re.compile(r"\{[^{}]*\}")


def placeholder_mismatches(locale: str) -> list[str]:
    """msgids whose translation in ``locale`` has other ``{fields}`` than the source (a CLI string is
    filled with ``str.format`` after translation: a lost or renamed field would fail at run time)."""
    cat = load(locale)
    out = []
    for msgid in extract_cli():
        m = cat.get(msgid)
        if m is None or not m.string:
            continue
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        want = set(_FIELD.findall(msgid))
        if any(s and set(_FIELD.findall(s)) != want for s in strings):
            out.append(msgid)
    return out


def _path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


def load(locale: str) -> Catalog:
    path = _path(locale)
    if not path.exists():
        return Catalog(locale=locale, project="recoup")
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def missing(locale: str) -> list[str]:
    """msgids the catalog of ``locale`` lacks or leaves untranslated (en translates to itself)."""
    cat = load(locale)
    out = []
    for msgid in extract():
        m = cat.get(msgid)
        if m is None or not m.string or (isinstance(m.string, tuple) and not all(m.string)):
            out.append(msgid)
    return out


def update() -> None:
    """Add new msgids to every catalog (en: the msgid itself; zh_CN: empty, to translate)."""
    ids = extract()
    for locale in LOCALES:
        cat = load(locale)
        fresh = Catalog(locale=locale, project="recoup")
        for msgid in ids:
            old = cat.get(msgid)
            string = old.string if old is not None and old.string else (msgid if locale == "en" else "")
            fresh.add(old.id if old is not None else msgid, string)  # a plural keeps its plural
        path = _path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fp:
            write_po(fp, fresh, width=0, omit_header=False, sort_output=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        gaps = {loc: missing(loc) for loc in LOCALES}
        fields = {loc: placeholder_mismatches(loc) for loc in LOCALES}
        for loc, ids in gaps.items():
            for msgid in ids:
                print(f"{loc}: untranslated: {msgid!r}")
        for loc, ids in fields.items():
            for msgid in ids:
                print(f"{loc}: placeholders differ: {msgid!r}")
        return 1 if any(gaps.values()) or any(fields.values()) else 0
    update()
    print(f"updated {', '.join(str(_path(loc)) for loc in LOCALES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

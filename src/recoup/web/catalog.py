"""The pages' message catalogs: extract every translatable string (``_()`` in the templates, ``N_()`` and
``tr()`` in the page modules) with Babel, and update ``locale/<locale>/LC_MESSAGES/messages.po`` keeping
existing translations. ``python -m recoup.web.catalog`` rewrites the catalogs; ``--check`` lists the
strings zh_CN does not translate yet (what ``tests/test_web_i18n.py`` fails on)."""

from __future__ import annotations

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


def extract() -> list[str]:
    """Every msgid of the pages, sorted."""
    found = {
        msg
        for _file, _line, msg, _comments, _ctx in extract_from_dir(
            WEB, method_map=_METHODS, options_map=_OPTIONS, keywords=_KEYWORDS
        )
        if isinstance(msg, str) and msg
    }
    return sorted(found)


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
        if m is None or not m.string:
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
            fresh.add(msgid, string)
        path = _path(locale)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fp:
            write_po(fp, fresh, width=0, omit_header=False, sort_output=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        gaps = {loc: missing(loc) for loc in LOCALES}
        for loc, ids in gaps.items():
            for msgid in ids:
                print(f"{loc}: untranslated: {msgid!r}")
        return 1 if any(gaps.values()) else 0
    update()
    print(f"updated {', '.join(str(_path(loc)) for loc in LOCALES)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

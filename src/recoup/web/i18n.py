"""Page translations: gettext catalogs (``web/locale/<locale>/LC_MESSAGES/messages.po``) read with Babel
at start-up — no compile step — and the locale of a request: the signed-in user's, else the ``lang``
cookie (the language switch), else ``Accept-Language``, else the installation's setting.

Source strings are English; ``en`` needs no translation and ``zh_CN`` must translate every string
the templates and pages use (``tests/test_web_i18n.py`` fails on a missing one).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR: Final = Path(__file__).parent / "locale"
LOCALES: Final = ("zh_CN", "en")
DEFAULT: Final = "zh_CN"


@functools.cache
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale`` (English source strings pass through for ``en`` and unknown ones)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale not in LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


def negotiate(accept_language: str | None, fallback: str = DEFAULT) -> str:
    """The best of :data:`LOCALES` for an ``Accept-Language`` header (``zh*`` → zh_CN, ``en*`` → en)."""
    if not accept_language:
        return fallback
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        ranked.append((-weight, i, lang.strip().lower()))
    for _w, _i, lang in sorted(ranked):
        if lang.startswith("zh"):
            return "zh_CN"
        if lang.startswith("en"):
            return "en"
    return fallback


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)

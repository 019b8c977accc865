"""Translations for the CLI and the web app: one set of gettext catalogs
(``web/locale/<locale>/LC_MESSAGES/messages.po``), read with Babel when first used — no compile step.

Source strings are English; ``en`` needs no translation and ``zh_CN`` must translate every marked
string (``python -m recoup.web.catalog --check``; ``tests/test_cli_lang.py`` and
``tests/test_web_pages.py`` fail on a missing one).

The CLI's language is :func:`cli_locale`: ``recoup --lang`` for the run, else ``RECOUP_LOCALE``
(default zh_CN). CLI code marks and translates with :func:`_` and :func:`ngettext`; vocabulary
(treatments, segments, products …) has one label function each in :mod:`recoup.labels`. What a
command prints with ``--json`` is never translated.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Final

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

__all__ = [
    "DEFAULT",
    "LOCALES",
    "LOCALE_DIR",
    "N_",
    "_",
    "check_locale",
    "cli_locale",
    "gettext",
    "negotiate",
    "ngettext",
    "set_cli_locale",
    "translations",
]

LOCALE_DIR: Final = Path(__file__).parent / "web" / "locale"
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
        lang, _sep, q = part.strip().partition(";q=")
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


# ------------------------------------------------------------------------------------------------ CLI

#: The language ``recoup --lang`` chose for this run (empty: the setting decides).
_override: list[str] = []

_ALIASES: Final = {"zh_cn": "zh_CN", "zh-cn": "zh_CN", "zh": "zh_CN", "en": "en"}


def check_locale(value: str, option: str = "--lang") -> str:
    """``value`` as one of :data:`LOCALES` (``zh``, ``zh-CN`` and any case accepted); else a usage
    error (exit 64) naming the option."""
    from recoup.errors import UsageError

    locale = _ALIASES.get(value.strip().lower())
    if locale is None:
        raise UsageError(
            f"{option} {value!r}: choose zh_CN or en · 语言须为 zh_CN 或 en",
            details={"option": option, "value": value, "choices": list(LOCALES)},
        )
    return locale


def set_cli_locale(locale: str | None) -> None:
    """Set (or with ``None`` clear) the language of this run's CLI output."""
    _override.clear()
    if locale is not None:
        _override.append(check_locale(locale))


def cli_locale() -> str:
    """The language the CLI prints in: ``--lang``, else ``RECOUP_LOCALE`` (default zh_CN)."""
    if _override:
        return _override[0]
    from recoup.config import get_settings
    from recoup.errors import RecoupError

    try:
        locale: str = get_settings().locale
    except RecoupError:  # invalid settings: the error that names them must still be printed
        import os

        locale = _ALIASES.get(os.environ.get("RECOUP_LOCALE", "").strip().lower(), DEFAULT)
    return locale if locale in LOCALES else DEFAULT


def _(message: str) -> str:
    """``message`` (an English source string, marked for the catalogs) in the CLI's language."""
    return translations(cli_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the CLI's language (zh_CN has one form)."""
    return translations(cli_locale()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogs without translating it (translated where it is shown)."""
    return message

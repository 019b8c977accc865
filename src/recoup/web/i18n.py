"""Page translations: the shared catalogs of :mod:`recoup.i18n` (read with Babel at start-up, no compile
step) and the locale of a request: the signed-in user's, else the ``lang`` cookie (the language switch),
else ``Accept-Language``, else the installation's setting.

Source strings are English; ``en`` needs no translation and ``zh_CN`` must translate every string
the templates, pages and CLI use (``tests/test_web_pages.py`` fails on a missing one).
"""

from __future__ import annotations

from recoup.i18n import DEFAULT, LOCALE_DIR, LOCALES, gettext, negotiate, translations

__all__ = ["DEFAULT", "LOCALES", "LOCALE_DIR", "gettext", "negotiate", "translations"]

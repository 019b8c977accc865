"""PDF tests need WeasyPrint's system libraries (Pango) and, to look at pages, pdftoppm (poppler-utils).
A fresh machine without them skips these tests with the reason; CI installs them and requires them."""

from __future__ import annotations

import os
import shutil

import pytest


def pdf_available() -> bool:
    try:
        import weasyprint  # noqa: F401
    except OSError:  # Pango missing: apt-get install libpango-1.0-0 libpangoft2-1.0-0
        return False
    return True


requires_pdf = pytest.mark.skipif(
    not pdf_available() and not os.environ.get("RECOUP_TEST_REQUIRE_BROWSER"),
    reason="WeasyPrint cannot load Pango (apt-get install libpango-1.0-0 libpangoft2-1.0-0); CI installs it",
)
PDFTOPPM = shutil.which("pdftoppm")

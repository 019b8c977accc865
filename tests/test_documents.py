"""PDF documents: rendered in Chinese and English with the CJK font, hashed, verified, and a page
rendered to PNG with pdftoppm (what people look at)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pdf_support import PDFTOPPM, requires_pdf
from recoup.documents.pdf import DocumentError, render_html, render_pdf, verify

pytestmark = requires_pdf


def test_a_chinese_document_renders_hashes_and_detects_alteration(tmp_path: Path) -> None:
    doc = render_pdf(
        "sample.html", {"title": "还款计划协议", "rows": [("本金", "¥1,234.56")]}, locale="zh_CN"
    )
    assert doc.pdf.startswith(b"%PDF-") and len(doc.sha256) == 64
    assert verify(doc.pdf, doc.sha256)
    altered = doc.pdf.replace(b"%PDF-", b"%PDF-", 1) + b"\n% tampered"
    assert not verify(altered, doc.sha256)
    if PDFTOPPM:
        out = tmp_path / "page"
        (tmp_path / "doc.pdf").write_bytes(doc.pdf)
        subprocess.run(
            [PDFTOPPM, "-png", "-r", "50", "-f", "1", "-l", "1", str(tmp_path / "doc.pdf"), str(out)],
            check=True,
        )
        assert any(tmp_path.glob("page*.png"))
        fonts = subprocess.run(
            ["pdffonts", str(tmp_path / "doc.pdf")], check=True, capture_output=True, text=True
        ).stdout
        assert "NotoSansCJK" in fonts.replace(" ", "").replace("-", ""), fonts  # the CJK font is embedded


def test_bad_requests_are_document_errors() -> None:
    with pytest.raises(DocumentError):
        render_html("sample.html", {"title": "x", "rows": []}, locale="fr")
    with pytest.raises(DocumentError):
        render_html("nope.html", {}, locale="en")
    with pytest.raises(DocumentError):
        render_html("sample.html", {"rows": []}, locale="en")  # no title

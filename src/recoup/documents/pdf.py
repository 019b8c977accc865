"""PDF documents rendered from Jinja2 HTML templates by WeasyPrint, with the system's Noto CJK fonts
(Debian's ``fonts-noto-cjk``), in Simplified Chinese or English.

A document is rendered once, stored as bytes, and its SHA-256 written to the audit ledger by the caller
(a stored file that no longer matches its recorded hash has been altered). Templates live in
``documents/templates``; each extends ``_base.html`` (A4, margins, the font stack, page numbers).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2

from recoup.errors import RecoupError

TEMPLATES: Final = Path(__file__).parent / "templates"
LOCALES: Final = ("zh_CN", "en")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(("html",)),
    undefined=jinja2.StrictUndefined,
)


class DocumentError(RecoupError):
    """A document cannot be rendered (unknown template or language, a missing value)."""

    code = "document.invalid"
    http_status = 422


@dataclass(frozen=True)
class Document:
    """A rendered PDF and its SHA-256 (hex)."""

    template: str
    locale: str
    pdf: bytes
    sha256: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def render_html(template: str, context: dict[str, Any], *, locale: str) -> str:
    """The HTML of ``template`` for ``context`` (``locale`` is available to the template as ``locale``)."""
    if locale not in LOCALES:
        raise DocumentError(f"unknown document language {locale!r}; use zh_CN or en / 文档语言无效")
    try:
        return _env.get_template(template).render(**context, locale=locale)
    except jinja2.TemplateNotFound as exc:
        raise DocumentError(f"no document template {template!r} / 文档模板不存在") from exc
    except jinja2.UndefinedError as exc:
        raise DocumentError(f"document {template!r} lacks a value: {exc.message} / 文档缺少数据") from exc


def render_pdf(template: str, context: dict[str, Any], *, locale: str) -> Document:
    """Render ``template`` with ``context`` to a PDF."""
    import weasyprint  # imported here: it loads Pango, which only document commands need

    html = render_html(template, context, locale=locale)
    pdf = weasyprint.HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    assert pdf is not None
    return Document(template=template, locale=locale, pdf=pdf, sha256=sha256_hex(pdf))


def verify(pdf: bytes, sha256: str) -> bool:
    """Whether a stored document still matches the hash recorded when it was made."""
    return sha256_hex(pdf) == sha256.lower()

"""The documentation is self-contained (issue 16 item 11, Why 14): every relative link in README.md and
docs/*.md resolves to a file inside the repository, and nothing points at documents beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: [text](target) and [text]: target, skipping images' and links' external schemes and pure anchors.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)", re.M)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # code blocks
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    broken = []
    for target in _links(doc):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (doc.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)} links outside the repository or to missing files: {broken}"


def test_no_reference_to_documents_beside_the_repository() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "/work/shared" not in text, doc.relative_to(ROOT)


def test_the_link_finder_finds_links(tmp_path: Path) -> None:
    sample = tmp_path / "x.md"
    sample.write_text("see [a](a.md#x), [b](<b.md>), [c](https://e.org) `[d](no.md)`\n[e]: ../e.md\n")
    assert _links(sample) == ["a.md#x", "b.md", "https://e.org", "../e.md"]

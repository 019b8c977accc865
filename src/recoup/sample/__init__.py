"""The sample extract shipped with recoup: about 60 synthetic loans as a Chinese lender sends them.

``extract/`` holds one day's directory for ``SAMPLE_AS_OF``: GBK-encoded CSV files with Chinese
headers and file names (``借据.csv`` …) and the ``mapping.toml`` that maps the headers to the extract
format. It was written by :func:`write_sample` (``python -m recoup.sample`` rewrites it); the data is
synthetic and describes no real person.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

__all__ = ["SAMPLE_AS_OF", "SAMPLE_DIR", "SAMPLE_LOANS", "SAMPLE_SEED", "write_sample"]

SAMPLE_DIR: Path = Path(__file__).resolve().parent / "extract"
SAMPLE_AS_OF = date(2026, 11, 20)
SAMPLE_LOANS = 60
SAMPLE_SEED = 145  # chosen for a sample with late loans in every DPD bucket


def write_sample(directory: Path = SAMPLE_DIR) -> Path:
    """Generate the sample extract into ``directory`` (GBK, Chinese headers, with ``mapping.toml``)."""
    from recoup.portfolio.synth import generate, write_extract

    frames = generate(SAMPLE_LOANS, as_of=SAMPLE_AS_OF, seed=SAMPLE_SEED)
    return write_extract(frames, directory, chinese_headers=True, encoding="gbk")

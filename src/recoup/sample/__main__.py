"""``python -m recoup.sample [DIR]``: write the sample extract (default: the shipped copy)."""

from __future__ import annotations

import sys
from pathlib import Path

from recoup.sample import SAMPLE_DIR, write_sample

if __name__ == "__main__":
    out = write_sample(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR)
    print(f"sample extract written to {out}")

"""``make bench``: run every benchmark in bench/ and print their figures.

Figures go into docs/benchmarks.md by hand, with the machine, the date and the command.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
BENCHES = [
    "bench_import.py",
    "bench_cycle.py",
    "bench_scoring.py",
    "bench_policy.py",
    "bench_selfcure.py",
    "bench_optimiser.py",
    "bench_concurrent_import.py",
    "bench_allocation.py",
    "bench_queues.py",
    "bench_dispatch_crash.py",
]

if __name__ == "__main__":
    failed = 0
    for name in BENCHES:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]])
    sys.exit(failed)

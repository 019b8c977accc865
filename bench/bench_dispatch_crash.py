"""Dispatcher crash test at acceptance size: 50 kills while sending 1,000 e-mails and 1,000 SMS.

    .venv/bin/python bench/bench_dispatch_crash.py [--messages 1000 --kills 50 --json]

Runs ``tests/test_dispatch_crash.py`` (the suite runs it with 10 kills and 300 + 300 messages) with
``RECOUP_TEST_CRASH_MESSAGES`` / ``RECOUP_TEST_CRASH_KILLS`` set, on SQLite and, when
``RECOUP_TEST_PG_URL`` is set, PostgreSQL; the test asserts the properties (every Message-ID at the SMTP
server, one webhook key per SMS, every outbox row ``sent``, one contact attempt per message). Prints the
test's ``CRASH-TEST`` figures per backend (duplicates, wall time of each phase); figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "tests" / "test_dispatch_crash.py"


def main(argv: list[str] | None = None) -> int:
    """Run the crash test at the asked size; print its figures; return pytest's status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000, help="messages per channel (default 1000)")
    ap.add_argument("--kills", type=int, default=50, help="SIGKILLs of the dispatcher (default 50)")
    ap.add_argument("--json", action="store_true", help="one JSON object per backend")
    args = ap.parse_args(argv)
    env = os.environ | {
        "RECOUP_TEST_CRASH_MESSAGES": str(args.messages),
        "RECOUP_TEST_CRASH_KILLS": str(args.kills),
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:randomly", "-n", "0", str(TEST)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    figures = [
        json.loads(line.removeprefix("CRASH-TEST "))
        for line in proc.stdout.splitlines()
        if line.startswith("CRASH-TEST ")
    ]
    for fig in figures:
        if args.json:
            print(json.dumps(fig))
            continue
        print(
            f"{fig['backend']:<10} {fig['messages']:,} messages, {fig['kills']} kills: "
            f"SMTP {fig['smtp_received']:,} / {fig['smtp_distinct_message_ids']:,} distinct "
            f"({fig['smtp_duplicates']} duplicates), webhook {fig['webhook_requests']:,} / "
            f"{fig['webhook_distinct_keys']:,} ({fig['webhook_duplicates']} duplicates), "
            f"outbox {fig['outbox_status']}, attempts {fig['attempts']:,}, {fig['seconds_total']} s"
        )
    if proc.returncode != 0:
        print(proc.stdout[-4000:] + proc.stderr[-2000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())

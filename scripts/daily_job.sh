#!/bin/sh
# recoup's daily job, for cron or Airflow: import the day's extract, run the daily cycle, send what is
# due, and write the portfolio report. Copy it and adapt the paths.
#
#   daily_job.sh [--full] EXTRACTS_DIR [DAY]
#
# EXTRACTS_DIR/DAY/ holds the day's files (DAY is YYYY-MM-DD, default yesterday); give --full on the
# first day (a complete snapshot) only. Settings come from the environment or the .env file
# (RECOUP_DATA_DIR, RECOUP_DATABASE_URL, RECOUP_LENDER_NAME, ...).
#
# Every step runs with --json: its stdout is ONE JSON object (the result, or {"error": {"code",
# "message", "details"}}), saved as LOG_DIR/DAY/<step>.json (LOG_DIR default: RECOUP_DATA_DIR/jobs);
# progress goes to stderr as timestamped lines, saved as LOG_DIR/DAY/<step>.log. The job stops at the
# first step that fails and exits with that step's status (docs/errors.md: 64 usage, 65 bad data,
# 66 no extract yet, 69 database unavailable, 75 busy - try again later, 78 configuration ...);
# import status 3 (rows rejected with --accept-partial) is reported but does not stop the day.
set -u

full=""
if [ "${1:-}" = "--full" ]; then
    full="--full"
    shift
fi
if [ $# -lt 1 ]; then
    echo "usage: $0 [--full] EXTRACTS_DIR [DAY]" >&2
    exit 64
fi
extracts=$1
day=${2:-$(date -d yesterday +%Y-%m-%d 2>/dev/null || date -v-1d +%Y-%m-%d)}
recoup=${RECOUP:-recoup}
log_dir=${LOG_DIR:-${RECOUP_DATA_DIR:-recoup-data}/jobs}/$day
mkdir -p "$log_dir" || exit 73

# step NAME COMMAND...: run one step, save its JSON and its log, stop the job when it fails.
step() {
    name=$1
    shift
    "$@" --json >"$log_dir/$name.json" 2>"$log_dir/$name.log"
    status=$?
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) daily job $day: $name exit $status" >&2
    case $status in
        0) ;;
        3) echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) daily job $day: rows were rejected, see $log_dir/$name.json" >&2 ;;
        *) cat "$log_dir/$name.json" >&2; exit "$status" ;;
    esac
}

step import "$recoup" import "$extracts/$day" --as-of "$day" $full
step cycle "$recoup" cycle run --as-of "$day"
step dispatch "$recoup" dispatch run --until-empty
step report "$recoup" report portfolio --as-of "$day"
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) daily job $day: done" >&2

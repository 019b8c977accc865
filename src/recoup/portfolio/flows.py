"""Importing extracts: one file (``recoup import DATASET FILE``) or a whole day (``recoup import DIR``).

- ``import_dir`` finds every file of the day (:mod:`~recoup.portfolio.intake`: Chinese or English
  names with any date or suffix, or the mapping's ``[files]`` names and globs), checks them all and
  reports every problem of every file in one error (nothing is written), then applies them and
  publishes the day at once.
- ``import_file`` checks and applies one file and adds it to its day; the day is published when it is
  complete (the datasets the mapping declares), when ``publish`` asks, or when it was published before
  (:mod:`~recoup.portfolio.publish`).

Both hold the ``import`` lock while they read the lake and write it (one lake writer at a time,
earlier days first); the work itself is :class:`~recoup.portfolio.importer.Importer`'s.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from recoup.config import Settings
from recoup.errors import ImportFileError
from recoup.lake import Lake
from recoup.locks import Held, exclusive
from recoup.portfolio.importer import FileOutcome, Importer, ImportOutcome, Prepared, Progress
from recoup.portfolio.intake import TABULAR, dataset_for_file, no_files_error, scan_day
from recoup.portfolio.readers import Mapping, load_mapping
from recoup.portfolio.report import Problem, day_error
from recoup.portfolio.spec import DATASETS

__all__ = [
    "TABULAR",
    "FileOutcome",
    "ImportOutcome",
    "Importer",
    "Progress",
    "dataset_for_file",
    "import_dir",
    "import_file",
]

MAPPING_NAMES = ("mapping.toml", "mapping.json")


class _StepAside(Exception):
    """An import for an earlier day is waiting: let it go first, then start again."""


def _locked(
    as_of: dt.date,
    settings: Settings,
    session: Session,
    run: Callable[[Held], ImportOutcome],
) -> ImportOutcome:
    """Run ``run`` holding the import lock: one lake writer at a time, earlier days first."""
    while True:
        try:
            with exclusive(
                "import",
                data_dir=settings.data_dir,
                bind=session.get_bind(),
                wait_s=settings.lock_wait_seconds,
                order=as_of.isoformat(),
                what=f"import as of {as_of.isoformat()}",
            ) as held:
                return run(held)
        except _StepAside:
            continue


def _mapping_beside(directory: Path) -> Path | None:
    """``mapping.toml`` (or ``mapping.json``) in ``directory``, if there is one."""
    found = None
    for cand in MAPPING_NAMES:
        if os.path.lexists(directory / cand):
            found = directory / cand
    return found


def _apply(
    imp: Importer,
    held: Held,
    prepared: list[Prepared],
    *,
    as_of: dt.date,
    full: bool,
    kind: str,
    declared: tuple[str, ...],
    publish: bool,
) -> ImportOutcome:
    if any(p.good is not None for p in prepared):
        imp.check_order(as_of)
    # A day that skips days the lake has not seen gives their imports, if they are starting right
    # now, a moment to queue up: started together, consecutive days then apply in date order.
    last = imp.lake.latest_as_of(list(DATASETS))
    grace = imp.settings.import_gap_wait_seconds if last is not None and (as_of - last).days > 1 else 0.0
    deadline = time.monotonic() + grace
    while not held.earlier_waiting():
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    else:
        raise _StepAside
    return imp.write(prepared, as_of=as_of, full=full, kind=kind, declared=declared, publish=publish)


def import_file(
    dataset: str,
    path: Path,
    *,
    as_of: dt.date,
    settings: Settings,
    lake: Lake,
    session: Session,
    mapping: Path | None = None,
    full: bool = False,
    accept_partial: bool = False,
    publish: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import one dataset file for ``as_of`` and add it to that day; the day is published (its manifest
    row written) only when it is complete, was published before, or ``publish`` is given. The mapping
    is ``mapping``, else ``mapping.toml`` beside the file. The session is flushed, not committed."""
    if dataset not in DATASETS:
        raise ImportFileError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    mpath = mapping if mapping is not None else _mapping_beside(path.parent)
    m = load_mapping(mpath)

    def run(held: Held) -> ImportOutcome:
        imp = Importer(settings=settings, lake=lake, session=session, progress=progress)
        prepared, problems = imp.check([(dataset, path)], m, accept_partial=accept_partial)
        if problems:
            raise day_error(problems, warnings=[], what=path.name)
        return _apply(
            imp, held, prepared, as_of=as_of, full=full, kind="file", declared=m.declared, publish=publish
        )

    out = _locked(as_of, settings, session, run)
    out.mapping = str(mpath) if mpath is not None else ""
    return out


def import_dir(
    directory: Path,
    *,
    as_of: dt.date,
    settings: Settings,
    lake: Lake,
    session: Session,
    mapping: Path | None = None,
    full: bool = False,
    accept_partial: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import a day's directory: every dataset file is checked (all problems of all files are reported
    together, and nothing is written), then applied, then one manifest row publishes the day."""
    if not directory.is_dir():
        raise ImportFileError(f"{directory}: not a directory")
    mpath = mapping if mapping is not None else _mapping_beside(directory)
    m: Mapping = load_mapping(mpath)
    day = scan_day(directory, m)
    if not day.found and not day.conflicted:
        raise no_files_error(directory, day)
    files = [(n, day.found[n]) for n in DATASETS if n in day.found]

    def run(held: Held) -> ImportOutcome:
        imp = Importer(settings=settings, lake=lake, session=session, progress=progress)
        imp.unreadable.update(day.conflicted)  # which of two files holds the day's rows is not known
        prepared, problems = imp.check(files, m, accept_partial=accept_partial)
        in_dir = [
            Problem(ImportFileError(text, details={"directory": str(directory)})) for text in day.problems
        ]
        problems = in_dir + problems
        if problems:
            raise day_error(problems, warnings=day.ignored, what=str(directory))
        return _apply(
            imp, held, prepared, as_of=as_of, full=full, kind="day", declared=m.declared, publish=True
        )

    out = _locked(as_of, settings, session, run)
    out.warnings = day.ignored + out.warnings
    if out.missing and not out.noop:
        out.warnings.append(
            f"{m.source or 'the mapping'} declares {', '.join(out.missing)} for a complete day, but the day "
            f"has no such file; the day is published without it / 当日缺少映射文件声明的数据集"
        )
    out.mapping = str(mpath) if mpath is not None else ""
    return out

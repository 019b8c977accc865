"""``recoup import`` and ``recoup portfolio`` commands."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from recoup.console import is_terminal, make_console, progress_lines
from recoup.errors import ImportFileError, ImportNotFoundError, parse_day
from recoup.i18n import _
from recoup.portfolio.flows import ImportOutcome
from recoup.portfolio.flows import Progress as ProgressFn
from recoup.portfolio.rejects import EXIT_REJECTED

console = make_console()


def parse_as_of(text: str, option: str = "--as-of") -> dt.date:
    """A date option; a bad one is a usage error (exit 64) naming the option."""
    return parse_day(text, option)


@contextmanager
def progress_reporter(title: str) -> Iterator[ProgressFn]:
    """A rich spinner that shows the current step on a terminal; timestamped log lines on stderr, one
    per step, when stderr is not a terminal (a cron job's log)."""
    if not is_terminal(sys.stderr):
        with progress_lines(title) as report:
            yield report
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=make_console(stderr=True),
        transient=True,
    ) as prog:
        task = prog.add_task(title, total=None)
        yield lambda msg: prog.update(task, description=f"{title}: {msg}")


def _publication(out: ImportOutcome) -> str:
    """What the import did to the day: published it, or added to it and why it is not readable yet."""
    day = out.as_of.isoformat()
    if out.published:
        return f"manifest row {out.manifest_id}: the book as of {day} is now readable. / {day} 的账簿已发布。"
    added = ", ".join(out.present) or "no file of its own yet"
    if out.missing:
        why = (
            f"waiting for {', '.join(out.missing)} (the datasets {Path(out.mapping).name or 'the mapping'} "
            f"declares for a complete day)"
        )
    else:
        why = (
            "the mapping declares no datasets for a complete day ([day] datasets = [...] or [files]), so a "
            "single file does not publish it"
        )
    return (
        f"Added to the day {day} (it now has: {added}); the book as of {day} is NOT readable yet: {why}. "
        f"Import the rest (or the whole day with `recoup import DIR`), or run again with --publish to "
        f"publish the day as it is. / 已加入 {day} 的数据，账簿尚未发布。"
    )


def _publication_text(out: ImportOutcome) -> str:
    """:func:`_publication` in the CLI's language (the JSON's ``message`` stays as it is)."""
    day = out.as_of.isoformat()
    if out.published:
        return _("manifest row {manifest}: the book as of {day} is now readable.").format(
            manifest=out.manifest_id, day=day
        )
    added = ", ".join(out.present) or _("no file of its own yet")
    if out.missing:
        why = _("waiting for {missing} (the datasets {mapping} declares for a complete day)").format(
            missing=", ".join(out.missing), mapping=Path(out.mapping).name or _("the mapping")
        )
    else:
        why = _(
            "the mapping declares no datasets for a complete day ([day] datasets = [...] or [files]), so a "
            "single file does not publish it"
        )
    return _(
        "Added to the day {day} (it now has: {added}); the book as of {day} is NOT readable yet: {why}. "
        "Import the rest (or the whole day with `recoup import DIR`), or run again with --publish to "
        "publish the day as it is."
    ).format(day=day, added=added, why=why)


def outcome_json(out: ImportOutcome) -> dict[str, object]:
    """The import's outcome as one JSON object (``recoup import --json``)."""
    return {
        "as_of": out.as_of.isoformat(),
        "noop": out.noop,
        "published": out.published,
        "manifest_id": out.manifest_id,
        "files": [
            {
                "dataset": f.dataset,
                "file": f.path.name,
                "encoding": f.encoding,
                "rows": f.rows,
                "skipped": f.skipped,
                "inserted": f.result.inserted if f.result else 0,
                "updated": f.result.updated if f.result else 0,
                "deleted": f.result.deleted if f.result else 0,
                "rejected": f.rejected,
                "version": f.result.version if f.result else None,
                "reject_file": str(f.reject_file) if f.reject_file else None,
            }
            for f in out.files
        ],
        "rejected": out.rejected,
        "rejects_dir": str(out.rejects_dir) if out.rejects_dir is not None else None,
        "present": list(out.present),
        "missing": list(out.missing),
        "warnings": list(out.warnings),
        "message": _publication(out),
    }


def print_outcome(out: ImportOutcome) -> None:
    if out.noop:
        if out.published:
            text = _("Nothing to do: these files were already imported for {day} (no-op).")
            console.print(escape(text.format(day=out.as_of)), highlight=False)
        else:
            text = _("Nothing to do: already added to the day {day}.")
            console.print(escape(text.format(day=out.as_of)), highlight=False)
            console.print(escape(_publication_text(out)), highlight=False)
        return
    table = Table(title=_("Import as of {day}").format(day=out.as_of), show_lines=False)
    heads = (
        _("Dataset"),
        _("File"),
        _("Encoding"),
        _("Rows"),
        _("Inserted"),
        _("Updated"),
        _("Deleted"),
        _("Rejected"),
        _("Version"),
    )
    for i, col in enumerate(heads):
        table.add_column(col, justify="left" if i < 3 else "right")
    for f in out.files:
        r = f.result
        table.add_row(
            f.dataset,
            f.path.name,
            f.encoding,
            f"{f.rows:,}",
            _("skipped") if f.skipped else f"{r.inserted:,}" if r else "-",
            f"{r.updated:,}" if r and not f.skipped else "-",
            f"{r.deleted:,}" if r and not f.skipped else "-",
            f"{f.rejected:,}",
            str(r.version) if r else "-",
        )
    console.print(table)
    for f in out.files:
        if f.reject_file:
            text = _("{n} row(s) of {file} rejected; reasons in {path}").format(
                n=f.rejected, file=f.path.name, path=f.reject_file
            )
            console.print(f"[yellow]{escape(text)}[/]", highlight=False)
    if out.rejects_dir is not None:
        text = _(
            "reject files (your own headers, with row numbers and reasons) are in {path}; "
            "exit status {status}."
        ).format(path=out.rejects_dir, status=EXIT_REJECTED)
        console.print(f"[yellow]{escape(text)}[/]", highlight=False)
    warning = _("warning:")
    for w in out.warnings:
        console.print(f"[yellow]{escape(warning)}[/] {escape(w)}", highlight=False)
    console.print(escape(_publication_text(out)), highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_cmd(
        target: str = typer.Argument(
            ..., metavar="DATASET|DIR", help="A dataset name, or a day's directory."
        ),
        file: Path | None = typer.Argument(None, metavar="[FILE]", help="The file, when DATASET is given."),
        as_of: str = typer.Option(..., "--as-of", help="The extract's business date (YYYY-MM-DD)."),
        mapping: Path | None = typer.Option(None, "--mapping", help="TOML mapping of the lender's headers."),
        full: bool = typer.Option(
            False, "--full", help="A complete snapshot: rows absent from it are closed."
        ),
        accept_partial: bool = typer.Option(
            False,
            "--accept-partial",
            help="Import the valid rows; write the rest to DATA_DIR/rejects/<as-of>/ (exit status 3).",
        ),
        publish: bool = typer.Option(
            False,
            "--publish",
            help="With DATASET FILE: publish the day now, even if datasets the mapping declares are missing.",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object (errors too). 输出 JSON。"),
    ) -> None:
        """Import extract files into the lake: `import loans FILE --as-of D` or `import DIR --as-of D`.

        导入数据：单个文件或一整天的目录。Every file is checked and every error reported; a file with any
        invalid row is rejected whole. A directory publishes its day at once; a single file is added to
        its day, which is published when complete (the mapping's [day] datasets) or with --publish.
        Exit status 0: imported; 3: imported, but rows were rejected (--accept-partial); 65: refused.
        """
        from recoup.config import get_settings
        from recoup.db import get_engine, session_scope
        from recoup.keys.service import checked_key
        from recoup.lake import get_lake
        from recoup.migrate import upgrade
        from recoup.portfolio.flows import import_dir, import_file
        from recoup.portfolio.spec import DATASETS

        d = parse_as_of(as_of)
        if file is None:
            path = Path(target)
            if not path.exists():
                raise ImportNotFoundError(
                    f"{target}: no such directory (has the day's extract arrived?) · 目录不存在",
                    details={"path": target},
                )
            if not path.is_dir():
                hint = " (give DATASET FILE, or a directory)" if target in DATASETS else ""
                raise ImportFileError(f"{target}: not a directory{hint}")
        elif not file.exists():
            raise ImportNotFoundError(f"{file}: no such file · 文件不存在", details={"path": str(file)})
        settings = get_settings()
        upgrade(get_engine(settings))
        checked_key(settings)  # refuse another PII key, or a lost one, before reading anything
        lake = get_lake(settings)
        with session_scope() as session, progress_reporter("import") as prog:
            common = {
                "as_of": d,
                "settings": settings,
                "lake": lake,
                "session": session,
                "mapping": mapping,
                "full": full,
                "accept_partial": accept_partial,
                "progress": prog,
            }
            if file is None:
                out = import_dir(Path(target), **common)  # type: ignore[arg-type]
            else:
                out = import_file(target, file, publish=publish, **common)  # type: ignore[arg-type]
        if as_json:
            import json

            typer.echo(json.dumps(outcome_json(out), ensure_ascii=False, default=str))
        else:
            print_outcome(out)
        # Only now, after the import's unit of work committed: publish the signed ledger checkpoint.
        from recoup.ledger.cli import publish_after_commit

        publish_after_commit(err=as_json)
        if out.rejected:
            raise typer.Exit(EXIT_REJECTED)

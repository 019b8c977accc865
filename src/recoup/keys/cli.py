"""``recoup pii``: the PII key's fingerprint, and key rotation."""

from __future__ import annotations

from pathlib import Path

import typer

from recoup.config import get_settings
from recoup.console import make_console
from recoup.i18n import _

app = typer.Typer(
    help="Personal-data encryption keys: fingerprint and rotation. 个人信息加密密钥：指纹与轮换。",
    no_args_is_help=True,
)
console = make_console(highlight=False, markup=False)


@app.command("fingerprint")
def fingerprint_cmd() -> None:
    """Print the fingerprint the database recorded and that of the configured key (never the key).
    显示数据库记录的密钥指纹与当前配置密钥的指纹。"""
    from recoup import migrate
    from recoup.db import get_engine
    from recoup.keys.service import _recorded, fingerprint, lookup_path, pending_path, retired_dir

    settings = get_settings()
    migrate.upgrade(get_engine(settings))
    recorded = _recorded(settings)[1]
    key = settings.pii_key_bytes(generate=False)
    configured = fingerprint(key) if key is not None else None
    source = (
        "RECOUP_PII_KEY" if settings.pii_key is not None else str(settings.data_dir / "secrets" / "pii.key")
    )
    console.print(_("recorded:   {fp}").format(fp=recorded or _("(none yet)")))
    console.print(_("configured: {fp}  ({source})").format(fp=configured or _("(no key)"), source=source))
    retired = (
        sorted(p.stem for p in retired_dir(settings).glob("*.key")) if retired_dir(settings).is_dir() else []
    )
    for fp in retired:
        console.print(_("retired:    {fp}").format(fp=fp))
    if pending_path(settings).exists():
        text = _("pending:    {path} (an interrupted rotation: run `recoup pii rotate-key`)")
        console.print(text.format(path=pending_path(settings)))
    if settings.pii_lookup_key is not None:
        console.print(_("lookup key: {where}").format(where="RECOUP_PII_LOOKUP_KEY"))
    elif lookup_path(settings).exists():
        console.print(_("lookup key: {where}").format(where=lookup_path(settings)))
    else:
        console.print(_("lookup key: derived from the PII key (never rotated)"))
    if recorded is not None and configured is not None and recorded != configured:
        raise typer.Exit(1)


@app.command("rotate-key")
def rotate_key_cmd(
    new_key_file: Path | None = typer.Option(
        None,
        "--new-key-file",
        help="File holding the new key (base64 of 32 random bytes); default: a new random key. "
        "Required when RECOUP_PII_KEY is set. 新密钥文件（默认随机生成）。",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation. 不再确认。"),
) -> None:
    """Rotate the PII encryption key: re-encrypt the outbox and the lake's national ids with a new key;
    the old key is kept (retired) to read older data; lookup hashes do not change. Run it again to
    finish a rotation that was interrupted. 轮换个人信息加密密钥。"""
    from recoup import migrate
    from recoup.db import get_engine
    from recoup.keys.rotation import rotate_key
    from recoup.keys.service import read_key_file

    settings = get_settings()
    new_key = read_key_file(new_key_file, "new PII key") if new_key_file is not None else None
    if not yes:
        typer.confirm(
            _("Rotate the PII encryption key? Imports and cycles wait until it is done."),
            abort=True,
        )
    engine = get_engine(settings)
    migrate.upgrade(engine)
    result = rotate_key(settings, new_key=new_key, engine=engine)
    if result.resumed and not result.old:
        console.print(
            _("the rotation to {new} was already complete; removed its staged copy").format(new=result.new)
        )
    else:
        what = _("finished the interrupted rotation") if result.resumed else _("rotated")
        console.print(f"{what}: {result.old or '?'} → {result.new}")
        text = _("re-encrypted: outbox {outbox}, borrowers (database) {borrowers}, borrowers (lake) {lake}")
        version = result.lake_version
        console.print(
            text.format(outbox=result.outbox, borrowers=result.borrowers, lake=result.lake_rows)
            + (" " + _("in version {version}").format(version=version) if version is not None else "")
        )
        if result.unreadable:
            text = _("left as they were (could not be decrypted): {n}")
            console.print(text.format(n=result.unreadable))
    for note in result.notes:
        if note.startswith("RECOUP_PII_KEY is set"):  # the rotation's note is bilingual: say it in one
            note = _(
                "RECOUP_PII_KEY is set: set it now to the new key (fingerprint {fp}, the content of the "
                "--new-key-file); until then recoup refuses the old one."
            ).format(fp=result.new)
        console.print(note)

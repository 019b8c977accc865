"""``recoup pii``: the PII key's fingerprint, and key rotation."""

from __future__ import annotations

from pathlib import Path

import typer

from recoup.config import get_settings
from recoup.console import make_console

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
    console.print(f"recorded   {recorded or '(none yet)'}")
    console.print(f"configured {configured or '(no key)'}  ({source})")
    retired = (
        sorted(p.stem for p in retired_dir(settings).glob("*.key")) if retired_dir(settings).is_dir() else []
    )
    for fp in retired:
        console.print(f"retired    {fp}")
    if pending_path(settings).exists():
        console.print(
            f"pending    {pending_path(settings)} (an interrupted rotation: run `recoup pii rotate-key`)"
        )
    if settings.pii_lookup_key is not None:
        console.print("lookup key RECOUP_PII_LOOKUP_KEY")
    elif lookup_path(settings).exists():
        console.print(f"lookup key {lookup_path(settings)}")
    else:
        console.print("lookup key derived from the PII key (never rotated)")
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
            "Rotate the PII encryption key? Imports and cycles wait until it is done. 确认轮换密钥？",
            abort=True,
        )
    engine = get_engine(settings)
    migrate.upgrade(engine)
    result = rotate_key(settings, new_key=new_key, engine=engine)
    if result.resumed and not result.old:
        console.print(f"the rotation to {result.new} was already complete; removed its staged copy")
    else:
        console.print(
            f"{'finished the interrupted rotation' if result.resumed else 'rotated'}: "
            f"{result.old or '?'} → {result.new}"
        )
        console.print(
            f"re-encrypted: outbox {result.outbox}, borrowers (database) {result.borrowers}, "
            f"borrowers (lake) {result.lake_rows}"
            + (f" in version {result.lake_version}" if result.lake_version is not None else "")
        )
        if result.unreadable:
            console.print(f"left as they were (could not be decrypted): {result.unreadable}")
    for note in result.notes:
        console.print(note)

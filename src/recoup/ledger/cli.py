"""``recoup ledger``: verify the audit ledger, write, export and publish (signed) checkpoints, prove and
list entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from recoup.config import get_settings
from recoup.console import make_console
from recoup.db import session_scope
from recoup.errors import LedgerError, LedgerFileError, RecoupError
from recoup.i18n import _
from recoup.ledger import service, signing

app = typer.Typer(
    help="Tamper-evident audit ledger: hash chain and Merkle checkpoints. "
    "防篡改审计账本：哈希链与默克尔检查点。",
    no_args_is_help=True,
)
console = make_console()


def _load_checkpoints(files: list[Path]) -> list[dict[str, Any]]:
    return [cp for path in files for cp in service.read_checkpoints(path)]


@app.command("verify")
def verify_cmd(
    checkpoint: list[Path] = typer.Option(
        [],
        "--checkpoint",
        "-c",
        help="Exported checkpoint file to check against (repeatable). 导出的检查点文件（可重复）。",
    ),
    published: list[Path] = typer.Option(
        [],
        "--published",
        "-p",
        help="Signed published checkpoint file or directory (repeatable; default: the publish "
        "directory). 已发布（签名）检查点文件或目录（可重复；默认发布目录）。",
    ),
    public_key: list[Path] = typer.Option(
        [],
        "--public-key",
        "-k",
        help="Trusted public key file (repeatable; default data_dir/ledger/signing.pub). "
        "可信公钥文件（可重复）。",
    ),
    all_signatures: bool = typer.Option(
        False,
        "--all-signatures",
        help="Verify every entry's signature, also those a published checkpoint already covers "
        "(slower; a full audit). 逐条校验全部签名（较慢）。",
    ),
) -> None:
    """Check every entry, its signature, the chain and all checkpoints (stored, exported and signed
    published ones); name the first broken entry.
    校验全部条目、签名、哈希链与检查点（含已签名发布的检查点），指出第一条被篡改的条目。"""
    settings = get_settings()
    exported = _load_checkpoints(checkpoint)
    keys = signing.trusted_keys(public_key) if public_key else signing.default_trusted_keys(settings)
    sources = published
    if not sources:
        assert settings.ledger_publish_dir is not None
        sources = [settings.ledger_publish_dir] if settings.ledger_publish_dir.is_dir() else []
    claims = [cp for path in sources for cp in service.read_published(path)]
    if published and not claims:
        raise LedgerError(
            "no published checkpoint in " + ", ".join(map(str, published)),
            details={"reason": "published"},
        )
    with session_scope() as session:
        report = service.verify(
            session=session,
            checkpoints=exported,
            published=claims,
            public_keys=keys,
            all_signatures=all_signatures,
        )
    text = _(
        "ledger OK: {entries} entries, {stored} stored and {exported} exported checkpoints match, "
        "{published} signed published checkpoints match"
    ).format(
        entries=report.entries,
        stored=report.checkpoints_checked,
        exported=report.exported_checked,
        published=report.published_checked,
    )
    if report.published_checked:
        text += " " + _("(latest covers 1..{upto})").format(upto=report.published_upto)
    text += _(", {n} entries signed").format(n=report.signed)
    if report.unsigned:
        text += _(", {n} older entries unsigned").format(n=report.unsigned)
    typer.echo(text + _(", head {hash}").format(hash=report.head_hash))
    if not claims:
        typer.echo(
            _(
                "note: no signed published checkpoint was checked, so deleting the newest entries cannot "
                "be detected"
            ),
            err=True,
        )


@app.command("publish")
def publish_cmd() -> None:
    """Verify the ledger, then publish a signed checkpoint (checkpoint-N.json and latest.json) in the
    publish directory; ship copies elsewhere. 校验账本并发布签名检查点；请另处保存副本。"""
    with session_scope() as session:
        done = service.do_publish(session=session)
    typer.echo(_published_line(done))


def _published_line(done: service.PublishedCheckpoint) -> str:
    from recoup.i18n import _

    return _("ledger checkpoint {n} published to {path}").format(n=done.data["upto_seq"], path=done.path)


def publish_after_commit(*, err: bool = False) -> None:
    """Publish a signed checkpoint in a unit of work of its own (call it after the import committed);
    ``err``: say so on stderr (stdout holds the command's JSON).

    A failure is printed as a warning and does not change the exit status: the import itself has
    committed; `recoup ledger publish` (or the next import) publishes the entries later.
    """
    try:
        with session_scope() as session:
            done = service.do_publish(session=session)
    except Exception as exc:  # never hide the committed import behind a traceback
        from recoup.i18n import _

        message = exc.message if isinstance(exc, RecoupError) else f"{type(exc).__name__}: {exc}"
        text = _(
            "warning: the import committed, but publishing the ledger checkpoint failed: {message}; "
            "run `recoup ledger publish`"
        )
        typer.echo(text.format(message=message), err=True)
        return
    typer.echo(_published_line(done), err=err)


@app.command("checkpoint")
def checkpoint_cmd(
    export: Path | None = typer.Option(
        None, "--export", "-e", help="Also write the checkpoint to this JSON file. 同时导出到此 JSON 文件。"
    ),
) -> None:
    """Verify the ledger and store a Merkle checkpoint over all its entries; keep exports off-site.
    校验账本并保存覆盖全部条目的默克尔检查点；导出文件请另处保存。"""
    with session_scope() as session:
        data = service.export_checkpoint(service.do_checkpoint(session=session))
    typer.echo(_("checkpoint at entry {seq}: root {root}").format(seq=data["upto_seq"], root=data["root"]))
    if export is not None:
        service.write_checkpoint(data, export)
        typer.echo(_("exported to {path}").format(path=export))


@app.command("prove")
def prove_cmd(
    seq: int = typer.Argument(..., help="Entry number. 条目序号。"),
    checkpoint: Path | None = typer.Option(
        None,
        "--checkpoint",
        "-c",
        help="Prove against this exported checkpoint (default: newest stored). 针对此导出检查点证明。",
    ),
) -> None:
    """Print a JSON proof that entry SEQ is included in a checkpoint.
    输出条目 SEQ 包含于检查点的 JSON 证明。"""
    target: dict[str, Any] | None = None
    if checkpoint is not None:
        covering = [cp for cp in service.read_checkpoints(checkpoint) if cp["upto_seq"] >= seq]
        if not covering:
            raise LedgerError(f"no checkpoint in {checkpoint} covers entry {seq}", details={"seq": seq})
        target = max(covering, key=lambda cp: cp["upto_seq"])
    with session_scope() as session:
        proof = service.entry_inclusion_proof(seq, session=session, checkpoint=target)
    typer.echo(json.dumps(proof, indent=2, sort_keys=True, ensure_ascii=False))


@app.command("check-proof")
def check_proof_cmd(
    proof_file: Path = typer.Argument(..., help="A proof printed by `prove`. `prove` 输出的证明文件。"),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", "-c", help="Trusted exported checkpoint. 可信的导出检查点。"
    ),
) -> None:
    """Check a proof offline (no database), optionally against a trusted exported checkpoint.
    离线校验证明（无需数据库），可指定可信检查点。"""
    try:
        proof = json.loads(proof_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerFileError(
            f"cannot read proof file {proof_file}: {exc}", details={"file": str(proof_file)}
        ) from None
    trusted = service.read_checkpoints(checkpoint)[-1] if checkpoint is not None else None
    if not isinstance(proof, dict) or not service.verify_entry_proof(proof, trusted):
        raise LedgerError(f"proof in {proof_file} does not verify", details={"reason": "proof"})
    text = _("proof OK: entry {seq} is in the tree of {upto}")
    typer.echo(text.format(seq=proof["entry"]["seq"], upto=proof["checkpoint"]["upto_seq"]))


@app.command("tail")
def tail_cmd(
    n: int = typer.Option(20, "-n", "--lines", min=1, help="How many entries. 显示条数。"),
) -> None:
    """Show the newest entries. 显示最新的条目。"""
    with session_scope() as session:
        entries = service.list_tail(n, session=session)
        table = Table(title=_("Audit ledger (newest first)"))
        heads = (_("Recorded at (UTC)"), _("Kind"), _("Actor"), _("Items"), _("Payload"), _("Entry hash"))
        for col in (_("Seq"), *heads):
            table.add_column(col, overflow="fold")
        for e in entries:
            payload = json.dumps(e.payload, sort_keys=True, ensure_ascii=False)
            table.add_row(
                str(e.seq),
                e.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                e.kind,
                e.actor,
                str(e.item_count) if e.item_count else "",
                payload if len(payload) <= 60 else payload[:57] + "…",
                e.entry_hash[:16] + "…",
            )
    console.print(table)

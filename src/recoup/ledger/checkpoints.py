"""Checkpoint data for the audit ledger: the newest stored checkpoint, exported checkpoint files
(export, write, read, validate) and reading signed published checkpoints.

A checkpoint ``{upto_seq, root, head_hash}`` is the Merkle root over entries ``1..upto_seq`` and the
hash of entry ``upto_seq``; kept outside the database it reveals deleted or rewritten entries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recoup.config import get_settings
from recoup.errors import LedgerError, LedgerFileError
from recoup.ledger import signing
from recoup.ledger.hashing import canonical_json, iso
from recoup.ledger.models import LedgerCheckpoint

__all__ = [
    "export_checkpoint",
    "latest_checkpoint",
    "read_checkpoints",
    "read_published",
    "write_checkpoint",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# --------------------------------------------------------------------------- checkpoints


def latest_checkpoint(*, session: Session) -> LedgerCheckpoint | None:
    """The stored checkpoint covering the most entries, if any."""
    return session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.upto_seq.desc()).limit(1)
    ).first()


def export_checkpoint(cp: LedgerCheckpoint | Mapping[str, Any]) -> dict[str, Any]:
    """JSON-ready ``{upto_seq, root, head_hash, created_at}``: keep it somewhere the database is not."""
    if isinstance(cp, LedgerCheckpoint):
        return {
            "upto_seq": cp.upto_seq,
            "root": cp.root,
            "head_hash": cp.head_hash,
            "created_at": iso(cp.created_at),
        }
    return _parse_checkpoint(cp, "checkpoint")


def write_checkpoint(cp: LedgerCheckpoint | Mapping[str, Any], path: Path) -> Path:
    """Write one exported checkpoint to ``path`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export_checkpoint(cp), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_checkpoints(path: Path) -> list[dict[str, Any]]:
    """Exported checkpoints from a JSON file holding one object or a list of them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LedgerFileError(
            f"cannot read checkpoint file {path}: {exc}", details={"file": str(path)}
        ) from None
    items = data if isinstance(data, list) else [data]
    return [_parse_checkpoint(item, f"checkpoint {i} in {path}") for i, item in enumerate(items, 1)]


def _parse_checkpoint(data: Any, label: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise LedgerError(f"{label} is not a JSON object", details={"reason": "checkpoint"})
    upto, root, head = data.get("upto_seq"), data.get("root"), data.get("head_hash")
    if not isinstance(upto, int) or isinstance(upto, bool) or upto < 1:
        raise LedgerError(f"{label} has no valid upto_seq", details={"reason": "checkpoint"})
    for name, value in (("root", root), ("head_hash", head)):
        if not isinstance(value, str) or not _HEX64.match(value):
            raise LedgerError(f"{label} has no valid {name}", details={"reason": "checkpoint"})
    out = {"upto_seq": upto, "root": root, "head_hash": head}
    if isinstance(data.get("created_at"), str):
        out["created_at"] = data["created_at"]
    return out


# --------------------------------------------------------------------------- published checkpoints


def read_published(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """Published checkpoints as ``(label, raw data)``: one file, or every ``*.json`` file of a directory
    (``checkpoint-*.json`` and ``latest.json`` in the publish directory; duplicates dropped).
    Signatures are checked by :func:`verify`."""
    if path.is_dir():
        files = sorted(p for p in path.glob("*.json") if p.is_file())
    elif path.exists():
        files = [path]
    else:
        raise LedgerError(
            f"no published checkpoint at {path}", details={"file": str(path), "reason": "published"}
        )
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[bytes] = set()
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LedgerError(
                f"cannot read published checkpoint {file}: {exc}", details={"file": str(file)}
            ) from exc
        items = data if isinstance(data, list) else [data]
        for item in items:
            ident = canonical_json(item)
            if ident not in seen:
                seen.add(ident)
                out.append((f"published checkpoint {file}", item))
    return out


def _published_claims(
    published: Sequence[Mapping[str, Any] | tuple[str, Mapping[str, Any]]],
    public_keys: Mapping[str, signing.PublicKey] | None,
) -> list[tuple[str, dict[str, Any]]]:
    """Each published checkpoint checked (signature by a trusted key, then its fields)."""
    if not published:
        return []
    trusted = public_keys if public_keys is not None else signing.default_trusted_keys(get_settings())
    out = []
    for i, item in enumerate(published, 1):
        label, data = item if isinstance(item, tuple) else (f"published checkpoint {i}", item)
        body = signing.check_signed_checkpoint(data, trusted, label)
        claim = _parse_checkpoint(body, label)
        signed_from = body.get("signed_from")
        if isinstance(signed_from, int) and not isinstance(signed_from, bool) and signed_from >= 1:
            claim["signed_from"] = signed_from
        out.append((label, claim))
    return out

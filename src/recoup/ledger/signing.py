"""Ed25519 signatures for the audit ledger: every new entry and every published checkpoint is signed.

The hash chain alone cannot stop someone with write access to the database: they can delete the newest
entries or append an entry with correct hashes. A signature needs the **signing key**, which lives in a
file (or a setting), not in the database, so such a forger cannot make one.

* The key is **separate from the PII key**: ``RECOUP_LEDGER_SIGNING_KEY`` (base64 of the 32-byte Ed25519
  seed) or, when unset, ``data_dir/secrets/ledger-signing.key``, generated once (mode 0600, never
  overwritten).
* Its public key is written to ``data_dir/ledger/signing.pub`` (PEM, SubjectPublicKeyInfo: ``openssl
  pkey -pubin -in signing.pub -text`` reads it) when that file is missing; it is the key ``recoup ledger
  verify`` trusts by default. The file is never overwritten: after changing the signing key, keep the
  old public key and pass both with ``--public-key``.
* A key id is the first 16 hex digits of sha256(raw 32-byte public key).
* What is signed carries a context prefix, so an entry signature can never pass as a checkpoint's:
  an entry: ``b"recoup.ledger.entry.v1\\0" + entry_hash`` (its 64 hex digits, ASCII); a checkpoint:
  ``b"recoup.ledger.checkpoint.v1\\0" + canonical_json(every field but "signature")``.
  Signatures are stored as 128 hex digits.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from recoup.config import Settings
from recoup.configs import service as _configs
from recoup.errors import ConfigError, LedgerError, LedgerSignatureError

__all__ = [
    "CHECKPOINT_CONTEXT",
    "ENTRY_CONTEXT",
    "PublicKey",
    "SigningKey",
    "check_signed_checkpoint",
    "default_trusted_keys",
    "key_file_path",
    "key_id_of",
    "load_signing_key",
    "public_key_path",
    "read_public_key",
    "sign_checkpoint",
    "trusted_keys",
]

ENTRY_CONTEXT = b"recoup.ledger.entry.v1\x00"
CHECKPOINT_CONTEXT = b"recoup.ledger.checkpoint.v1\x00"
_HEX = frozenset("0123456789abcdef")


def key_id_of(public_raw: bytes) -> str:
    """First 16 hex digits of sha256 of the raw 32-byte public key."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """A public key the verifier trusts (or a checkpoint names)."""

    raw: bytes
    key_id: str
    key: Ed25519PublicKey

    @classmethod
    def from_raw(cls, raw: bytes) -> PublicKey:
        return cls(raw=raw, key_id=key_id_of(raw), key=Ed25519PublicKey.from_public_bytes(raw))

    @property
    def b64(self) -> str:
        return base64.b64encode(self.raw).decode()

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature_hex: str, data: bytes) -> bool:
        """True when ``signature_hex`` (128 hex digits) is this key's signature of ``data``."""
        if len(signature_hex) != 128:
            return False
        try:
            self.key.verify(bytes.fromhex(signature_hex), data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def verify_entry(self, entry_hash: str, signature_hex: str) -> bool:
        return self.verify(signature_hex, ENTRY_CONTEXT + entry_hash.encode("ascii"))


@dataclass(frozen=True)
class SigningKey:
    """The installation's private signing key and its public half."""

    private: Ed25519PrivateKey
    public: PublicKey

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, data: bytes) -> str:
        """The signature of ``data`` as 128 hex digits (Ed25519 is deterministic)."""
        return self.private.sign(data).hex()

    def sign_entry(self, entry_hash: str) -> str:
        return self.sign(ENTRY_CONTEXT + entry_hash.encode("ascii"))


# --------------------------------------------------------------------------- the key


def key_file_path(settings: Settings) -> Path:
    return settings.data_dir / "secrets" / "ledger-signing.key"


def public_key_path(settings: Settings) -> Path:
    return settings.data_dir / "ledger" / "signing.pub"


def _decode_seed(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"ledger signing key in {where} must be base64 of a 32-byte Ed25519 seed")
    return raw


def _write_new(path: Path, content: bytes, mode: int) -> None:
    """Create ``path`` holding ``content`` unless it exists; never a half-written file, never clobbering.

    The content goes to a private temporary file first (O_EXCL, ``mode``), then is hard-linked into
    place, which fails if another process won the race; that process's file is then kept.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process won: keep its file
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=8)
def _key_from_seed(seed: bytes) -> SigningKey:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKey(private=private, public=PublicKey.from_raw(raw))


@functools.lru_cache(maxsize=8)
def _key_from_file(path: str, _stamp: tuple[int, int, int]) -> SigningKey:
    return _key_from_seed(_decode_seed(Path(path).read_text(encoding="ascii"), path))


_pub_written: set[tuple[str, bytes]] = set()


def load_signing_key(settings: Settings) -> SigningKey:
    """The signing key (setting, else the key file, generated once); writes ``signing.pub`` if missing."""
    if settings.ledger_signing_key is not None:
        key = _key_from_seed(_decode_seed(settings.ledger_signing_key.get_secret_value(), "settings"))
    else:
        path = key_file_path(settings)
        if not path.exists():
            _write_new(path, base64.b64encode(os.urandom(32)) + b"\n", 0o600)
        try:
            st = path.stat()
            key = _key_from_file(str(path), (st.st_ino, st.st_mtime_ns, st.st_size))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the ledger signing key {path}: {exc}") from exc
    pub = public_key_path(settings)
    marker = (str(pub), key.public.raw)
    if marker not in _pub_written:
        if not pub.exists():
            _write_new(pub, key.public.pem(), 0o644)
        _pub_written.add(marker)
    return key


def read_public_key(path: Path) -> PublicKey:
    """A public key file: PEM (as written to ``signing.pub``) or base64 of the raw 32 bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LedgerError(
            f"cannot read public key {path}: {exc}", details={"file": str(path), "reason": "public_key"}
        ) from exc
    try:
        if b"-----BEGIN" in data:
            loaded = serialization.load_pem_public_key(data)
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError("not an Ed25519 public key")
            raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        else:
            raw = base64.b64decode(data.strip(), validate=True)
        return PublicKey.from_raw(raw)
    except (ValueError, binascii.Error) as exc:
        raise LedgerError(
            f"{path} is not an Ed25519 public key (PEM, or base64 of 32 bytes): {exc}",
            details={"file": str(path), "reason": "public_key"},
        ) from exc


def trusted_keys(paths: Iterable[Path]) -> dict[str, PublicKey]:
    """The public keys in ``paths``, by key id."""
    keys = [read_public_key(p) for p in paths]
    return {k.key_id: k for k in keys}


def default_trusted_keys(settings: Settings) -> dict[str, PublicKey]:
    """The installation's ``signing.pub`` (written from the signing key first, if it is missing)."""
    pub = public_key_path(settings)
    if not pub.exists():
        load_signing_key(settings)
    return trusted_keys([pub])


# --------------------------------------------------------------------------- signed checkpoints


def _signed_bytes(fields: Mapping[str, Any]) -> bytes:
    return CHECKPOINT_CONTEXT + _configs.canonical_json(dict(fields))


def sign_checkpoint(fields: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """``fields`` plus ``key_id``, ``public_key`` (base64 raw) and ``signature`` over all the others."""
    body = {**fields, "key_id": key.key_id, "public_key": key.public.b64}
    return {**body, "signature": key.sign(_signed_bytes(body))}


def check_signed_checkpoint(data: Any, trusted: Mapping[str, PublicKey], label: str) -> dict[str, Any]:
    """The fields of a signed checkpoint whose signature verifies by a trusted key; else
    :class:`LedgerSignatureError` (code ``ledger.bad_signature``)."""

    def bad(why: str, reason: str = "signature") -> LedgerSignatureError:
        return LedgerSignatureError(f"{label}: {why}", details={"checkpoint": label, "reason": reason})

    if not isinstance(data, Mapping):
        raise bad("not a JSON object", "checkpoint")
    sig, key_id, pub_b64 = data.get("signature"), data.get("key_id"), data.get("public_key")
    if not isinstance(sig, str) or not isinstance(key_id, str) or not isinstance(pub_b64, str):
        raise bad("not a signed checkpoint (signature, key_id and public_key are required)")
    try:
        embedded = PublicKey.from_raw(base64.b64decode(pub_b64, validate=True))
    except (ValueError, binascii.Error):
        raise bad("its public_key is not an Ed25519 public key") from None
    trusted_key = trusted.get(embedded.key_id)
    if trusted_key is None or trusted_key.raw != embedded.raw:
        known = ", ".join(sorted(trusted)) or "none"
        raise bad(
            f"signed by key {embedded.key_id}, which is not the trusted public key (trusted: {known})",
            "untrusted_key",
        )
    if key_id != embedded.key_id:
        raise bad(f"key_id {key_id!r} does not belong to its public key ({embedded.key_id})")
    body = {k: v for k, v in data.items() if k != "signature"}
    if not (set(sig) <= _HEX and trusted_key.verify(sig, _signed_bytes(body))):
        raise bad("signature does not verify (the file was altered or forged)")
    return body

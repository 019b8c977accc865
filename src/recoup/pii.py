"""Personal data: field encryption, lookup hashes, masking for output, and a log filter.

Pure functions, no database. Encrypted fields are AES-256-GCM tokens
(``base64url(version ‖ key id ‖ nonce ‖ ciphertext+tag)``, the version and key id authenticated as
associated data; version-1 tokens, written before key rotation existed, have no key id); equality
lookups use an HMAC of the *normalised* value under the lookup key, so the same phone written
``+86 138-1234-5678`` or ``13812345678`` finds the same row without storing it in clear.

The encryption key can be rotated (``recoup pii rotate-key``); a cipher then also holds the retired
keys, to read what they encrypted. The lookup key never changes: it is derived from the first PII
key and, once that key has been rotated, kept in a file of its own (see :mod:`recoup.keys`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from recoup.config import Settings, get_settings
from recoup.errors import PiiError

#: Token format version (first byte of every new token): 2 = version ‖ key id ‖ nonce ‖ sealed.
TOKEN_VERSION: Final = 2
_V1: Final = 1  # version ‖ nonce ‖ sealed, no key id (tokens written before rotation existed)
KEY_ID_BYTES: Final = 8
_FINGERPRINT_LABEL: Final = b"recoup pii key fingerprint v1"
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_KEY_BYTES: Final = 32
_LOOKUP_INFO: Final = b"recoup-lookup"

#: Kinds of personal data :func:`mask` knows.
PII_KINDS: Final = ("phone", "email", "address", "national_id", "name", "im")

_CN_MOBILE = re.compile(r"1[3-9]\d{9}", re.ASCII)
_CN_ID = re.compile(r"\d{17}[\dX]", re.ASCII)
_ASCII_DIGITS = frozenset("0123456789")


def fingerprint(key: bytes) -> str:
    """A public fingerprint of ``key`` (32 hex digits); it reveals nothing about the key. Its first
    :data:`KEY_ID_BYTES` bytes are the key id written into every token."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:32]


def key_id(key: bytes) -> bytes:
    """The id of ``key`` written into its tokens (the first bytes of its fingerprint)."""
    return bytes.fromhex(fingerprint(key)[: 2 * KEY_ID_BYTES])


def derive_lookup_key(key: bytes) -> bytes:
    """The lookup (blind index) key derived from a PII key, as every installation had before rotation."""
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=_LOOKUP_INFO).derive(key)


def _check_length(key: bytes, what: str = "PII key") -> None:
    if len(key) != _KEY_BYTES:
        raise PiiError(
            f"{what} must be {_KEY_BYTES} bytes, got {len(key)} / PII 密钥必须为 {_KEY_BYTES} 字节",
            details={"length": len(key)},
        )


class PiiCipher:
    """AES-256-GCM encryption of PII fields and keyed lookup hashes.

    ``key`` encrypts; it and the ``retired`` keys decrypt (a token names its key by id). The lookup
    key is ``lookup_key`` when given, else derived from ``key`` (installations that never rotated)."""

    def __init__(self, key: bytes, *, retired: Iterable[bytes] = (), lookup_key: bytes | None = None) -> None:
        _check_length(key)
        self._aead = AESGCM(key)
        self._id = key_id(key)
        self._keys: dict[bytes, AESGCM] = {self._id: self._aead}
        for old in retired:
            _check_length(old, "retired PII key")
            self._keys.setdefault(key_id(old), AESGCM(old))
        if lookup_key is not None:
            _check_length(lookup_key, "PII lookup key")
        self._lookup_key = lookup_key if lookup_key is not None else derive_lookup_key(key)

    def __repr__(self) -> str:
        return "PiiCipher(<key hidden>)"

    @property
    def key_id(self) -> bytes:
        """The id of the encryption key (see :func:`key_id`)."""
        return self._id

    def encrypt(self, text: str) -> str:
        """Encrypt ``text``; every call uses a fresh random nonce, so equal inputs give different tokens."""
        nonce = os.urandom(_NONCE_BYTES)
        header = bytes([TOKEN_VERSION]) + self._id
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), header)
        return base64.urlsafe_b64encode(header + nonce + sealed).rstrip(b"=").decode("ascii")

    @staticmethod
    def _raw(token: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise PiiError("PII token is not valid base64url / PII 密文格式无效") from exc
        if len(raw) < 1 + _NONCE_BYTES + _TAG_BYTES:
            raise PiiError("PII token is too short / PII 密文过短", details={"length": len(raw)})
        if raw[0] not in (_V1, TOKEN_VERSION):
            raise PiiError(
                f"unknown PII token version {raw[0]} / 未知的 PII 密文版本 {raw[0]}",
                details={"version": raw[0]},
            )
        if raw[0] == TOKEN_VERSION and len(raw) < 1 + KEY_ID_BYTES + _NONCE_BYTES + _TAG_BYTES:
            raise PiiError("PII token is too short / PII 密文过短", details={"length": len(raw)})
        return raw

    def decrypt(self, token: str) -> str:
        """The text sealed in ``token``; PiiError if it is malformed, altered or from a key this cipher
        does not hold."""
        raw = self._raw(token)
        if raw[0] == TOKEN_VERSION:
            cut = 1 + KEY_ID_BYTES
            header, nonce, sealed = raw[:cut], raw[cut : cut + _NONCE_BYTES], raw[cut + _NONCE_BYTES :]
            aead = self._keys.get(raw[1:cut])
            candidates = [] if aead is None else [aead]
        else:  # version 1 names no key: the current key first, then each retired one
            header, nonce, sealed = raw[:1], raw[1 : 1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES :]
            candidates = list(self._keys.values())
        for aead in candidates:
            try:
                return aead.decrypt(nonce, sealed, header).decode("utf-8")
            except InvalidTag:
                continue
        raise PiiError(
            "cannot decrypt PII: the token was altered or the key is wrong (not the key, nor a retired"
            " key, of this installation) / 无法解密个人信息：密文被篡改或密钥错误"
        )

    def is_current(self, token: str) -> bool:
        """Whether ``token`` is already in the current format under the current key (no re-encryption
        needed). Says nothing about whether it is authentic."""
        try:
            raw = self._raw(token)
        except PiiError:
            return False
        return raw[0] == TOKEN_VERSION and raw[1 : 1 + KEY_ID_BYTES] == self._id

    def reencrypt(self, token: str) -> str:
        """``token`` under the current key (itself when it already is)."""
        return token if self.is_current(token) else self.encrypt(self.decrypt(token))

    def lookup_hash(self, text: str, kind: str | None = None) -> str:
        """Hex HMAC-SHA256 of the normalised value (see :func:`normalise`), for equality lookups."""
        value = normalise(kind, text)
        return hmac.new(self._lookup_key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def cipher_from_settings(settings: Settings | None = None) -> PiiCipher:
    """The cipher for the configured PII key (generated once into the data dir if unset), checked
    against the fingerprint the database recorded: another key, or a lost key, is refused. It also
    decrypts with the retired keys, and hashes with the installation's stable lookup key."""
    from recoup.keys.service import keyring

    return keyring(settings or get_settings())


# --- normalisation ---------------------------------------------------------------------------


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def normalise_national_id(text: str) -> str:
    """Strip whitespace; a Chinese 18-character ID gets its final check character upper-cased."""
    value = "".join(_nfkc(text).split())
    if len(value) == 18 and _CN_ID.fullmatch(value.upper()):
        value = value[:17] + value[17].upper()
    return value


def normalise_phone(text: str) -> str:
    """Digits only; a Chinese mobile loses its ``+86`` / ``0086`` / ``86`` country prefix."""
    digits = "".join(c for c in _nfkc(text) if c in _ASCII_DIGITS)
    for prefix in ("0086", "86"):
        rest = digits.removeprefix(prefix)
        if rest != digits and _CN_MOBILE.fullmatch(rest):
            return rest
    return digits


def normalise_email(text: str) -> str:
    """Trimmed and lower-cased."""
    return _nfkc(text).strip().lower()


_PHONEISH = re.compile(r"[\d\s+()./-]+", re.ASCII)


def normalise(kind: str | None, text: str) -> str:
    """The canonical form of ``text`` as a ``kind`` value; ``kind=None`` recognises IDs, phones, emails."""
    if kind == "national_id":
        return normalise_national_id(text)
    if kind == "phone":
        return normalise_phone(text)
    if kind == "email":
        return normalise_email(text)
    if kind is not None:
        return " ".join(_nfkc(text).split())
    compact = "".join(_nfkc(text).split())
    if _CN_ID.fullmatch(compact.upper()):
        return normalise_national_id(compact)
    if "@" in compact:
        return normalise_email(compact)
    if _PHONEISH.fullmatch(compact) and any(c.isdigit() for c in compact):
        return normalise_phone(compact)
    return " ".join(_nfkc(text).split())


# --- masking ---------------------------------------------------------------------------------


def _stars(n: int) -> str:
    return "*" * max(n, 0)


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``; other numbers keep only their last 4 digits."""
    digits = normalise_phone(value)
    if _CN_MOBILE.fullmatch(digits):
        return digits[:3] + "****" + digits[-4:]
    if len(digits) <= 4:
        return _stars(len(digits))
    return _stars(len(digits) - 4) + digits[-4:]


def mask_email(value: str) -> str:
    """``zhangsan@example.com`` → ``z*******@example.com`` (domain kept)."""
    local, at, domain = value.strip().rpartition("@")
    if not at:
        return mask_im(value)
    if len(local) <= 1:
        return _stars(len(local)) + "@" + domain
    return local[0] + _stars(len(local) - 1) + "@" + domain


def mask_national_id(value: str) -> str:
    """``110101199003071234`` → ``1101**********1234`` (first 4 and last 4 kept)."""
    v = normalise_national_id(value)
    if len(v) > 8:
        return v[:4] + _stars(len(v) - 8) + v[-4:]
    if len(v) > 2:
        return _stars(len(v) - 2) + v[-2:]
    return _stars(len(v))


def mask_address(value: str) -> str:
    """The first 6 characters then ``****`` (fewer kept for short addresses)."""
    v = value.strip()
    if not v:
        return ""
    return v[: min(6, len(v) // 2)] + "****"


def _is_cjk(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK ")


def mask_name(value: str) -> str:
    """``张三丰`` → ``张**`` (surname kept); Latin names keep their first letter: ``J***``."""
    v = value.strip()
    if not v:
        return ""
    if _is_cjk(v[0]):
        return v[0] + _stars(len(v) - 1) if len(v) > 1 else "*"
    return v[0] + "***"


def mask_im(value: str) -> str:
    """An instant-messaging handle (WeChat, QQ …): first and last character kept."""
    v = value.strip()
    if len(v) <= 2:
        return _stars(len(v))
    return v[0] + "***" + v[-1]


_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "email": mask_email,
    "address": mask_address,
    "national_id": mask_national_id,
    "name": mask_name,
    "im": mask_im,
}


def mask(kind: str, value: str) -> str:
    """Mask ``value`` as a ``kind`` (one of :data:`PII_KINDS`) for display to roles without ``pii.unmask``."""
    try:
        masker = _MASKERS[kind]
    except KeyError:
        raise PiiError(
            f"unknown PII kind {kind!r}; one of {', '.join(PII_KINDS)} / 未知的个人信息类型 {kind!r}",
            details={"kind": kind},
        ) from None
    return masker(value) if value else ""


# --- logs ------------------------------------------------------------------------------------

_LOG_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
_LOG_MOBILE = re.compile(
    r"(?<![0-9])(?P<cc>(?:\+|00)?86[ -]?)?(?P<head>1[3-9][0-9])[ -]?(?P<mid>[0-9]{4})[ -]?(?P<tail>[0-9]{4})"
    r"(?![0-9])"
)


def mask_text(text: str) -> str:
    """``text`` with every Chinese mobile number and 18-digit ID number masked."""
    text = _LOG_ID.sub(lambda m: mask_national_id(m.group(0)), text)
    return _LOG_MOBILE.sub(lambda m: (m.group("cc") or "") + m.group("head") + "****" + m.group("tail"), text)


def error_line(exc: object) -> str:
    """An error as one masked line: the driver's error under a SQLAlchemy wrapper, first line only —
    never the statement or its bound parameters (names, phones) that the rest of the text carries."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return mask_text(lines[0]) if lines else ""


class PiiLogFilter(logging.Filter):
    """Masks Chinese mobile numbers and ID numbers in a record's message, arguments and traceback.

    The message is rendered (``msg % args``) and masked, so numbers passed as ``%s``/``%d``
    arguments are caught too; the record then carries the masked text and no arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: mask the parts rather than lose the record
            record.msg = mask_text(str(record.msg))
            record.args = _mask_args(record.args)
        else:
            record.msg = mask_text(message)
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _mask_args(args: Any) -> Any:
    if isinstance(args, dict):
        return {k: mask_text(v) if isinstance(v, str) else v for k, v in args.items()}
    if isinstance(args, tuple):
        return tuple(mask_text(a) if isinstance(a, str) else a for a in args)
    return args


def install_log_filter(logger: logging.Logger | None = None) -> PiiLogFilter:
    """Attach one :class:`PiiLogFilter` to every handler of ``logger`` (default: root) and return it.

    Idempotent. Handlers added later need the filter too (call again after configuring logging).
    """
    target = logger or logging.getLogger()
    handlers = list(target.handlers)
    if logging.lastResort is not None and target is logging.getLogger():
        handlers.append(logging.lastResort)
    existing = next(
        (f for h in handlers for f in h.filters if isinstance(f, PiiLogFilter)),
        None,
    )
    pii_filter = existing or PiiLogFilter()
    for handler in handlers:
        if not any(isinstance(f, PiiLogFilter) for f in handler.filters):
            handler.addFilter(pii_filter)
    return pii_filter

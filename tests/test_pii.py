"""PII: encryption round trips and tamper detection, lookup hashes, masking, and the log filter."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoup import pii
from recoup.config import Settings
from recoup.errors import PiiError

KEY = bytes(range(32))
CIPHER = pii.PiiCipher(KEY)


@given(st.text())
def test_encrypt_decrypt_round_trip(text: str) -> None:
    token = CIPHER.encrypt(text)
    assert CIPHER.decrypt(token) == text
    assert token.isascii() and "+" not in token and "/" not in token


def test_ciphertext_differs_per_call_and_hides_the_text() -> None:
    a, b = CIPHER.encrypt("13812345678"), CIPHER.encrypt("13812345678")
    assert a != b
    assert "13812345678" not in a
    assert CIPHER.decrypt(a) == CIPHER.decrypt(b) == "13812345678"


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("index", [0, 1, 13, -1])  # version, nonce, ciphertext, tag
def test_tampered_token_is_refused(index: int) -> None:
    token = CIPHER.encrypt("110101199003071234")
    with pytest.raises(PiiError):
        CIPHER.decrypt(_flip(token, index))


@pytest.mark.parametrize("token", ["", "AQ", "not base64 !!", "A" * 40])
def test_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(PiiError):
        CIPHER.decrypt(token)


def test_wrong_key_is_refused() -> None:
    token = CIPHER.encrypt("张三丰")
    with pytest.raises(PiiError) as info:
        pii.PiiCipher(os.urandom(32)).decrypt(token)
    assert "key" in info.value.message and "密钥" in info.value.message


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(PiiError):
        pii.PiiCipher(b"short")


def test_lookup_hash_ignores_formatting() -> None:
    h = CIPHER.lookup_hash
    assert h("110101199003071234") == h(" 110101 19900307 1234 ")
    assert h("11010119900307123x") == h("11010119900307123X")
    assert h("13812345678") == h("+86 138-1234-5678") == h("008613812345678") == h("(138) 1234 5678")
    assert h("13812345678", "phone") == h("+8613812345678", "phone")
    assert h("ZhangSan@Example.com ") == h("zhangsan@example.com")


def test_lookup_hash_separates_values_and_keys() -> None:
    h = CIPHER.lookup_hash
    assert h("13812345678") != h("13812345679")
    assert h("110101199003071234") != h("110101199003071235")
    digest = h("13812345678")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert pii.PiiCipher(os.urandom(32)).lookup_hash("13812345678") != digest
    # keyed with a derived key, not a plain or master-key hash of the value
    assert digest != hashlib.sha256(b"13812345678").hexdigest()
    assert digest != hmac.new(KEY, b"13812345678", hashlib.sha256).hexdigest()


def test_normalisers() -> None:
    assert pii.normalise_national_id(" 11010119900307123x ") == "11010119900307123X"
    assert pii.normalise_phone("+86 138-1234-5678") == "13812345678"
    assert pii.normalise_phone("0086 13812345678") == "13812345678"
    assert pii.normalise_phone("+1 (415) 555-0100") == "14155550100"
    assert pii.normalise_phone("８６１３８１２３４５６７８") == "13812345678"  # full-width digits


def test_cipher_from_settings_uses_the_configured_key(settings: Settings) -> None:
    a = pii.cipher_from_settings(settings)
    b = pii.cipher_from_settings(settings)
    assert b.decrypt(a.encrypt("x")) == "x"
    assert "key" in repr(a) and str(settings.pii_key_bytes()) not in repr(a)


@pytest.mark.parametrize(
    ("kind", "value", "masked"),
    [
        ("phone", "13812345678", "138****5678"),
        ("phone", "+86 138 1234 5678", "138****5678"),
        ("phone", "02112345678", "*******5678"),
        ("email", "zhangsan@example.com", "z*******@example.com"),
        ("national_id", "110101199003071234", "1101**********1234"),
        ("address", "上海市浦东新区世纪大道100号", "上海市浦东新****"),
        ("name", "张三丰", "张**"),
        ("name", "John Smith", "J***"),
        ("im", "wxid_abc123", "w***3"),
        ("phone", "", ""),
    ],
)
def test_mask(kind: str, value: str, masked: str) -> None:
    assert pii.mask(kind, value) == masked


def test_mask_functions() -> None:
    assert pii.mask_phone("13812345678") == "138****5678"
    assert pii.mask_email("zhangsan@example.com") == "z*******@example.com"
    assert pii.mask_national_id("110101199003071234") == "1101**********1234"
    assert pii.mask_address("上海市浦东新区世纪大道100号") == "上海市浦东新****"
    assert pii.mask_name("张三丰") == "张**"


def test_mask_unknown_kind() -> None:
    with pytest.raises(PiiError) as info:
        pii.mask("blood_type", "O")
    assert "blood_type" in info.value.message


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    pii.install_log_filter()
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_log_filter_masks_phone_and_id_numbers(log_stream: io.StringIO) -> None:
    log = logging.getLogger("recoup.test")
    log.info("called %s for borrower id %s", "13812345678", "110101199003071234")
    log.info("phone +86 139-8765-4321 / id 11010119900307123X; amount %d", 13900000000)
    try:
        raise ValueError("bad phone 13712345678")
    except ValueError:
        log.exception("lookup failed for %(who)s", {"who": "15012345678"})
    out = log_stream.getvalue()
    for secret in (
        "13812345678",
        "110101199003071234",
        "8765",
        "11010119900307123X",
        "13712345678",
        "1501234",
    ):
        assert secret not in out
    assert "called 138****5678 for borrower id 1101**********1234" in out
    assert "+86 139****4321" in out and "1101**********123X" in out
    assert "amount 139****0000" in out
    assert "bad phone 137****5678" in out and "lookup failed for 150****5678" in out


def test_log_filter_leaves_other_numbers_alone() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "loan %s owes %d fen", ("L-1234567", 120000), None
    )
    assert pii.PiiLogFilter().filter(record)
    assert record.getMessage() == "loan L-1234567 owes 120000 fen"


def test_install_log_filter_is_idempotent(log_stream: io.StringIO) -> None:
    handler = logging.getLogger().handlers[-1]
    first = pii.install_log_filter()
    assert pii.install_log_filter() is first
    assert sum(isinstance(f, pii.PiiLogFilter) for f in handler.filters) == 1

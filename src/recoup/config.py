"""The one Settings object: RECOUP_* environment variables and ``.env``.

Invalid settings stop start-up with a :class:`~recoup.errors.ConfigError` naming each bad
variable, never a pydantic traceback.
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from recoup.errors import ConfigError

#: Currencies recoup knows, with their minor-unit exponent (ISO 4217).
CURRENCY_MINOR_DIGITS: dict[str, int] = {
    "CNY": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "INR": 2,
    "NOK": 2,
    "HKD": 2,
    "JPY": 0,
}

#: The sample lender identity the default strategy ships for the demo (docs/dispatch.md, "Safe sending").
#: Real channels refuse to send while the identity settings are unset or still one of these.
SAMPLE_LENDER_NAME = "recoup 示例金融"
SAMPLE_SMS_SIGNATURE = "【recoup 示例金融】"
SAMPLE_HOTLINE = "400-000-0000"
SAMPLE_PAYMENT_DOMAIN = "pay.recoup.local"

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
_HOTLINE = re.compile(r"^\+?[0-9(][0-9 ()\-]{2,38}[0-9]$")

Jurisdiction = Literal["cn", "us", "us-ma", "uk", "in", "eu", "no"]
Locale = Literal["zh_CN", "en"]


class Settings(BaseSettings):
    """Every setting of a recoup installation."""

    model_config = SettingsConfigDict(
        env_prefix="RECOUP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default=Path("recoup-data"), description="Where the embedded defaults live.")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in data_dir.")
    lake_uri: str = Field(default="", description="Root of the Delta lake; default data_dir/lake.")
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    timezone: str = Field(default="Asia/Shanghai", description="The lender's timezone (IANA).")
    currency: str = Field(default="CNY")
    locale: Locale = "zh_CN"
    jurisdiction: Jurisdiction = "cn"
    pii_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 random bytes; default: generated once into data_dir/secrets/pii.key",
    )
    pii_lookup_key: SecretStr | None = Field(
        default=None,
        description="base64 of the 32-byte lookup (blind index) key, which never changes; default: "
        "data_dir/secrets/pii-lookup.key once the PII key has been rotated, else derived from the PII key",
    )
    ledger_signing_key: SecretStr | None = Field(
        default=None,
        description="base64 of the 32-byte Ed25519 seed that signs ledger entries and published "
        "checkpoints (not the PII key); default: generated once into data_dir/secrets/ledger-signing.key",
    )
    ledger_publish_dir: Path | None = Field(
        default=None,
        description="Where signed ledger checkpoints are published (ship copies elsewhere); "
        "default data_dir/ledger/published",
    )
    import_error_limit: int = Field(default=50, ge=1, le=100_000)
    lock_wait_seconds: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description="How long an import or a cycle run waits for another one to finish before giving up.",
    )
    import_gap_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        le=600,
        description="An import that skips days not yet imported first waits this long for their imports "
        "to queue (two days started together then apply in date order).",
    )
    link_domains: list[str] = Field(
        default_factory=lambda: ["pay.recoup.local"],
        description="Domains messages may link to (JSON list); any other link is refused.",
    )
    sms_signatures: list[str] = Field(
        default_factory=list,
        description="Registered SMS 【签名】s (JSON list); empty: any 【…】 signature, but one is required.",
    )
    lender_name: str | None = Field(
        default=None,
        max_length=100,
        description="The lender's legal name, as messages name it (default: the strategy's sample value, "
        "which real channels refuse to send).",
    )
    sms_signature: str | None = Field(
        default=None,
        description="The lender's registered SMS signature, e.g. 【某某银行】 (brackets added when missing); "
        "registered in sms_signatures when those are not set.",
    )
    hotline: str | None = Field(default=None, description="The lender's official hotline messages give.")
    payment_domain: str | None = Field(
        default=None,
        description="The lender's payment domain: links are https://DOMAIN/p/TOKEN; added to link_domains "
        "(which it replaces when those are not set).",
    )
    message_validity_hours: float = Field(
        default=36.0,
        gt=0,
        le=7 * 24,
        description="A planned message expires this many hours after its planned send time (the day's "
        "send hour): the dispatcher marks it expired instead of sending it late.",
    )
    channels_file: Path | None = Field(
        default=None, description="TOML mapping contact channels to plugins; default data_dir/channels.toml"
    )
    dispatch_lease_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="How long a claimed outbox item stays claimed."
    )
    dispatch_max_tries: int = Field(default=8, ge=1, le=100, description="Sends before a message is dead.")
    dispatch_backoff_seconds: float = Field(
        default=60.0, gt=0, le=86_400, description="First retry delay; doubles per try (with jitter)."
    )
    dispatch_backoff_max_seconds: float = Field(default=6 * 3600.0, gt=0, le=7 * 86_400)
    web_secret_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 bytes signing the web app's session cookies; default: generated once "
        "into data_dir/secrets/web-session.key",
    )
    web_session_minutes: int = Field(
        default=480, ge=5, le=7 * 24 * 60, description="A web sign-in lasts this long without a new sign-in."
    )
    web_secure_cookies: bool = Field(
        default=False, description="Mark the web app's cookies Secure (set true behind HTTPS)."
    )
    api_token_minutes: int = Field(
        default=480, ge=5, le=7 * 24 * 60, description="How long an API access token from a sign-in lasts."
    )
    pii_reveal_alert_per_hour: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="More reveals of personal data than this by one user within a rolling hour raise a "
        "pii.reveal_alert in the audit ledger (once per user per hour) for compliance to review.",
    )
    visit_geofence_m: float = Field(
        default=300.0,
        gt=0,
        le=5000,
        description="A field visit's GPS check-in must lie within this many metres of the visit address "
        "(haversine distance).",
    )
    planner: Literal["tables", "optimised"] = Field(
        default="tables",
        description="Who decides the day: the strategy tables (with experiments), or the optimised plan "
        "(needs the response model; capacity per 10,000 loans as in docs/strategy.md).",
    )
    response_model: Path | None = Field(
        default=None,
        description="Response model for the decisions' expected values (used only if the file exists); "
        "default data_dir/models/response.joblib, where `recoup strategy train-response` writes it.",
    )

    collections_target_month: Decimal | None = Field(
        default=None,
        ge=0,
        description="Collections target for each calendar month, in currency units (e.g. 1500000.00): the "
        "morning view sets month-to-date collections against it and against its pace (target × days "
        "elapsed ÷ days in the month). Unset: the view says no target is set.",
    )
    collections_target_day: Decimal | None = Field(
        default=None,
        ge=0,
        description="Collections target for one day, in currency units; default: the month's target ÷ "
        "the days in that month.",
    )
    recovery_window_days: int = Field(
        default=90,
        ge=1,
        le=720,
        description="Window of the allocation cohort's recovery rates compared with the segment targets "
        "(docs/metrics.md: days from allocation).",
    )
    recovery_targets: dict[str, float] = Field(
        default_factory=lambda: {"overall": 0.60, "mild": 0.70, "severe": 0.40},
        description="Recovery-rate targets by segment (JSON object of fractions; 'overall' is the whole "
        "cohort); default the source documents' 60 / 70 / 40 %.",
    )
    writeback_webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://\S+$",
        description="The core system's endpoint for write-back instructions (docs/writeback.md); unset: "
        "only the day's file.",
    )
    writeback_webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key signing each write-back webhook (X-Recoup-Signature).",
    )
    writeback_stale_days: int = Field(
        default=3,
        ge=1,
        le=365,
        description="A sent write-back instruction still unconfirmed this many days later is stale.",
    )

    @field_validator("recovery_targets")
    @classmethod
    def _targets(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, x in v.items() if not 0 <= x <= 1]
        if bad:
            raise ValueError(f"targets are fractions between 0 and 1 (0.6 = 60 %): {', '.join(bad)}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {v!r} (e.g. Asia/Shanghai)") from exc
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        code = v.strip().upper()
        if code not in CURRENCY_MINOR_DIGITS:
            raise ValueError(f"unsupported currency {v!r}; one of {', '.join(CURRENCY_MINOR_DIGITS)}")
        return code

    @field_validator("lender_name", "hotline")
    @classmethod
    def _identity_text(cls, v: str | None) -> str | None:
        v = v.strip() if v is not None else None
        return v or None

    @field_validator("hotline")
    @classmethod
    def _hotline(cls, v: str | None) -> str | None:
        if v is not None and not _HOTLINE.fullmatch(v):
            raise ValueError(
                "a phone number: digits, spaces, hyphens, parentheses, an optional leading + · 请填写电话号码"
            )
        return v

    @field_validator("sms_signature")
    @classmethod
    def _signature(cls, v: str | None) -> str | None:
        inner = (v or "").strip().removeprefix("【").removesuffix("】").strip()
        if not inner:
            return None
        if len(inner) > 30 or any(c in inner for c in "【】[]"):
            raise ValueError("one signature of 1–30 characters, e.g. 【某某银行】 · 一个 1–30 字的签名")
        return f"【{inner}】"

    @field_validator("payment_domain")
    @classmethod
    def _payment_domain(cls, v: str | None) -> str | None:
        v = (v or "").strip().lower().rstrip(".")
        if not v:
            return None
        if "://" in v or "/" in v or not _HOSTNAME.fullmatch(v):
            raise ValueError("a domain name such as pay.example.cn (no scheme, no path) · 请填写域名")
        return v

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError("database URL must start with sqlite:// or postgresql+psycopg://")
        return v

    @field_validator("pii_key")
    @classmethod
    def _key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            _decode_key(v.get_secret_value())
        return v

    @field_validator("pii_lookup_key")
    @classmethod
    def _lookup_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            _decode_key(v.get_secret_value(), "PII lookup key")
        return v

    @field_validator("web_secret_key")
    @classmethod
    def _web_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            _decode_key(v.get_secret_value(), "web secret key")
        return v

    @field_validator("ledger_signing_key")
    @classmethod
    def _signing_key(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            _decode_key(v.get_secret_value(), "ledger signing key")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        explicit = set(self.model_fields_set)  # before the assignments below add to it
        if self.payment_domain is not None:
            # The lender's own payment domain is one messages may link to; it replaces the sample default.
            if "link_domains" not in explicit:
                self.link_domains = [self.payment_domain]
            elif self.payment_domain not in self.link_domains:
                self.link_domains = [*self.link_domains, self.payment_domain]
        if self.sms_signature is not None and "sms_signatures" not in explicit:
            self.sms_signatures = [self.sms_signature.strip("【】")]
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'recoup.db').as_posix()}"
        if not self.lake_uri:
            self.lake_uri = (self.data_dir / "lake").as_posix()
        if self.channels_file is None:
            self.channels_file = self.data_dir / "channels.toml"
        if self.response_model is None:
            self.response_model = self.data_dir / "models" / "response.joblib"
        if self.ledger_publish_dir is None:
            self.ledger_publish_dir = self.data_dir / "ledger" / "published"
        return self

    @property
    def database_is_default(self) -> bool:
        """Whether the database is the embedded default (``data_dir/recoup.db``), created on first use."""
        return self.database_url == f"sqlite:///{(self.data_dir / 'recoup.db').as_posix()}"

    @property
    def signature_text(self) -> str | None:
        """The text inside the 【…】 of ``sms_signature`` (what the SMS linter compares)."""
        return self.sms_signature.strip("【】") if self.sms_signature else None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def minor_digits(self) -> int:
        return CURRENCY_MINOR_DIGITS[self.currency]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @overload
    def pii_key_bytes(self) -> bytes: ...
    @overload
    def pii_key_bytes(self, *, generate: Literal[True]) -> bytes: ...
    @overload
    def pii_key_bytes(self, *, generate: bool) -> bytes | None: ...

    def pii_key_bytes(self, *, generate: bool = True) -> bytes | None:
        """The 32-byte PII key; generated once into ``data_dir/secrets/pii.key`` if not set (unless
        ``generate`` is false: then None when there is none)."""
        if self.pii_key is not None:
            return _decode_key(self.pii_key.get_secret_value())
        path = self.data_dir / "secrets" / "pii.key"
        if not path.exists():
            if not generate:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(os.urandom(32)).decode())
        try:
            return _decode_key(path.read_text().strip())
        except ValueError as exc:
            raise ConfigError(f"PII key file {path} is invalid: {exc}") from exc

    def web_secret_bytes(self) -> bytes:
        """The 32-byte key signing web sessions: ``web_secret_key``, else ``data_dir/secrets/web-session.key``
        (generated once, mode 0600)."""
        if self.web_secret_key is not None:
            return _decode_key(self.web_secret_key.get_secret_value(), "web secret key")
        path = self.data_dir / "secrets" / "web-session.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another worker wrote it first
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(base64.b64encode(os.urandom(32)).decode())
        try:
            return _decode_key(path.read_text().strip(), "web secret key")
        except ValueError as exc:
            raise ConfigError(f"web secret key file {path} is invalid: {exc}") from exc

    def pii_lookup_key_bytes(self) -> bytes | None:
        """The 32-byte lookup key: ``pii_lookup_key``, else ``data_dir/secrets/pii-lookup.key`` (written
        by the first key rotation); None when neither exists (it is then derived from the PII key)."""
        if self.pii_lookup_key is not None:
            return _decode_key(self.pii_lookup_key.get_secret_value(), "PII lookup key")
        path = self.data_dir / "secrets" / "pii-lookup.key"
        if not path.exists():
            return None
        try:
            return _decode_key(path.read_text().strip(), "PII lookup key")
        except ValueError as exc:
            raise ConfigError(f"PII lookup key file {path} is invalid: {exc}") from exc


def _decode_key(text: str, what: str = "PII key") -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} must be base64 of 32 bytes") from exc
    if len(raw) != 32:
        raise ValueError(f"{what} must be base64 of 32 bytes, got {len(raw)} bytes")
    return raw


_SECRET_FIELDS = frozenset(
    {"pii_key", "pii_lookup_key", "ledger_signing_key", "web_secret_key", "database_url"}
)


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and ``overrides``); bad values raise ConfigError.

    A secret's value is never echoed (a key, or a database URL that may hold a password)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f"RECOUP_{field.upper()}"
            got = "" if field in _SECRET_FIELDS else f" (got {str(err.get('input'))[:80]!r})"
            lines.append(f"  {env}: {err['msg']}{got}")
        raise ConfigError(
            "Invalid recoup settings:\n" + "\n".join(lines),
            details={
                "errors": [{"field": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors()]
            },
        ) from None
    except SettingsError as exc:  # a list/JSON setting that is not JSON, e.g. RECOUP_LINK_DOMAINS=notjson
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "settings"
        raise ConfigError(
            f"Invalid recoup settings:\n  RECOUP_{field.upper()}: not valid JSON (write a JSON list, "
            f"e.g. '[\"pay.example.com\"]') · 设置值不是合法的 JSON",
            details={"errors": [{"field": field, "msg": "not valid JSON"}]},
        ) from None
    except UnicodeDecodeError as exc:  # the .env file
        raise ConfigError(
            f"the .env file is not valid UTF-8 (byte {exc.start}): save it as UTF-8 · "
            ".env 文件须为 UTF-8 编码",
            details={"file": ".env", "offset": exc.start},
        ) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return load_settings()

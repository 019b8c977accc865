"""One error hierarchy with stable machine codes and one error envelope.

Domain code raises a subclass of :class:`RecoupError`; the CLI prints ``message`` (never a
traceback) and exits non-zero, the API returns :meth:`RecoupError.envelope` with ``http_status``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class RecoupError(Exception):
    """Base of every error a user may see. ``code`` is stable; ``message`` is for people."""

    code: ClassVar[str] = "recoup.error"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def envelope(self) -> dict[str, Any]:
        """The one JSON shape of an error: ``{"error": {"code", "message", "details"}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __str__(self) -> str:
        return self.message


class ConfigError(RecoupError):
    code = "config.invalid"
    http_status = 500
    exit_code = 78  # EX_CONFIG


class NotFoundError(RecoupError):
    code = "not_found"
    http_status = 404


class ConflictError(RecoupError):
    code = "conflict"
    http_status = 409


class MoneyError(RecoupError):
    code = "money.invalid"


class ImportError_(RecoupError):
    """Base of import errors (named with a trailing underscore to keep the builtin visible)."""

    code = "import.error"
    http_status = 422
    exit_code = 65  # EX_DATAERR


class ImportFileError(ImportError_):
    """The file as a whole cannot be read: missing, empty, truncated, not a table, bad encoding."""

    code = "import.bad_file"


class ImportColumnError(ImportError_):
    """Required columns are missing or a mapping names a column that is not there."""

    code = "import.bad_column"


class ImportRowsError(ImportError_):
    """One or more rows break a rule; ``details["errors"]`` lists them (file, row, column, value, rule)."""

    code = "import.invalid_rows"


class ImportOrderError(ImportError_):
    """Extracts must be applied in date order."""

    code = "import.out_of_order"


class ImportIntegrityError(ImportError_):
    """The manifest would pin a table version that is not this day's: nothing is recorded."""

    code = "import.integrity"
    http_status = 409


class LedgerError(RecoupError):
    code = "ledger.error"
    exit_code = 2


class LedgerIntegrityError(LedgerError):
    """The chain, a payload or a checkpoint does not verify; ``details`` names the first bad entry."""

    code = "ledger.broken"


class LedgerSignatureError(LedgerIntegrityError):
    """A signed checkpoint's signature does not verify, or it was signed by a key that is not trusted."""

    code = "ledger.bad_signature"


class PiiError(RecoupError):
    code = "pii.error"


class AuthError(RecoupError):
    code = "auth.error"
    http_status = 403


class CycleNoExtractError(RecoupError):
    """The day's extract has not been imported: the cycle would run on an older book."""

    code = "cycle.no_extract"
    http_status = 409
    exit_code = 66  # EX_NOINPUT: the input (the day's extract) is not there yet


class DatabaseBusyError(RecoupError):
    """The database stayed locked by another writer longer than the busy timeout (SQLite)."""

    code = "db.busy"
    http_status = 503
    exit_code = 75  # EX_TEMPFAIL: try again later


class DatabaseUnavailableError(RecoupError):
    """The database cannot be reached or refused the work (the statement is never shown)."""

    code = "db.unavailable"
    http_status = 503
    exit_code = 69  # EX_UNAVAILABLE


class StorageError(RecoupError):
    """A file or directory recoup needs cannot be used (missing, not a directory, no permission)."""

    code = "storage.error"
    http_status = 500
    exit_code = 74  # EX_IOERR


class InternalError(RecoupError):
    """A bug: the traceback went to a crash log, not to the user."""

    code = "internal.error"
    http_status = 500
    exit_code = 70  # EX_SOFTWARE

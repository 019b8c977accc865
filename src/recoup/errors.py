"""One error hierarchy with stable machine codes and one error envelope.

Domain code raises a subclass of :class:`RecoupError`; the CLI prints ``message`` (never a
traceback) and exits with the class's ``exit_code``, the API returns :meth:`RecoupError.envelope` with
``http_status``. ``exit_code`` is set per family here (subclasses elsewhere override it only where the
family's default is wrong) and must be one of :data:`EXIT_STATUSES`, the one table of exit statuses
(docs/errors.md is generated from it: ``python -m recoup.errors_doc``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

#: Every exit status a ``recoup`` command may end with (sysexits-style), and what it means.
EXIT_STATUSES: dict[int, tuple[str, str]] = {
    0: ("OK", "done"),
    1: ("FINDINGS", "a check ran and found problems (lint findings, policy violations, key mismatch)"),
    2: ("LEDGER_BROKEN", "the audit ledger or a published checkpoint does not verify"),
    3: ("REJECTED_ROWS", "imported, but rows were rejected (`import --accept-partial`)"),
    64: ("EX_USAGE", "the command was called wrongly: unknown option, missing argument, bad date or month"),
    65: ("EX_DATAERR", "the input is wrong: bad rows, bad values, a refused request"),
    66: ("EX_NOINPUT", "what was named is not there: a missing file, record or day's extract"),
    69: ("EX_UNAVAILABLE", "a service is unavailable: the database, a port to listen on"),
    70: ("EX_SOFTWARE", "a bug in recoup: the traceback (personal data masked) is in DATA_DIR/logs/"),
    74: ("EX_IOERR", "a file or directory recoup needs cannot be used"),
    75: ("EX_TEMPFAIL", "busy (a lock, a locked database): try again later"),
    77: ("EX_NOPERM", "not allowed: authentication or permission refused"),
    78: ("EX_CONFIG", "a setting, the .env file, a key or a channels file is wrong"),
    130: ("INTERRUPTED", "interrupted (Ctrl-C)"),
}


class RecoupError(Exception):
    """Base of every error a user may see. ``code`` is stable; ``message`` is for people."""

    code: ClassVar[str] = "recoup.error"
    http_status: ClassVar[int] = 400
    exit_code: ClassVar[int] = 65  # EX_DATAERR unless the family says otherwise

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


class UsageError(RecoupError):
    """The command was called wrongly: an unknown option, a missing argument, a bad date or month."""

    code = "usage"
    http_status = 400
    exit_code = 64  # EX_USAGE


class NotFoundError(RecoupError):
    code = "not_found"
    http_status = 404
    exit_code = 66  # EX_NOINPUT: what was named is not there


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


class ImportNotFoundError(ImportFileError):
    """The day's directory or file named on the command line is not there (the extract has not arrived)."""

    code = "import.not_found"
    exit_code = 66  # EX_NOINPUT


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


class LedgerFileError(LedgerError):
    """A checkpoint or proof file named on the command line does not exist or cannot be read."""

    code = "ledger.bad_file"
    exit_code = 66  # EX_NOINPUT


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
    exit_code = 77  # EX_NOPERM


class CycleNoExtractError(RecoupError):
    """The day's extract has not been imported: the cycle would run on an older book."""

    code = "cycle.no_extract"
    http_status = 409
    exit_code = 66  # EX_NOINPUT: the input (the day's extract) is not there yet


class CycleMissingPartitionError(RecoupError):
    """A cycle step needs a day's partition of an earlier step's output table and it is not there."""

    code = "cycle.missing_partition"
    http_status = 409
    exit_code = 66  # EX_NOINPUT: what the step reads is not there


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


def parse_day(text: str, option: str = "--as-of") -> dt.date:
    """A date option (YYYY-MM-DD), or :class:`UsageError` (exit 64) naming the option."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a date (YYYY-MM-DD) · 日期格式应为 YYYY-MM-DD",
            details={"option": option, "value": text},
        ) from None

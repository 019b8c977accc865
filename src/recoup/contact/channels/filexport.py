"""Messages as rows of CSV files, for dialers, letter printers and anyone who picks files up.

One file per channel (``<directory>/<channel>.csv``). Sending the same ``message_id`` again does not add
a second row, across processes too: appends hold an exclusive ``flock`` and re-read the ids whenever the
file grew under another writer. Each row is written with one ``write`` call on an append-only file, so a
killed dispatcher never leaves half a row. The files hold destinations in clear (that is their purpose):
they are created readable by their owner only.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import io
import os
import threading
from pathlib import Path

from pydantic import Field

from recoup import cellsafe
from recoup.contact.channels.base import ChannelPlugin, OutgoingMessage, PluginConfig, SendResult
from recoup.contact.vocab import Channel

__all__ = ["COLUMNS", "FileExportChannel", "FileExportConfig"]

COLUMNS = (
    "message_id",
    "channel",
    "to",
    "destination_kind",
    "subject",
    "body",
    "locale",
    "borrower_key",
    "debt_key",
    "exported_at",
)


class FileExportConfig(PluginConfig):
    directory: Path = Field(Path("outbox"), description="Where the CSV files go (relative: under data_dir).")
    bom: bool = Field(False, description="Start new files with a UTF-8 BOM (for spreadsheet programs).")


class FileExportChannel(ChannelPlugin):
    """Appends each message to ``<directory>/<channel>.csv`` once."""

    name = "filexport"
    channels = frozenset(Channel)
    Config = FileExportConfig
    config: FileExportConfig

    def __init__(self, config: FileExportConfig | None = None, *, base_dir: Path | None = None) -> None:
        super().__init__(config or FileExportConfig(), base_dir=base_dir)
        # path → (file size when read, {message_id: row number})
        self._seen: dict[Path, tuple[int, dict[str, int]]] = {}
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        d = self.config.directory
        return d if d.is_absolute() else self.base_dir / d

    def path_for(self, channel: Channel) -> Path:
        return self.directory / f"{channel.value}.csv"

    def send(self, message: OutgoingMessage) -> SendResult:
        path = self.path_for(message.channel)
        try:
            with self._lock:
                return self._append(path, message)
        except OSError as exc:  # a full disk, a missing mount: try again later
            return SendResult.temporary(f"filexport: {type(exc).__name__}: {exc.strerror or exc}")

    def _append(self, path: Path, message: OutgoingMessage) -> SendResult:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            cached = self._seen.get(path)
            ids = cached[1] if cached is not None and cached[0] == size else _read_ids(path)
            if message.message_id in ids:
                self._seen[path] = (size, ids)
                return SendResult.ok(f"{path.name}:{ids[message.message_id]}")
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            if size == 0:
                writer.writerow(COLUMNS)
            writer.writerow(
                cellsafe.cell(v)
                for v in [
                    message.message_id,
                    message.channel.value,
                    message.destination,
                    message.destination_kind.value if message.destination_kind else "",
                    message.subject or "",
                    message.body,
                    message.locale,
                    message.borrower_key or "",
                    message.debt_key or "",
                    dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                ]
            )
            data = buf.getvalue().encode("utf-8")
            if size == 0 and self.config.bom:
                data = b"\xef\xbb\xbf" + data
            os.write(fd, data)  # one write: the row is in the file whole or not at all
            os.fsync(fd)
            row = len(ids) + 1
            ids[message.message_id] = row
            self._seen[path] = (size + len(data), ids)
            return SendResult.ok(f"{path.name}:{row}")
        finally:
            os.close(fd)  # closing releases the lock

    def close(self) -> None:
        self._seen.clear()


def _read_ids(path: Path) -> dict[str, int]:
    """``{message_id: row number}`` of the rows already in ``path``."""
    ids: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return ids
        col = header.index("message_id") if "message_id" in header else 0
        for n, row in enumerate(reader, start=1):
            if len(row) > col and row[col]:
                ids.setdefault(row[col], n)
    return ids

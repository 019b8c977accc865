"""Tables of personal-data protection: export requests (导出申请) and their four-eyes approval.

The file itself is never stored: it is built when the requester downloads it (once, within
:data:`recoup.privacy.exports.DOWNLOAD_HOURS` hours of the approval) from the cases they may see then.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from recoup.db import Base, UTCDateTime, utcnow


class ExportRequest(Base):
    """A user's request to export their visible case list, with a reason.

    ``status``: ``pending`` → ``approved`` | ``rejected``; ``approved`` → ``downloaded`` (once). An approved
    request not downloaded within the window is expired (computed, see :func:`effective_status`).
    ``unmasked``: the requester held ``pii.unmask`` when asking, so the file shows personal data in clear
    (the approver sees this before deciding)."""

    __tablename__ = "export_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    scope: Mapped[str] = mapped_column(String(30), default="cases")
    file_format: Mapped[str] = mapped_column(String(10))  # csv / xlsx
    reason_code: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(String(500))
    unmasked: Mapped[bool] = mapped_column(Boolean, default=False)
    row_count: Mapped[int] = mapped_column(Integer, default=0)  # visible cases when asked
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str] = mapped_column(String(500), default="")
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    file_sha256: Mapped[str | None] = mapped_column(String(64))


def effective_status(req: ExportRequest, now: dt.datetime, *, hours: int) -> str:
    """``req.status``, or ``expired`` for an approved request older than ``hours`` since its approval."""
    if (
        req.status == "approved"
        and req.decided_at is not None
        and now >= req.decided_at + dt.timedelta(hours=hours)
    ):
        return "expired"
    return req.status

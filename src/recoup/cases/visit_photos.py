"""Photos of a field visit (外访照片): where the images are kept and the references a report carries.

The visit report (:func:`recoup.cases.visits.do_report_visit`) stores references, not images. An agent
takes the photos after checking in and before filing the report; each is stored here as a file under
``settings.data_dir/photos/YYYY/MM/DD/`` (the planned day) named ``<visit id>-<n>.<ext>`` and referred to
as ``photo://YYYY/MM/DD/<visit id>-<n>.<ext>`` (the form of docs/visits.md). The report then carries the
references of the visit's stored photos.

Only images are kept: JPEG, PNG, WebP or HEIC, recognised by their first bytes (never by the file name or
the browser's content type), at most :data:`MAX_PHOTO_BYTES` each and :data:`MAX_PHOTOS` per visit. A
photo shows a person's home: it is served only to the visit's agents (the pages check), never logged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Final

from recoup.cases.visit_rules import MAX_PHOTOS, VisitInvalidError, VisitStatus
from recoup.cases.work_models import FieldVisit
from recoup.config import Settings

__all__ = [
    "MAX_PHOTO_BYTES",
    "MEDIA_TYPES",
    "PhotoRejectedError",
    "do_store_photo",
    "image_kind",
    "photo_path",
    "visit_photos",
]

#: The largest photo accepted (bytes): a phone camera's JPEG is 2–6 MB.
MAX_PHOTO_BYTES: Final = 10 * 1024 * 1024
#: The file extension of each accepted image kind → its media type.
MEDIA_TYPES: Final = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}
_HEIF_BRANDS: Final = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"})
_NAME: Final = re.compile(r"(?P<visit>[1-9][0-9]{0,9})-(?P<n>[1-9][0-9]{0,3})\.(?P<ext>jpg|png|webp|heic)")
_SCHEME: Final = "photo://"


class PhotoRejectedError(VisitInvalidError):
    """A photo is not an accepted image, too large, one too many, or the visit is not checked in;
    ``details["reason"]`` is ``not_image``, ``too_large``, ``too_many``, ``empty`` or ``status``."""

    code = "visit.photo_rejected"


def image_kind(head: bytes) -> str | None:
    """The extension of the image whose file starts with ``head`` (at least 12 bytes), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def _day_dir(visit: FieldVisit) -> str:
    return visit.planned_on.strftime("%Y/%m/%d")


def _root(settings: Settings) -> Path:
    return settings.data_dir / "photos"


def visit_photos(visit: FieldVisit, *, settings: Settings) -> list[str]:
    """The references of ``visit``'s photos: those of its report once reported, else those stored so far
    (in the order taken)."""
    if visit.status == VisitStatus.REPORTED:
        return list(visit.photos or [])
    folder = _root(settings) / _day_dir(visit)
    found: list[tuple[int, str]] = []
    if folder.is_dir():
        for path in folder.glob(f"{visit.id}-*"):
            m = _NAME.fullmatch(path.name)
            if m and int(m["visit"]) == visit.id:
                found.append((int(m["n"]), path.name))
    return [f"{_SCHEME}{_day_dir(visit)}/{name}" for _n, name in sorted(found)]


def photo_path(visit: FieldVisit, name: str, *, settings: Settings) -> tuple[Path, str] | None:
    """The file and media type of ``visit``'s photo called ``name`` (as in its reference), or None when
    ``name`` is not one of the visit's photos."""
    m = _NAME.fullmatch(name)
    if m is None or int(m["visit"]) != visit.id:
        return None
    if f"{_SCHEME}{_day_dir(visit)}/{name}" not in visit_photos(visit, settings=settings):
        return None
    path = _root(settings) / _day_dir(visit) / name
    return (path, MEDIA_TYPES[m["ext"]]) if path.is_file() else None


def _rejected(reason: str, english: str, chinese: str, **details: object) -> PhotoRejectedError:
    return PhotoRejectedError(
        f"{english} / {chinese}", details={"field": "photo", "reason": reason, **details}
    )


def do_store_photo(visit: FieldVisit, source: BinaryIO, *, settings: Settings) -> str:
    """Keep the image read from ``source`` as the next photo of checked-in ``visit``; its reference.
    :class:`PhotoRejectedError` (nothing kept) when the visit is not checked in, it has
    :data:`MAX_PHOTOS` photos already, or the file is empty, not an accepted image or too large."""
    if visit.status != VisitStatus.CHECKED_IN:
        raise _rejected(
            "status",
            "photos are taken after the check-in and before the report",
            "照片须在签到后、提交报告前上传",
        )
    taken = visit_photos(visit, settings=settings)
    if len(taken) >= MAX_PHOTOS:
        raise _rejected(
            "too_many", f"at most {MAX_PHOTOS} photos", f"照片最多 {MAX_PHOTOS} 张", limit=MAX_PHOTOS
        )
    data = source.read(MAX_PHOTO_BYTES + 1)
    if not data:
        raise _rejected("empty", "the file is empty", "文件为空")
    if len(data) > MAX_PHOTO_BYTES:
        raise _rejected(
            "too_large",
            f"a photo is at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
            f"照片不能超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB",
            limit_bytes=MAX_PHOTO_BYTES,
        )
    kind = image_kind(data[:16])
    if kind is None:
        raise _rejected(
            "not_image", "only JPEG, PNG, WebP or HEIC images", "只接受 JPEG、PNG、WebP 或 HEIC 图片"
        )
    folder = _root(settings) / _day_dir(visit)
    folder.mkdir(parents=True, exist_ok=True)
    n = max((_number(ref) for ref in taken), default=0) + 1
    while True:  # the other agent may be storing one at the same moment: never overwrite
        name = f"{visit.id}-{n}.{kind}"
        if any(folder.glob(f"{visit.id}-{n}.*")):
            n += 1
            continue
        try:
            with (folder / name).open("xb") as out:
                out.write(data)
        except FileExistsError:
            n += 1
            continue
        return f"{_SCHEME}{_day_dir(visit)}/{name}"


def _number(ref: str) -> int:
    m = _NAME.fullmatch(ref.rsplit("/", 1)[-1])
    return int(m["n"]) if m else 0

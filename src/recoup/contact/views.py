"""``/api/v1/channels``: provider callbacks (delivery receipts and replies) for the channel plugins.

No user token: each request is authenticated by the channel's HMAC signature (see
:mod:`recoup.contact.callbacks` and ``docs/callbacks.md``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel

from recoup.config import Settings
from recoup.contact import callbacks
from recoup.contact.callbacks import CallbackEndpoint, CallbackStatus, TooLargeError
from recoup.db import utcnow
from recoup.web.deps import DbSession

router = APIRouter(prefix="/channels", tags=["channels"])


class CallbackOut(BaseModel):
    """``applied``: it changed something; ``duplicate``: this event was already received; ``ignored``:
    recorded, nothing to change (a reply that is not an opt-out, a receipt for no message of ours)."""

    status: CallbackStatus


def _settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


def _endpoint(channel: str, request: Request) -> CallbackEndpoint:
    """The channel's callback configuration: 404 before the body is read when there is none."""
    return callbacks.callback_endpoint(channel, settings=_settings(request))


Endpoint = Annotated[CallbackEndpoint, Depends(_endpoint)]


async def _raw_body(request: Request, endpoint: Endpoint) -> bytes:
    """The body exactly as sent (the signature covers these bytes), at most MAX_BODY_BYTES."""
    limit = callbacks.MAX_BODY_BYTES
    too_large = TooLargeError(f"the body exceeds {limit} bytes / 请求体过大", details={"limit_bytes": limit})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_large
    return bytes(data)


RawBody = Annotated[bytes, Depends(_raw_body)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "`callback.bad_signature` or `callback.stale_timestamp`"},
    404: {"description": "`callback.unknown_channel` or `callback.not_configured` (no secret)"},
    413: {"description": "`callback.too_large` (over 64 KiB)"},
    422: {"description": "`callback.bad_payload` (not a JSON object or a form, or unreadable)"},
}


@router.post(
    "/{channel}/callbacks",
    response_model=CallbackOut,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            },
        }
    },
)
def receive_callback(
    request: Request,
    endpoint: Endpoint,
    body: RawBody,
    session: DbSession,
    x_recoup_signature: Annotated[str | None, Header()] = None,
    x_recoup_timestamp: Annotated[str | None, Header()] = None,
) -> CallbackOut:
    """A provider's delivery receipt or reply for ``channel``, signed with the channel's callback secret:
    ``X-Recoup-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`` and ``X-Recoup-Timestamp``
    (unix seconds, within 300 s). The same event twice is applied once; both answer 200."""
    now = utcnow()
    callbacks.verify_signature(
        endpoint.secrets, signature=x_recoup_signature, timestamp=x_recoup_timestamp, body=body, now=now
    )
    payload = callbacks.parse_body(body, request.headers.get("content-type"))
    settings = _settings(request)
    with endpoint.build_plugin() as plugin:
        outcome = callbacks.do_handle_callback(
            session=session,
            channel=endpoint.channel,
            plugin=plugin,
            body=body,
            payload=payload,
            now=now,
            settings=settings,
        )
    return CallbackOut(status=outcome.status)

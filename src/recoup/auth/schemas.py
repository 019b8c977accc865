"""API shapes of sign-in, the signed-in user and personal tokens."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: dt.datetime | None = None


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    locale: str
    roles: list[str]
    permissions: list[str]


class PersonalTokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    days: int | None = Field(default=90, ge=1, le=366, description="validity in days; null: no expiry")


class PersonalTokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedTokenOut(BaseModel):
    id: int
    name: str
    token: str = Field(description="shown once; store it now / 仅显示一次")
    expires_at: dt.datetime | None

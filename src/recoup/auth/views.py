"""``/api/v1/auth``: sign-in for API clients, the signed-in user, personal API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request

from recoup.auth import tokens
from recoup.auth.schemas import IssuedTokenOut, MeOut, PersonalTokenIn, PersonalTokenOut, TokenOut
from recoup.auth.service import PERMISSIONS, has_permission
from recoup.web.deps import CurrentUser, DbId, DbSession

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut)
def sign_in(
    request: Request,
    session: DbSession,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> TokenOut:
    """Exchange a username and password (form fields) for a bearer access token."""
    issued = tokens.do_sign_in(
        username, password, minutes=request.app.state.settings.api_token_minutes, session=session
    )
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.get("/me", response_model=MeOut)
def me(user: CurrentUser) -> MeOut:
    """Who the token belongs to, with roles and effective permissions."""
    perms = sorted(p for p in PERMISSIONS if has_permission(user, p))
    return MeOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        locale=user.locale,
        roles=user.role_names,
        permissions=perms,
    )


@router.get("/tokens", response_model=list[PersonalTokenOut])
def my_tokens(user: CurrentUser, session: DbSession) -> list[PersonalTokenOut]:
    """The caller's personal API tokens (never the tokens themselves)."""
    return [
        PersonalTokenOut.model_validate(t, from_attributes=True)
        for t in tokens.list_tokens(user, session=session)
    ]


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201)
def new_token(body: PersonalTokenIn, user: CurrentUser, session: DbSession) -> IssuedTokenOut:
    """Issue a personal API token for an integration; the token is in this response only."""
    issued = tokens.do_issue_personal_token(user, body.name, days=body.days, session=session)
    return IssuedTokenOut(id=issued.id, name=issued.name, token=issued.token, expires_at=issued.expires_at)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: DbId, user: CurrentUser, session: DbSession) -> None:
    """Revoke one of the caller's tokens."""
    tokens.do_revoke_token(user, token_id, session=session, actor=user.username)

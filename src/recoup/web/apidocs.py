"""The API's documentation: ``/openapi.json`` and the Swagger UI at ``/api/docs`` (vendored
``swagger-ui-dist``, no CDN), both behind the ``api.docs`` permission of the one permission table — a
browser signs in with its session, an API client with its bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from recoup.auth.models import AppUser
from recoup.web.session import require_reader

router = APIRouter(include_in_schema=False)

DocsReader = Annotated[AppUser, require_reader("api.docs")]
DocsClient = Annotated[AppUser, require_reader("api.docs", api=True)]

SWAGGER: str = "/static/swagger-ui-5.36.0"


@router.get("/openapi.json")
def openapi_document(request: Request, user: DocsClient) -> JSONResponse:
    """The OpenAPI 3 document of every ``/api/v1`` operation."""
    return JSONResponse(request.app.openapi())


@router.get("/api/docs")
def api_docs(user: DocsReader) -> HTMLResponse:
    """Swagger UI on the document above (try-it-out sends the user's bearer token once authorised)."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="recoup API · 接口文档",
        swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER}/swagger-ui.css",
        swagger_favicon_url="data:,",
        swagger_ui_parameters={"persistAuthorization": False, "docExpansion": "none"},
    )

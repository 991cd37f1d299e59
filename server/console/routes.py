"""Console pages. Thin, like the API's routes: they call the same services, under the same scope,
and render what comes back. A record outside the caller's scope is the 404 page (the refusal kept
in the audit log, as the API keeps it). Each area has its module; this one assembles them."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.response import Redirect

from server.console import approvals as approval_pages
from server.console import cases as case_pages
from server.console import conflicts, imports, signin
from server.console import dashboard as dashboard_pages
from server.console import letters as letter_pages
from server.console import referrals as referral_pages
from server.console import reports as report_pages
from server.console import resources as resource_pages
from server.console.pages import page
from server.console.session import (
    COOKIE,
    PATH,
    ConsoleSessionMiddleware,
    SignInNeeded,
    csrf_config,
)
from server.errors import Forbidden, InvalidInput, NotFound
from server.inputs import NulInForm
from server.settings import Settings

BUILT = [
    *signin.HANDLERS,
    *case_pages.HANDLERS,
    *approval_pages.HANDLERS,
    *conflicts.HANDLERS,
    *imports.HANDLERS,
    *dashboard_pages.HANDLERS,
    *referral_pages.HANDLERS,
    *report_pages.HANDLERS,
    *resource_pages.HANDLERS,
    *letter_pages.HANDLERS,
]
"""Every page of the console, by area; each section of the navigation is one of them."""


# --- answers in HTML ------------------------------------------------------------------------------


def _to_sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    response: Response[Any] = Redirect(f"{PATH}/sign-in", status_code=303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path=PATH)
    return response


def _error_page(status: int, title: str, message: str) -> Any:
    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return page(request, "error.html", status, title=title, message=message)

    return handler


router = Router(
    path=PATH,
    route_handlers=[
        *BUILT,
    ],
    include_in_schema=False,
    exception_handlers={
        SignInNeeded: _to_sign_in,
        NotFound: _error_page(404, "Not found", "There is no such record, or it is not yours to see."),
        Forbidden: _error_page(403, "Not allowed", "Your role does not use this page."),
        PermissionDeniedException: _error_page(
            403,
            "Form expired",
            "This form could not be checked (its security token is missing or wrong). "
            "Go back, reload the page and try again.",
        ),
        InvalidInput: _error_page(400, "Bad request", "This link is not one the console gave out."),
        NulInForm: _error_page(
            400,
            "Text that cannot be kept",
            "The form held an invisible NUL character (often pasted from another program), so nothing was "
            "saved. Go back, retype the text and send it again.",
        ),
    },
)


def console_router(settings: Settings) -> Router:
    """The console, with its session and its CSRF check (both built from ``settings``)."""
    return Router(
        path="/",
        route_handlers=[router],
        middleware=[
            ConsoleSessionMiddleware,
            imports.close_uploads,
            DefineMiddleware(CSRFMiddleware, config=csrf_config(settings)),
        ],
        include_in_schema=False,
    )

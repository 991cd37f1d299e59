"""Signing in to the console and out of it: the same accounts and throttle as the API, a session cookie."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from schemas.auth import DeviceInfo, LoginRequest
from server.auth import service as auth
from server.auth.clients import client_address_of
from server.auth.guards import ALL_ROLES
from server.console.pages import page
from server.console.session import (
    COOKIE,
    PATH,
    SIGNED_OUT,
    signed_in,
)
from server.deps import AuthRequest, Config, Db
from server.errors import (
    InvalidCredentials,
    RateLimited,
)
from server.logging import request_id_of
from server.settings import Settings


@dataclass
class SignInForm:
    username: str = ""
    password: str = ""


SignInBody = Annotated[SignInForm, Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/sign-in", opt=SIGNED_OUT)
async def sign_in_page(request: Request[Any, Any, Any]) -> Template:
    return page(request, "sign_in.html", username="", error=None)


@post("/sign-in", opt=SIGNED_OUT, status_code=303)
async def sign_in(request: Request[Any, Any, Any], db: Db, settings: Config, data: SignInBody) -> Response[Any]:
    username, password = data.username.strip()[:64], data.password[:256]
    if not username or not password or "\x00" in username + password:
        return page(request, "sign_in.html", 400, username=username, error="Enter your username and password.")
    body = LoginRequest(
        username=username,
        password=password,
        device=DeviceInfo(id=uuid.uuid4(), name="Web console", platform="web", app_version="console"),
    )
    try:
        token = await auth.console_sign_in(
            db, settings, body, request_id_of(request.scope), client_address_of(request, settings)
        )
    except InvalidCredentials:
        await db.commit()  # the refusal's audit row is kept, and the failure counted
        return page(request, "sign_in.html", 401, username=username, error="That username and password do not match.")
    except RateLimited as exc:
        await db.commit()
        wait = exc.headers.get("Retry-After", "a few") if exc.headers else "a few"
        message = f"Too many attempts. Try again in {wait} seconds."
        return page(request, "sign_in.html", 429, username=username, error=message)
    response: Response[Any] = Redirect(f"{PATH}/cases", status_code=303)
    response.set_cookie(_session_cookie(request, settings, token, settings.console_session_seconds))
    return response


def _session_cookie(request: Request[Any, Any, Any], settings: Settings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=value,
        path=PATH,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


@post("/sign-out", opt=signed_in(*ALL_ROLES), status_code=303)
async def sign_out(request: AuthRequest, db: Db, settings: Config) -> Response[Any]:
    await auth.logout(db, request.user, request_id_of(request.scope))
    response: Response[Any] = Redirect(f"{PATH}/sign-in", status_code=303)
    response.set_cookie(_session_cookie(request, settings, "", 0))
    return response


HANDLERS = [sign_in_page, sign_in, sign_out]

"""Every route declares the roles that may call it; the guard enforces the declaration."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.routes import HTTPRoute

from server.app import create_app
from server.auth.guards import PUBLIC_ROLE, declared_roles
from server.db import SessionFactory
from tests.conftest import client_for, make_settings
from tests.helpers import Client, bearer, login


def undeclared_routes(app: Litestar) -> list[str]:
    missing = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if set(handler.http_methods) == {"OPTIONS"}:
                continue  # Litestar's automatic OPTIONS handler
            roles = declared_roles(handler)
            if roles != PUBLIC_ROLE and not (isinstance(roles, frozenset) and roles):
                missing.append(f"{sorted(handler.http_methods)} {route.path}")
    return missing


def test_every_route_declares_its_roles(app: Litestar) -> None:
    assert undeclared_routes(app) == []


async def test_a_route_without_a_declaration_fails_the_check_and_is_refused(
    session_factory: SessionFactory,
) -> None:
    @get("/forgotten")
    async def forgotten() -> str:
        return "secret"

    app = create_app(make_settings(), session_factory=session_factory)
    app.register(forgotten)
    assert [entry.split()[-1] for entry in undeclared_routes(app)] == ["/forgotten"]
    async with client_for(app) as client:
        tokens = await login(client, "admin")
        response = await client.get("/forgotten", headers=bearer(tokens))
    assert response.status_code == 403


async def test_case_manager_cannot_list_users_but_supervisor_can(client: Client) -> None:
    cm = await login(client, "cm1")
    assert (await client.get("/users", headers=bearer(cm))).status_code == 403
    sup = await login(client, "sup1")
    response = await client.get("/users", params={"role": "case_manager"}, headers=bearer(sup))
    assert response.status_code == 200
    assert sorted(u["username"] for u in response.json()) == [f"cm{i}" for i in range(1, 9)]


async def test_unknown_role_filter_is_400(client: Client) -> None:
    admin = await login(client, "admin")
    response = await client.get("/users", params={"role": "wizard"}, headers=bearer(admin))
    assert response.status_code == 400
    assert response.json()["code"] == "malformed"


async def test_supervisor_sees_only_her_teams_devices(client: Client) -> None:
    await login(client, "cm1")
    await login(client, "cm5")
    sup1 = await login(client, "sup1")
    listed = (await client.get("/devices", headers=bearer(sup1))).json()
    admin = await login(client, "admin")
    everything = (await client.get("/devices", headers=bearer(admin))).json()
    assert 0 < len(listed) < len(everything)

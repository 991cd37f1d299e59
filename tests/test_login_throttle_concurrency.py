"""Successful logins from one address do not queue behind each other (issue 20, the concurrency
curve: a morning's 500 logins from one address waited on one row of ``login_throttle_window``,
``Lock:transactionid``, because a success gave its address slot back in the transaction that then
registered the device and minted the tokens, holding the row until that commit)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.auth import Role
from server.audit import Actor
from server.auth import passwords, service
from server.auth import repository as repo
from server.db import create_engine, create_session_factory
from tests.conftest import PASSWORD
from tests.test_login_throttle import attempt, client_at, committing_app

ADDRESS = "192.0.2.10"


async def add_users(database_url: str, usernames: list[str]) -> None:
    engine = create_engine(database_url)
    try:
        async with create_session_factory(engine)() as session:
            for username in usernames:
                await service.create_user(
                    session, Actor.system(), username=username, password=PASSWORD, role=Role.ADMIN
                )
            await session.commit()
    finally:
        await engine.dispose()


async def test_a_login_in_progress_does_not_hold_up_another_from_the_same_address(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One login is held after its password proved right (while it registers its device); a
    second login from the same address, another case manager, must finish meanwhile."""
    await add_users(fresh_database, ["second"])

    held, release = asyncio.Event(), asyncio.Event()
    device_by_id = repo.device_by_id

    async def slow_first(session: Any, device_id: Any, **kwargs: Any) -> Any:
        if not held.is_set():
            held.set()
            await release.wait()
        return await device_by_id(session, device_id, **kwargs)

    monkeypatch.setattr(repo, "device_by_id", slow_first)
    async with (
        committing_app(fresh_database) as app,
        client_at(app, ADDRESS) as first_client,
        client_at(app, ADDRESS) as second_client,
    ):
        first = asyncio.create_task(attempt(first_client, "target", PASSWORD))
        await asyncio.wait_for(held.wait(), 10)
        try:
            second = await asyncio.wait_for(attempt(second_client, "second", PASSWORD), 5)
        finally:
            release.set()
        assert second.status_code == 200, second.text
        assert (await first).status_code == 200


async def test_twenty_logins_at_once_from_one_address_all_succeed(fresh_database: str) -> None:
    """20 case managers behind one address at once: every one gets in."""
    usernames = [f"cm{n}" for n in range(20)]
    await add_users(fresh_database, usernames)
    async with committing_app(fresh_database) as app:
        clients = [client_at(app, ADDRESS) for _ in range(20)]
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(attempt(c, u, PASSWORD) for c, u in zip(clients, usernames, strict=True))), 60
            )
        finally:
            for c in clients:
                await c.aclose()
    assert [a.status_code for a in answers] == [200] * 20


async def test_a_login_holds_no_database_connection_while_its_password_is_checked(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 takes a quarter of a second of CPU; a login that kept its transaction (and so a pooled
    connection) open meanwhile let a morning's logins take every connection of the pool."""
    checked_out: list[int] = []
    verify = passwords.verify_password

    async def watching(password_hash: str | None, password: str) -> bool:
        checked_out.append(app.state.session_factory.kw["bind"].pool.checkedout())
        return await verify(password_hash, password)

    monkeypatch.setattr(service, "verify_password", watching)
    async with committing_app(fresh_database) as app, client_at(app, ADDRESS) as client:
        response = await attempt(client, "target", PASSWORD)
    assert response.status_code == 200, response.text
    assert checked_out == [0]

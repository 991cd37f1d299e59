"""Password hashing: argon2 runs off the event loop, and an unknown username costs a verification too."""

from __future__ import annotations

import threading

import pytest
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.auth import Role
from server.audit import Actor
from server.auth import passwords, service
from tests.conftest import PASSWORD
from tests.helpers import Client, device


class Spy:
    """Stands in for the module's PasswordHasher and notes on which thread each call runs."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.loop_thread = threading.get_ident()
        self.calls: list[tuple[str, bool]] = []

    def verify(self, password_hash: str, password: str) -> bool:
        self.calls.append(("verify", threading.get_ident() == self.loop_thread))
        return self.real.verify(password_hash, password)

    def hash(self, password: str) -> str:
        self.calls.append(("hash", threading.get_ident() == self.loop_thread))
        return self.real.hash(password)

    def check_needs_rehash(self, password_hash: str) -> bool:
        return True  # so that a login rehashes too


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    spy = Spy(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", spy)
    return spy


async def test_login_hashes_and_verifies_off_the_event_loop(client: Client, spy: Spy) -> None:
    for username, password, status in (("cm1", PASSWORD, 200), ("nobody-at-all", "x", 401), ("cm2", "x", 401)):
        response = await client.post(
            "/auth/login", json={"username": username, "password": password, "device": device()}
        )
        assert response.status_code == status, response.text
    # The right password (and its rehash), the unknown user's dummy verification, the wrong password.
    assert [name for name, _ in spy.calls] == ["verify", "hash", "verify", "verify"]
    assert not any(on_loop for _, on_loop in spy.calls), spy.calls


async def test_setting_a_password_hashes_off_the_event_loop(db: AsyncSession, spy: Spy) -> None:
    await service.create_user(db, Actor.system(), username="newbie", password="pw-1", role=Role.ADMIN)
    await db.flush()
    await service.set_password(db, Actor.system(), "newbie", "pw-2")
    assert spy.calls == [("hash", False), ("hash", False)]


async def test_an_unknown_user_is_checked_against_a_dummy_hash() -> None:
    assert await passwords.verify_password(None, "doorstep-timing-equaliser") is False
    good = await passwords.hash_password("s3cret")
    assert await passwords.verify_password(good, "s3cret") is True
    assert await passwords.verify_password(good, "nope") is False
    assert await passwords.verify_password("not-a-hash", "s3cret") is False

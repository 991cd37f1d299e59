"""Users, the devices they log in from, and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schemas.auth import Role
from server.orm import Base, Versioned

ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class User(Versioned, Base):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role_known"),
        CheckConstraint("role <> 'case_manager' OR supervisor_id IS NOT NULL", name="case_manager_has_team"),
        Index("uq_user_account_username_lower", text("lower(username)"), unique=True),
    )

    username: Mapped[str] = mapped_column(String(64), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    supervisor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="RESTRICT"), index=True
    )
    disabled_at: Mapped[datetime | None] = mapped_column()
    phone: Mapped[str | None] = mapped_column(String(32))
    """The work number a family letter gives for its case manager."""

    supervisor: Mapped[User | None] = relationship(remote_side="User.id", lazy="raise")

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


class Device(Base):
    """A phone or browser, identified by a UUID it made itself; bound to the user who last logged in.

    ``session_epoch`` is stamped into every token; logging out bumps it, so tokens die at once.
    """

    __tablename__ = "device"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False, default="")
    platform: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    app_version: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    session_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    registered_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    last_seen_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")


class RefreshToken(Base):
    """One refresh token; rotated on every use. A reused (already rotated) token is refused."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("device.id"), nullable=False, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    used_at: Mapped[datetime | None] = mapped_column()
    successor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("refresh_token.id"))
    """The token that replaced this one when it was used (for the reuse grace)."""


class LoginThrottleAccount(Base):
    """A username's current streak of failed logins (known usernames or not).

    The row goes on a successful login; a streak whose last failure is a day old counts as
    none, and such rows are pruned (``server.auth.throttle``).
    """

    __tablename__ = "login_throttle_account"
    __table_args__ = (CheckConstraint("failures >= 0", name="failures_not_negative"),)

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    """Lower-cased, as logins look users up."""
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[datetime] = mapped_column(nullable=False, index=True)
    locked_until: Mapped[datetime | None] = mapped_column()


class LoginThrottleWindow(Base):
    """A fixed one-minute window of counted attempts: failed logins per client address
    (``scope='address'``), refreshes per device (``scope='refresh'``)."""

    __tablename__ = "login_throttle_window"
    __table_args__ = (
        CheckConstraint("scope IN ('address', 'refresh')", name="scope_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(nullable=False, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)

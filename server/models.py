"""Imports every ORM module so the metadata knows every table (for Alembic and the tests)."""

from server.audit import AuditEntry
from server.auth.models import Device, RefreshToken, User

__all__ = ["AuditEntry", "Device", "RefreshToken", "User"]

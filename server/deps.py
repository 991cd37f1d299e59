"""Names of the app-wide dependencies, for handler signatures."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.settings import Settings

Db = NamedDependency[AsyncSession]
"""The request's session; the request edge commits it once the handler returns."""

Config = NamedDependency[Settings]

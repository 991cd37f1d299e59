"""The migrations build the schema, undo it, and build it again; they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from server import migrate
from server.db import create_engine
from server.orm import Base


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


def _diff(conn: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_upgrade_downgrade_upgrade_round_trip(fresh_database: str) -> None:
    engine = create_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= {"user_account", "device", "audit_log"}
        await migrate.run(fresh_database, "downgrade", "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set()
        await migrate.run(fresh_database, "upgrade", "head")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables)
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()

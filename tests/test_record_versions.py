"""The kept versions on PostgreSQL (``record_version``, migration 0015): each synced table's
trigger keeps exactly its wire fields, the migration keeps each existing record's current row,
and the writer a session names holds for each of its transactions and for no other."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.sync import RecordType
from server import migrate
from server.db import create_engine, create_session_factory, name_writer
from server.students.models import Household
from server.sync import versions
from server.sync.pg_store import MODELS
from sync.policies import RECORD_TYPES
from sync.store import Ref


async def test_each_synced_tables_trigger_keeps_its_wire_fields(db: AsyncSession) -> None:
    """A migration that adds a wire field must re-create its table's function: this names the one
    that did not."""
    for record_type, model in MODELS.items():
        table = model.__tablename__
        source = await db.scalar(text(f"SELECT pg_get_functiondef('record_version_{table}()'::regprocedure)"))
        assert source is not None, table
        built = re.search(r"jsonb_build_object\(((?:'\w+', n\.\w+(?:, )?)+)\)", source)
        assert built, table
        kept = re.findall(r"'(\w+)', n\.(\w+)", built.group(1))
        assert all(key == column for key, column in kept), table
        assert tuple(key for key, _ in kept) == RECORD_TYPES[record_type].fields, table
        assert f"SELECT '{record_type}', n.id" in source, table
        events = await db.scalars(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND tgname LIKE 'record_version_%' "
                "ORDER BY tgname"
            ),
            {"t": table},
        )
        assert list(events) == ["record_version_insert", "record_version_update"], table


async def test_the_migration_keeps_each_records_current_row_as_its_version(fresh_database: str) -> None:
    await migrate.run(fresh_database, "downgrade", "0014")
    engine = create_engine(fresh_database)
    home = uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO household (id, version, external_id, phone, language, address, updated_at) "
                    "VALUES (:id, 7, 'H-7', '555-0107', 'es', '7 Elm St', '2026-01-02T03:04:05Z')"
                ),
                {"id": home},
            )
        await migrate.run(fresh_database, "upgrade", "head")
        async with create_session_factory(engine)() as s:
            kept = await versions.history(s, Ref(RecordType.HOUSEHOLD, home))
            stored = await s.get(Household, home)
        assert stored is not None
        assert [(v.version, v.via, v.written_by, v.deleted) for v in kept] == [(7, versions.BACKFILL, None, False)]
        assert kept[0].data == {
            "phone": "555-0107",
            "alt_phone": None,
            "language": "es",
            "address": "7 Elm St",
            "latitude": None,
            "longitude": None,
        }
        assert kept[0].written_at == stored.updated_at
    finally:
        await engine.dispose()


async def test_a_named_writer_holds_for_each_transaction_of_its_session_and_no_other(fresh_database: str) -> None:
    engine = create_engine(fresh_database, pool_size=1, max_overflow=0)  # one connection: a leak would show
    factory = create_session_factory(engine)
    home, someone, device = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def bump(s: AsyncSession, phone: str) -> None:
        await s.execute(
            update(Household).where(Household.id == home).values(phone=phone, version=Household.version + 1)
        )
        await s.commit()

    try:
        async with factory() as s:
            s.add(Household(id=home, external_id="H-1", phone="555-0001"))
            await s.commit()
            await name_writer(s, via="job rules.evaluate", user_id=someone, client_id=device)
            await bump(s, "555-0002")
            await bump(s, "555-0003")  # a later transaction of the same session: named again
            await s.execute(update(Household).where(Household.id == home).values(language="fr"))  # no new version
            await s.commit()
        async with factory() as s:  # the same pooled connection, another session: named by no one
            await bump(s, "555-0004")
        async with factory() as s:
            kept = await versions.history(s, Ref(RecordType.HOUSEHOLD, home))
            language = await s.scalar(select(Household.language).where(Household.id == home))
    finally:
        await engine.dispose()
    assert language == "fr"
    assert [(v.version, v.data["phone"], v.written_by, v.client_id, v.via) for v in kept] == [
        (1, "555-0001", None, None, None),
        (2, "555-0002", someone, device, "job rules.evaluate"),
        (3, "555-0003", someone, device, "job rules.evaluate"),
        (4, "555-0004", None, None, None),
    ]
    assert "fr" not in {v.data["language"] for v in kept[:3]}  # the write that kept its version kept nothing

"""The PostgreSQL backend for the sync suites: ``PgStore`` plus a ``Seeder`` on a database of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import msgspec
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from schemas.auth import Role
from schemas.sync import MutationResult
from server.auth.models import User
from server.db import SessionFactory
from server.sync import versions
from server.sync.models import SyncMutation
from server.sync.pg_store import PgStore, _normalise
from server.uploads import repository as uploads
from server.uploads.models import Upload
from sync.store import Batch, Data, Outcome, Ref, Store, Version, Write
from tests.sync.world import Backend


class PgSeeder:
    def __init__(self, factory: SessionFactory) -> None:
        self.factory = factory

    async def user(self, user_id: uuid.UUID, role: Role, supervisor_id: uuid.UUID | None = None) -> None:
        name = f"u-{user_id.hex[:12]}"
        values = {"id": user_id, "username": name, "display_name": name, "role": role.value}
        async with self.factory() as s:
            await s.execute(
                postgresql.insert(User)
                .values(**values, password_hash="-", supervisor_id=supervisor_id)
                .on_conflict_do_update(index_elements=["id"], set_={"role": role.value, "supervisor_id": supervisor_id})
            )
            await s.commit()

    async def _write(self, ref: Ref, data: Data | None) -> int:
        async with self.factory() as s:
            store = PgStore(s)
            current = (await store.load(uuid.uuid4(), [ref])).get(ref)
            version = current.version + 1 if current else 1
            write = Write(
                ref,
                version,
                data if data is not None else (current.data if current else {}),
                current.version if current else None,
                deleted=data is None,
            )
            await store.commit_batch(Batch(uuid.uuid4(), 0, [write], []))
            await s.commit()
            return version

    async def put(self, ref: Ref, data: Data) -> int:
        return await self._write(ref, data)

    async def delete(self, ref: Ref) -> int:
        return await self._write(ref, None)

    async def finished_upload(self, photo_id: uuid.UUID, user_id: uuid.UUID, upload: Data) -> None:
        async with self.factory() as s:
            if upload.get("error") is None:
                file = {"sha256": upload["sha256"], "size": 1, "media_type": "image/jpeg"}
                file |= {"exif_latitude": upload.get("exif_latitude"), "exif_longitude": upload.get("exif_longitude")}
                await uploads.add_photo_file(s, file)
            s.add(
                Upload(
                    id=uuid.uuid4(),
                    form_photo_id=photo_id,
                    user_id=user_id,
                    length=1,
                    upload_offset=1,
                    metadata_={},
                    parts=[],
                    expires_at=datetime.now(UTC),
                    finished_at=datetime.now(UTC),
                    sha256=upload["sha256"],
                    error=upload.get("error"),
                )
            )
            await s.commit()

    async def evaluated(self, student_id: uuid.UUID, truancy: Data) -> None:
        async with self.factory() as s:
            await s.execute(
                text(
                    "UPDATE case_file SET truancy = CAST(:t AS jsonb), version = version + 1, updated_at = now() "
                    "WHERE student_id = :s AND deleted_at IS NULL AND status <> 'closed' "
                    "AND (truancy - ARRAY['as_of', 'absence_percent']) "
                    "IS DISTINCT FROM (CAST(:t AS jsonb) - ARRAY['as_of', 'absence_percent'])"
                ),
                {"t": msgspec.json.encode(truancy).decode(), "s": student_id},
            )
            await s.commit()

    async def snapshot(self, user_id: uuid.UUID) -> dict[Ref, tuple[int, Data]]:
        async with self.factory() as s:
            rows = await s.execute(PgStore(s).snapshot_query(user_id))
            return {Ref(r.type, r.id): (r.version, _normalise(r.type, r.data)) for r in rows}

    async def outcomes(self, client_id: uuid.UUID) -> dict[int, Outcome]:
        async with self.factory() as s:
            rows = await s.execute(
                select(SyncMutation.mutation_id, SyncMutation.result, SyncMutation.name, SyncMutation.raw).where(
                    SyncMutation.client_id == client_id
                )
            )
            return {
                mid: Outcome(msgspec.convert(result, MutationResult), name, raw.encode() if raw is not None else None)
                for mid, result, name, raw in rows
            }

    async def versions(self, ref: Ref) -> list[Version]:
        async with self.factory() as s:
            return await versions.history(s, ref)


def pg_backend(factory: SessionFactory) -> Backend:
    @asynccontextmanager
    async def tx() -> AsyncIterator[Store]:
        async with factory() as session:
            yield PgStore(session)
            await session.commit()

    return Backend(PgSeeder(factory), tx)

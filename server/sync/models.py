"""Tables of the sync engine on PostgreSQL: clients, stored mutations, conflicts, the change log,
and every record's kept versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Identity, Index, Integer, String, false, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from server.orm import Base, Versioned

TXID = text("(pg_current_xact_id()::text)::bigint")
"""The current transaction's 64-bit id (xid8 as bigint): orders changes by writing transaction."""


class SyncClient(Base):
    """A device as a sync client: ``last_mutation_id`` is the last mutation it sent that was processed."""

    __tablename__ = "sync_client"

    client_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the device id
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False, index=True)
    last_mutation_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now(), onupdate=func.now())


class SyncMutation(Base):
    """Every mutation a device sent, with its outcome. Malformed ones keep their raw name and args."""

    __tablename__ = "sync_mutation"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_client.client_id"), primary_key=True)
    mutation_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    args: Mapped[Any] = mapped_column(JSONB, nullable=True)
    raw: Mapped[str | None] = mapped_column(String)
    base_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=TXID)


class Conflict(Versioned, Base):
    """A change that could not simply apply: base, mine (the device's) and theirs (the server's).

    Office staff resolve it; its author's device receives it on the next pull.
    """

    __tablename__ = "conflict"

    record_type: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[uuid.UUID] = mapped_column(nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    mutation_id: Mapped[int | None] = mapped_column(BigInteger)
    base_version: Mapped[int | None] = mapped_column(Integer)
    theirs_version: Mapped[int | None] = mapped_column(Integer)
    base: Mapped[Any] = mapped_column(JSONB, nullable=True)
    mine: Mapped[Any] = mapped_column(JSONB, nullable=True)
    theirs: Mapped[Any] = mapped_column(JSONB, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open", server_default="open")
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolution: Mapped[Any] = mapped_column(JSONB, nullable=True)


class SyncChange(Base):
    """The change log, written by triggers on every synced table.

    ``txid`` is the writing transaction's id (xid8). A pull only reads changes of transactions
    older than its snapshot's xmin, so a transaction that commits after a later one is never
    skipped. ``audience_user_id`` marks a delete offered to one user who may have lost sight of
    a record (a reassigned case); it is delivered only if she indeed no longer sees it.
    """

    __tablename__ = "sync_change"
    __table_args__ = (Index("ix_sync_change_position", "txid", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=TXID)
    record_type: Mapped[str] = mapped_column(String(40), nullable=False)
    record_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    op: Mapped[str] = mapped_column(String(3), nullable=False)
    audience_user_id: Mapped[uuid.UUID | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())


class SyncScopeEpoch(Base):
    """One row, bumped by a trigger whenever a user's role or team changes.

    Pull cursors carry the epoch; a cursor from another epoch gets ``reset``, because a team
    change moves whole caseloads between supervisors in a way deltas do not express.
    """

    __tablename__ = "sync_scope_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    purged_below: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    """Changes of transactions below this id were purged: an older cursor gets ``reset``."""


class RecordVersion(Base):
    """Every version of every synced record, append-only: written by a trigger on each synced table
    (migration 0015), never updated or deleted, so a conflict's base and a note's history are read
    here and no resolution destroys a version.

    ``data`` is the record as a pull sends it (its wire fields; times as PostgreSQL writes them,
    read through ``server.sync.versions``). Who wrote it comes from the writing transaction: the
    push names its user, device and the mutation that last changed the record, ``via`` ``push``;
    a request names its user, device and route (``via`` ``POST /conflicts/{conflict_id}/resolve``);
    a background job names its task (``via`` ``job rules.evaluate``), a command its own (``cli
    doorstep letters batch``), with no user; psql names nothing. ``via`` ``backfill``: the row as
    migration 0015 found it (the versions before it were never kept).
    """

    __tablename__ = "record_version"

    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    data: Mapped[Any] = mapped_column(JSONB, nullable=False)
    written_at: Mapped[datetime] = mapped_column(nullable=False, server_default=func.now())
    written_by: Mapped[uuid.UUID | None] = mapped_column()
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    mutation_id: Mapped[int | None] = mapped_column(BigInteger)
    via: Mapped[str | None] = mapped_column(String(200))

"""Wire structs of the phone sync protocol, v1 (docs/protocol.md).

Evolution rules: a new field has a default, an unknown field is ignored (no struct forbids unknown
fields), a removed field stays readable for one version. Structs are encoded with
``omit_defaults`` so an older app never sees a field it does not know unless it has a value.
"""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any

import msgspec

SCHEMA_VERSION = 1
"""The protocol version this server speaks."""

SUPPORTED_SCHEMA_VERSIONS = frozenset(v for v in (SCHEMA_VERSION, SCHEMA_VERSION - 1) if v >= 1)
"""The current and the previous version (v1 has no predecessor, so for now only 1)."""

MutationId = Annotated[int, msgspec.Meta(ge=1)]
Version = Annotated[int, msgspec.Meta(ge=1)]


class RecordType(enum.StrEnum):
    """Record types in a pull; the same names as their tables (``case`` is table ``case_file``)."""

    CASE = "case"
    STUDENT = "student"
    HOUSEHOLD = "household"
    CONTACT_ATTEMPT = "contact_attempt"
    VISIT_NOTE = "visit_note"
    VISIT_NOTE_ADDENDUM = "visit_note_addendum"
    VISIT_LOG = "visit_log"
    FOLLOW_UP = "follow_up"
    FORM_PHOTO = "form_photo"
    CONFLICT = "conflict"
    RESOURCE = "resource"
    ASSESSMENT = "assessment"
    SERVICE_REFERRAL = "service_referral"
    PARENT_MEETING = "parent_meeting"
    LETTER = "letter"


class Status(enum.StrEnum):
    APPLIED = "applied"
    ALREADY_PROCESSED = "already_processed"
    REJECTED = "rejected"
    CONFLICT = "conflict"


# --- push ----------------------------------------------------------------------------------------


class PushRequest(msgspec.Struct, omit_defaults=True):
    """The envelope. Each mutation stays raw until it is decoded on its own (one bad item, not one
    bad batch): see ``schemas.mutations``."""

    client_id: uuid.UUID
    schema_version: int
    mutations: list[msgspec.Raw]


class MutationHeader(msgspec.Struct):
    """What must be readable in every mutation for the queue to move on: its id. A mutation without
    a readable id makes the whole envelope unreadable (400 ``malformed``)."""

    id: MutationId
    name: Any = None


class Error(msgspec.Struct, omit_defaults=True):
    code: str
    detail: str = ""


class MutationResult(msgspec.Struct, omit_defaults=True):
    """The outcome of one mutation.

    ``version`` is the record's version after the mutation; ``conflict_id`` names the conflict row
    made for review; ``error`` says why a mutation was rejected. For ``already_processed``,
    ``original`` is the status the mutation got the first time, and the other fields are the
    stored ones (``flags`` included).
    """

    id: MutationId
    status: Status
    version: int | None = None
    conflict_id: uuid.UUID | None = None
    error: Error | None = None
    original: Status | None = None
    flags: list[str] = msgspec.field(default_factory=list)
    """What reconciliation flagged on the record (``visit_log``); an added optional field."""


class Gap(msgspec.Struct):
    """The batch skipped ids: the server expected ``expected`` and got ``received``. Nothing from
    ``received`` on was looked at; the app re-sends its queue from ``expected``."""

    expected: MutationId
    received: MutationId


class PushResponse(msgspec.Struct, omit_defaults=True):
    last_mutation_id: int
    results: list[MutationResult]
    gap: Gap | None = None


# --- pull ----------------------------------------------------------------------------------------

MAX_PULL_LIMIT = 1000
MAX_MUTATIONS_PER_PUSH = 1000
"""A push with more is refused whole (413 ``too_many_mutations``): the app sends its queue in
chunks, oldest first."""
DEFAULT_PULL_LIMIT = 500


class PullRequest(msgspec.Struct, omit_defaults=True):
    client_id: uuid.UUID
    schema_version: int
    cursor: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PULL_LIMIT)] | None = None


class Put(msgspec.Struct, tag="put", tag_field="op"):
    """A record's whole current state; ``data`` holds JSON values (UUIDs and times as strings)."""

    type: str
    id: uuid.UUID
    version: int
    data: dict[str, Any]


class Del(msgspec.Struct, tag="del", tag_field="op"):
    """The record left the device's scope, or was deleted: forget it."""

    type: str
    id: uuid.UUID
    version: int


Change = Put | Del


class PullResponse(msgspec.Struct):
    """``cursor`` goes into the next pull. ``reset``: forget every record first (keep pending
    mutations), this page starts a full refetch. ``last_mutation_id``: the client's mutations up to
    this id are reflected in these changes (same snapshot)."""

    cursor: str
    has_more: bool
    reset: bool
    last_mutation_id: int
    changes: list[Change]

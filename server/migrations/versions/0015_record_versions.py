"""record versions

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Every version of every synced record is kept, append-only, in ``record_version``: its data as a
pull sends it (the wire fields of ``sync.policies.RECORD_TYPES``), when it was written, by whom,
from which device and mutation, or through which route (issue 20: a conflict's base is then the
record at ``base_version``, and a resolution never destroys a version).

A statement-level trigger on each synced table, beside its ``sync_log_*`` triggers, copies each
inserted or updated row from the statement's transition table: one insert per statement, no
per-row work outside PostgreSQL (each table's function names its wire fields, built with
``jsonb_build_object`` as the pull's ``_record_json`` does: a generic ``to_jsonb(row) - other
columns`` cost about three times as much, measured on 50 rows). Who wrote it comes from
transaction-local settings, set by the push (``doorstep.actor``, ``doorstep.client``,
``doorstep.via`` = ``push``, and ``doorstep.mutations``: ``{"<type>:<id>": mutation id}``) and by
the request edge for every other write (``server.db.name_writer``); unset, they are null (psql, a
job that names nothing). A version number is kept once: a write that does not raise the version
(no device hears of it either) adds nothing.

The wire fields are frozen here, as of this revision, in the tables' functions: a migration that
adds a wire field re-creates its table's function (tests/test_record_versions.py checks them
against ``RECORD_TYPES``). Backfill: each existing record's current row becomes its current
version (``via`` ``backfill``, written at its ``updated_at``); the versions before it were never
kept and are gone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

WIRE: dict[str, tuple[str, tuple[str, ...]]] = {
    "household": ("household", ("phone", "alt_phone", "language", "address", "latitude", "longitude")),
    "student": ("student", ("student_number", "first_name", "last_name", "grade", "household_id")),
    "case_file": ("case", ("student_id", "case_manager_id", "status", "opened_at", "closed_at", "truancy",
                           "follow_ups")),
    "contact_attempt": ("contact_attempt", ("case_id", "method", "outcome", "at", "note", "created_by")),
    "visit_log": ("visit_log", ("case_id", "created_by", "status", "checked_in_at", "latitude", "longitude",
                                "accuracy_m", "altitude_m", "distance_m", "checked_out_at", "outcome",
                                "out_latitude", "out_longitude", "out_accuracy_m", "flags", "truancy")),
    "visit_note": ("visit_note", ("case_id", "author_id", "body", "status", "visit_log_id", "review_status",
                                  "review_comment", "reviewed_by", "reviewed_at")),
    "visit_note_addendum": ("visit_note_addendum", ("note_id", "body", "author_id")),
    "follow_up": ("follow_up", ("case_id", "student_id", "kind", "title", "due_on", "status", "completed_at",
                                "completed_by", "note", "created_by", "rescheduled", "trigger_day")),
    "form_photo": ("form_photo", ("case_id", "visit_log_id", "form_type", "sha256", "size", "content_type",
                                  "taken_at", "created_by", "upload_status", "upload_error", "exif_latitude",
                                  "exif_longitude")),
    "conflict": ("conflict", ("record_type", "record_id", "kind", "base_version", "mine", "theirs",
                              "theirs_version", "author_id", "client_id", "mutation_id", "status", "resolved_at",
                              "resolution")),
    "resource": ("resource", ("name", "factors", "languages", "address", "phone", "website", "hours", "latitude",
                              "longitude", "active")),
    "assessment": ("assessment", ("case_id", "author_id", "at", "factors", "primary_factor", "visit_log_id",
                                  "strengths", "student_voice", "notes", "flags")),
    "service_referral": ("service_referral", ("case_id", "resource_id", "resource_name", "factor", "at", "status",
                                              "status_at", "note", "created_by", "flags", "updates")),
    "parent_meeting": ("parent_meeting", ("case_id", "author_id", "held_at", "place", "attendees", "interpreter",
                                          "policy_discussed", "language", "agreements", "next_meeting_on", "flags")),
    "letter": ("letter", ("case_id", "student_id", "kind", "language", "fallback", "status", "created_at",
                          "created_by", "as_of", "note", "body", "mailed_at", "returned_at", "flags")),
}
"""Table → (record type, its wire fields), as of this revision."""

TOMBSTONED = frozenset({"household", "student", "case_file", "contact_attempt", "visit_log", "visit_note",
                        "visit_note_addendum", "form_photo", "letter"})


def _row(table: str, record_type: str, fields: tuple[str, ...]) -> str:
    """The version columns of a row ``n`` of the table: type, id, version, deleted, data."""
    data = ", ".join(f"'{name}', n.{name}" for name in fields)
    deleted = "n.deleted_at IS NOT NULL" if table in TOMBSTONED else "false"
    return f"'{record_type}', n.id, n.version, {deleted}, jsonb_build_object({data})"


def _function(table: str, record_type: str, fields: tuple[str, ...]) -> str:
    """The table's trigger function: each new row of the statement, as a version, with its writer."""
    return f"""
CREATE FUNCTION record_version_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- read once per statement, not per row
    actor uuid := nullif(current_setting('doorstep.actor', true), '')::uuid;
    client uuid := nullif(current_setting('doorstep.client', true), '')::uuid;
    via text := nullif(current_setting('doorstep.via', true), '');
    marks jsonb := nullif(current_setting('doorstep.mutations', true), '')::jsonb;
BEGIN
    INSERT INTO record_version (record_type, record_id, version, deleted, data, written_by, client_id,
                                mutation_id, via)
    SELECT {_row(table, record_type, fields)}, actor, client,
           (marks ->> ('{record_type}:' || n.id))::bigint, via
    FROM new_rows AS n
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table('record_version',
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('deleted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('written_by', sa.UUID(), nullable=True),
    sa.Column('client_id', sa.UUID(), nullable=True),
    sa.Column('mutation_id', sa.BigInteger(), nullable=True),
    sa.Column('via', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('record_type', 'record_id', 'version', name=op.f('pk_record_version'))
    )
    for table, (record_type, fields) in WIRE.items():
        # the backfill: the current row, as its current version (the ones before it are gone)
        op.execute(
            "INSERT INTO record_version (record_type, record_id, version, deleted, data, written_at, via) "
            f"SELECT {_row(table, record_type, fields)}, n.updated_at, 'backfill' FROM {table} AS n"
        )
        op.execute(_function(table, record_type, fields))
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER record_version_{event.lower()} AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION record_version_{table}()"
            )


def downgrade() -> None:
    for table in WIRE:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER record_version_{event} ON {table}")
        op.execute(f"DROP FUNCTION record_version_{table}()")
    op.drop_table('record_version')

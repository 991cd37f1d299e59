"""follow-up flags

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

A follow-up keeps what its scheduling broke, like the other casework records (issue 18): a phone's
``follow_up.schedule`` on a closed case is stored and flagged ``case_closed`` (``sync/casework.py``).
``follow_up.flags`` is a wire field, so the table's version function (migration 0015) is re-created
with it. Existing follow-ups get ``[]``: the rules and the API flag nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

FIELDS = ("case_id", "student_id", "kind", "title", "due_on", "status", "completed_at", "completed_by", "note",
          "created_by", "rescheduled", "trigger_day")
"""The follow-up's wire fields as of 0015; this revision adds ``flags``."""


def _function(fields: tuple[str, ...]) -> str:
    """``record_version_follow_up()`` as migration 0015 makes it, with these wire fields."""
    data = ", ".join(f"'{name}', n.{name}" for name in fields)
    return f"""
CREATE OR REPLACE FUNCTION record_version_follow_up() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- read once per statement, not per row
    actor uuid := nullif(current_setting('doorstep.actor', true), '')::uuid;
    client uuid := nullif(current_setting('doorstep.client', true), '')::uuid;
    via text := nullif(current_setting('doorstep.via', true), '');
    marks jsonb := nullif(current_setting('doorstep.mutations', true), '')::jsonb;
BEGIN
    INSERT INTO record_version (record_type, record_id, version, deleted, data, written_by, client_id,
                                mutation_id, via)
    SELECT 'follow_up', n.id, n.version, false, jsonb_build_object({data}), actor, client,
           (marks ->> ('follow_up:' || n.id))::bigint, via
    FROM new_rows AS n
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.add_column('follow_up', sa.Column('flags', postgresql.JSONB(astext_type=sa.Text()),
                                         server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.create_check_constraint(op.f('ck_follow_up_flags_array'), 'follow_up', "jsonb_typeof(flags) = 'array'")
    op.execute(_function((*FIELDS, "flags")))


def downgrade() -> None:
    op.execute(_function(FIELDS))
    op.drop_constraint(op.f('ck_follow_up_flags_array'), 'follow_up', type_='check')
    op.drop_column('follow_up', 'flags')

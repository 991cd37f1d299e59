"""case summary

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

What a phone shows about a case offline rides on the case: ``truancy`` (the student's truancy as
of the last evaluation, written by ``server.rules.case_truancy``) and ``follow_ups`` (its open
follow-ups, kept here by a trigger on ``follow_up``). Whenever either changes, the case's
``version`` goes up and its ``sync_log`` trigger logs it, so a device's next pull brings the case
however far its cursor is. Existing cases get their open follow-ups now; their truancy comes with
the next evaluation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

CASE_FOLLOW_UPS = """
CREATE FUNCTION case_follow_ups(case_ids uuid[]) RETURNS void LANGUAGE sql AS $$
    UPDATE case_file c SET follow_ups = x.list, version = c.version + 1, updated_at = now()
    FROM (
        SELECT k.id, coalesce((
            SELECT jsonb_agg(jsonb_build_object('id', f.id, 'kind', f.kind, 'title', f.title, 'due_on', f.due_on)
                             ORDER BY f.due_on, f.id)
            FROM follow_up f WHERE f.case_id = k.id AND f.status = 'open'), '[]'::jsonb) AS list
        FROM case_file k WHERE k.id = ANY(case_ids)
    ) AS x
    WHERE c.id = x.id AND c.follow_ups IS DISTINCT FROM x.list
$$"""

SYNC_CASE_FOLLOW_UPS = """
CREATE FUNCTION sync_case_follow_ups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a follow-up's case lists its open follow-ups: whoever writes follow_up (the rules, the API,
    -- a phone's push) keeps the list right, and the case's version moves with it
    IF TG_OP = 'INSERT' THEN
        PERFORM case_follow_ups(ARRAY(SELECT DISTINCT case_id FROM new_rows WHERE case_id IS NOT NULL));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM case_follow_ups(ARRAY(
            SELECT case_id FROM new_rows WHERE case_id IS NOT NULL
            UNION SELECT case_id FROM old_rows WHERE case_id IS NOT NULL));
    ELSE
        PERFORM case_follow_ups(ARRAY(SELECT DISTINCT case_id FROM old_rows WHERE case_id IS NOT NULL));
    END IF;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    op.add_column('case_file', sa.Column('truancy', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column(
        'case_file',
        sa.Column('follow_ups', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
    )
    op.execute(CASE_FOLLOW_UPS)
    op.execute(SYNC_CASE_FOLLOW_UPS)
    for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        tables = f"{rows} TABLE AS {rows.lower()}_rows"
        if event == "UPDATE":
            tables = "NEW TABLE AS new_rows OLD TABLE AS old_rows"
        op.execute(
            f"CREATE TRIGGER case_follow_ups_{event.lower()} AFTER {event} ON follow_up "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION sync_case_follow_ups()"
        )
    op.execute("SELECT case_follow_ups(ARRAY(SELECT DISTINCT case_id FROM follow_up WHERE case_id IS NOT NULL))")


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER case_follow_ups_{event} ON follow_up")
    op.execute("DROP FUNCTION sync_case_follow_ups()")
    op.execute("DROP FUNCTION case_follow_ups(uuid[])")
    op.drop_column('case_file', 'follow_ups')
    op.drop_column('case_file', 'truancy')

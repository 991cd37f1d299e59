"""letters

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Family letters (docs/letters.md): a letter per student and kind, its content kept as of its date,
synced to the phone under its case (type ``letter``); the office's batches; the letter kinds an
admin configures per school year. A household's address can be flagged when a letter comes back,
and a user has a work phone for the letters to give.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

KINDS = ("attendance_notice", "truancy_notice", "habitual_truancy_notice", "chronic_absence_notice", "custom")
STATUSES = ("requested", "ready", "mailed", "returned")
BATCH_STATUSES = ("queued", "running", "done", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


CASE_TREE = """
CREATE OR REPLACE FUNCTION sync_case_tree(case_id uuid, student_id uuid)
RETURNS TABLE (record_type text, record_id uuid) LANGUAGE sql STABLE AS $$
    SELECT 'case', case_id
    UNION ALL SELECT 'student', student_id
    UNION ALL SELECT 'household', s.household_id FROM student s
        WHERE s.id = student_id AND s.household_id IS NOT NULL
    UNION ALL SELECT 'contact_attempt', c.id FROM contact_attempt c WHERE c.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_note', n.id FROM visit_note n WHERE n.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_log', v.id FROM visit_log v WHERE v.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_note_addendum', d.id FROM visit_note_addendum d
        JOIN visit_note n ON n.id = d.note_id WHERE n.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'follow_up', f.id FROM follow_up f WHERE f.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'form_photo', p.id FROM form_photo p WHERE p.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'assessment', a.id FROM assessment a WHERE a.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'service_referral', r.id FROM service_referral r WHERE r.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'parent_meeting', m.id FROM parent_meeting m WHERE m.case_id = sync_case_tree.case_id{more}
$$"""

MORE = """
    UNION ALL SELECT 'letter', l.id FROM letter l WHERE l.case_id = sync_case_tree.case_id"""


def upgrade() -> None:
    op.create_table('letter_batch',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('kinds', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('mailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(_in('status', BATCH_STATUSES), name=op.f('ck_letter_batch_status_known')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_letter_batch_created_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_batch'))
    )
    op.create_table('letter',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('school_year_id', sa.UUID(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('by_rule', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('requested_language', sa.String(length=35), nullable=True),
    sa.Column('fallback', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=True),
    sa.Column('meeting_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('meeting_place', sa.String(length=300), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('batch_id', sa.UUID(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('device_id', sa.UUID(), nullable=True),
    sa.Column('mailed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_note', sa.Text(), nullable=True),
    sa.Column('flags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.CheckConstraint("jsonb_typeof(flags) = 'array'", name=op.f('ck_letter_flags_array')),
    sa.CheckConstraint(_in('kind', KINDS), name=op.f('ck_letter_kind_known')),
    sa.CheckConstraint(_in('status', STATUSES), name=op.f('ck_letter_status_known')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_letter_case_id_case_file')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_letter_student_id_student')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_letter_school_year_id_school_year')),
    sa.ForeignKeyConstraint(['batch_id'], ['letter_batch.id'], name=op.f('fk_letter_batch_id_letter_batch')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_letter_created_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter'))
    )
    op.create_index(op.f('ix_letter_case_id'), 'letter', ['case_id'], unique=False)
    op.create_index(op.f('ix_letter_student_id'), 'letter', ['student_id'], unique=False)
    op.create_index(op.f('ix_letter_batch_id'), 'letter', ['batch_id'], unique=False)
    # what the batch asks of every student: her letters of the year (and the requested ones waiting)
    op.create_index('ix_letter_student_year', 'letter', ['student_id', 'school_year_id'], unique=False)
    op.create_index('ix_letter_waiting', 'letter', ['status'], unique=False,
                    postgresql_where=sa.text("status = 'requested' AND deleted_at IS NULL"))
    op.create_table('letter_kind_set',
    sa.Column('school_year_id', sa.UUID(), nullable=False),
    sa.Column('kinds', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('updated_by', sa.UUID(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_letter_kind_set_school_year_id_school_year')),
    sa.ForeignKeyConstraint(['updated_by'], ['user_account.id'], name=op.f('fk_letter_kind_set_updated_by_user_account')),
    sa.PrimaryKeyConstraint('school_year_id', name=op.f('pk_letter_kind_set'))
    )
    op.add_column('household', sa.Column('address_flagged_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('household', sa.Column('address_flag_note', sa.Text(), nullable=True))
    op.create_index('ix_household_address_flagged', 'household', ['address_flagged_at'], unique=False,
                    postgresql_where=sa.text('address_flagged_at IS NOT NULL'))
    op.add_column('user_account', sa.Column('phone', sa.String(length=32), nullable=True))
    for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        op.execute(
            f"CREATE TRIGGER sync_log_{event.lower()} AFTER {event} ON letter "
            f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows('letter')"
        )
    op.execute(CASE_TREE.format(more=MORE))


def downgrade() -> None:
    op.execute(CASE_TREE.format(more=""))
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER sync_log_{event} ON letter")
    op.execute("DELETE FROM sync_change WHERE record_type = 'letter'")
    op.drop_column('user_account', 'phone')
    op.drop_index('ix_household_address_flagged', table_name='household')
    op.drop_column('household', 'address_flag_note')
    op.drop_column('household', 'address_flagged_at')
    op.drop_table('letter_kind_set')
    op.drop_table('letter')
    op.drop_table('letter_batch')

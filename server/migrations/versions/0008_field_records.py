"""field records

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

What a case manager records at a family's door: visit logs (a check-in with its fix, a check-out
with its outcome, and the flags reconciliation found), the visit a note is about, and addenda to
submitted notes; follow-ups get a ``status`` (open/done) beside ``completed_at`` and are synced
under their case; photos of signed forms are registered (the files come with the uploads work).
Synced like the rest of a case: change-log
triggers, and the case's tree (what a reassignment re-announces and takes back) includes them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SYNCED = {"visit_log": "visit_log", "visit_note_addendum": "visit_note_addendum", "follow_up": "follow_up",
          "form_photo": "form_photo"}

CASE_TREE = """
CREATE OR REPLACE FUNCTION sync_case_tree(case_id uuid, student_id uuid)
RETURNS TABLE (record_type text, record_id uuid) LANGUAGE sql STABLE AS $$
    SELECT 'case', case_id
    UNION ALL SELECT 'student', student_id
    UNION ALL SELECT 'household', s.household_id FROM student s
        WHERE s.id = student_id AND s.household_id IS NOT NULL
    UNION ALL SELECT 'contact_attempt', c.id FROM contact_attempt c WHERE c.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_note', n.id FROM visit_note n WHERE n.case_id = sync_case_tree.case_id{more}
$$"""

FOLLOW_UP_STATUS = """
CREATE FUNCTION follow_up_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- status is completed_at's shadow: whoever sets completed_at (rules, API, a phone) moves it
    NEW.status := CASE WHEN NEW.completed_at IS NULL THEN 'open' ELSE 'done' END;
    RETURN NEW;
END $$"""

MORE = """
    UNION ALL SELECT 'visit_log', v.id FROM visit_log v WHERE v.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_note_addendum', d.id FROM visit_note_addendum d
        JOIN visit_note n ON n.id = d.note_id WHERE n.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'follow_up', f.id FROM follow_up f WHERE f.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'form_photo', p.id FROM form_photo p WHERE p.case_id = sync_case_tree.case_id"""


def upgrade() -> None:
    op.create_table('visit_log',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('device_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('altitude_m', sa.Float(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('out_latitude', sa.Float(), nullable=True),
    sa.Column('out_longitude', sa.Float(), nullable=True),
    sa.Column('out_accuracy_m', sa.Float(), nullable=True),
    sa.Column('flags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'checked_out')", name=op.f('ck_visit_log_status_known')),
    sa.CheckConstraint("outcome IN ('family_met', 'no_one_home', 'refused', 'moved')", name=op.f('ck_visit_log_outcome_known')),
    sa.CheckConstraint("jsonb_typeof(flags) = 'array'", name=op.f('ck_visit_log_flags_array')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_visit_log_case_id_case_file')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_visit_log_created_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_log'))
    )
    op.create_index(op.f('ix_visit_log_case_id'), 'visit_log', ['case_id'], unique=False)
    op.add_column('visit_note', sa.Column('visit_log_id', sa.UUID(), nullable=True))
    op.create_foreign_key(op.f('fk_visit_note_visit_log_id_visit_log'), 'visit_note', 'visit_log', ['visit_log_id'], ['id'])
    op.create_index(op.f('ix_visit_note_visit_log_id'), 'visit_note', ['visit_log_id'], unique=False)
    op.create_table('visit_note_addendum',
    sa.Column('note_id', sa.UUID(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_visit_note_addendum_author_id_user_account')),
    sa.ForeignKeyConstraint(['note_id'], ['visit_note.id'], name=op.f('fk_visit_note_addendum_note_id_visit_note')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_note_addendum'))
    )
    op.create_index(op.f('ix_visit_note_addendum_note_id'), 'visit_note_addendum', ['note_id'], unique=False)
    op.create_table('form_photo',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('visit_log_id', sa.UUID(), nullable=True),
    sa.Column('form_type', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('device_id', sa.UUID(), nullable=True),
    sa.Column('upload_status', sa.String(length=16), nullable=False),
    sa.Column('upload_error', sa.String(length=64), nullable=True),
    sa.Column('exif_latitude', sa.Float(), nullable=True),
    sa.Column('exif_longitude', sa.Float(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("form_type IN ('consent', 'release_of_information', 'attendance_contract', 'other')", name=op.f('ck_form_photo_form_type_known')),
    sa.CheckConstraint("upload_status IN ('pending', 'received', 'refused')", name=op.f('ck_form_photo_upload_status_known')),
    sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f('ck_form_photo_sha256_hex')),
    sa.CheckConstraint('size > 0', name=op.f('ck_form_photo_size_positive')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_form_photo_case_id_case_file')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_form_photo_created_by_user_account')),
    sa.ForeignKeyConstraint(['visit_log_id'], ['visit_log.id'], name=op.f('fk_form_photo_visit_log_id_visit_log')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_photo'))
    )
    op.create_index(op.f('ix_form_photo_case_id'), 'form_photo', ['case_id'], unique=False)
    op.create_index(op.f('ix_form_photo_sha256'), 'form_photo', ['sha256'], unique=False)
    op.create_index(op.f('ix_form_photo_visit_log_id'), 'form_photo', ['visit_log_id'], unique=False)
    op.add_column('follow_up', sa.Column('status', sa.String(length=8), server_default='open', nullable=False))
    op.execute("UPDATE follow_up SET status = 'done' WHERE completed_at IS NOT NULL")
    op.create_check_constraint(op.f('ck_follow_up_status_known'), 'follow_up', "status IN ('open', 'done')")
    op.execute(FOLLOW_UP_STATUS)
    op.execute(
        "CREATE TRIGGER follow_up_status BEFORE INSERT OR UPDATE ON follow_up "
        "FOR EACH ROW EXECUTE FUNCTION follow_up_status()"
    )
    for table, record_type in SYNCED.items():
        for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER sync_log_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows('{record_type}')"
            )
    op.execute(CASE_TREE.format(more=MORE))


def downgrade() -> None:
    op.execute(CASE_TREE.format(more=""))
    for table in SYNCED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER sync_log_{event} ON {table}")
    op.drop_index(op.f('ix_form_photo_visit_log_id'), table_name='form_photo')
    op.drop_index(op.f('ix_form_photo_sha256'), table_name='form_photo')
    op.drop_index(op.f('ix_form_photo_case_id'), table_name='form_photo')
    op.drop_table('form_photo')
    op.execute("DROP TRIGGER follow_up_status ON follow_up")
    op.execute("DROP FUNCTION follow_up_status()")
    op.drop_constraint(op.f('ck_follow_up_status_known'), 'follow_up', type_='check')
    op.drop_column('follow_up', 'status')
    op.drop_index(op.f('ix_visit_note_addendum_note_id'), table_name='visit_note_addendum')
    op.drop_table('visit_note_addendum')
    op.drop_index(op.f('ix_visit_note_visit_log_id'), table_name='visit_note')
    op.drop_constraint(op.f('fk_visit_note_visit_log_id_visit_log'), 'visit_note', type_='foreignkey')
    op.drop_column('visit_note', 'visit_log_id')
    op.drop_index(op.f('ix_visit_log_case_id'), table_name='visit_log')
    op.drop_table('visit_log')

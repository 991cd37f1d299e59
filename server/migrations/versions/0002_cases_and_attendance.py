"""cases and attendance

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Schools and calendars, students and households, enrollments, daily attendance, and cases
with referrals, contact attempts, visit notes, follow-ups and service referrals.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('household',
    sa.Column('external_id', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('alt_phone', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_household')),
    sa.UniqueConstraint('external_id', name=op.f('uq_household_external_id'))
    )
    op.create_table('school',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school')),
    sa.UniqueConstraint('code', name=op.f('uq_school_code'))
    )
    op.create_table('school_year',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=16), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.CheckConstraint('starts_on < ends_on', name=op.f('ck_school_year_starts_before_ends')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_school_year')),
    sa.UniqueConstraint('name', name=op.f('uq_school_year_name'))
    )
    op.create_table('guardian',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('household_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('relationship', sa.String(length=64), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_guardian_household_id_household')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardian')),
    sa.UniqueConstraint('household_id', 'name', name=op.f('uq_guardian_household_id_name'))
    )
    op.create_index(op.f('ix_guardian_household_id'), 'guardian', ['household_id'], unique=False)
    op.create_table('instructional_day',
    sa.Column('school_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('school_year_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_instructional_day_school_id_school')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_instructional_day_school_year_id_school_year')),
    sa.PrimaryKeyConstraint('school_id', 'day', name=op.f('pk_instructional_day'))
    )
    op.create_index(op.f('ix_instructional_day_school_year_id'), 'instructional_day', ['school_year_id'], unique=False)
    op.create_table('student',
    sa.Column('student_number', sa.String(length=32), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('grade', sa.String(length=4), nullable=True),
    sa.Column('household_id', sa.UUID(), nullable=True),
    sa.Column('school_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['household_id'], ['household.id'], name=op.f('fk_student_household_id_household')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_student_school_id_school')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_student')),
    sa.UniqueConstraint('student_number', name=op.f('uq_student_student_number'))
    )
    op.create_index(op.f('ix_student_household_id'), 'student', ['household_id'], unique=False)
    op.create_index(op.f('ix_student_school_id'), 'student', ['school_id'], unique=False)
    op.create_table('attendance_record',
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('school_id', sa.UUID(), nullable=False),
    sa.Column('minutes_present', sa.Integer(), nullable=True),
    sa.Column('minutes_scheduled', sa.Integer(), nullable=True),
    sa.Column('present_half_day', sa.Boolean(), nullable=True),
    sa.Column('tardy', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('reason_code', sa.String(length=32), nullable=True),
    sa.Column('documentation_received_on', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('minutes_present IS NULL OR (minutes_present >= 0 AND minutes_scheduled > 0 AND minutes_present <= minutes_scheduled)', name=op.f('ck_attendance_record_minutes_sane')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_attendance_record_school_id_school')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_attendance_record_student_id_student')),
    sa.PrimaryKeyConstraint('student_id', 'day', name=op.f('pk_attendance_record'))
    )
    op.create_index(op.f('ix_attendance_record_school_id'), 'attendance_record', ['school_id'], unique=False)
    op.create_table('case_file',
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('school_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('case_manager_id', sa.UUID(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("outcome IN ('improved', 'not_improved', 'unable_to_contact', 'family_declined', 'moved', 'transferred', 'other')", name=op.f('ck_case_file_outcome_known')),
    sa.CheckConstraint("status IN ('referred', 'assigned', 'contacting', 'active', 'monitoring', 'closed')", name=op.f('ck_case_file_status_known')),
    sa.ForeignKeyConstraint(['case_manager_id'], ['user_account.id'], name=op.f('fk_case_file_case_manager_id_user_account')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_case_file_school_id_school')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_case_file_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_file'))
    )
    op.create_index(op.f('ix_case_file_case_manager_id'), 'case_file', ['case_manager_id'], unique=False)
    op.create_index(op.f('ix_case_file_student_id'), 'case_file', ['student_id'], unique=False)
    op.create_index('uq_case_file_open_per_student', 'case_file', ['student_id'], unique=True, postgresql_where=sa.text("status <> 'closed'"))
    op.create_table('enrollment',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('school_id', sa.UUID(), nullable=False),
    sa.Column('school_year_id', sa.UUID(), nullable=False),
    sa.Column('grade', sa.String(length=4), nullable=True),
    sa.Column('entered_on', sa.Date(), nullable=False),
    sa.Column('exited_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_enrollment_school_id_school')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_enrollment_school_year_id_school_year')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_enrollment_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrollment')),
    sa.UniqueConstraint('student_id', 'school_id', 'school_year_id', 'entered_on', name=op.f('uq_enrollment_student_id_school_id_school_year_id_entered_on'))
    )
    op.create_index('ix_enrollment_school_year', 'enrollment', ['school_year_id', 'school_id'], unique=False)
    op.create_index(op.f('ix_enrollment_student_id'), 'enrollment', ['student_id'], unique=False)
    op.create_table('contact_attempt',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.Column('device_id', sa.UUID(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("method IN ('phone', 'letter', 'home_visit')", name=op.f('ck_contact_attempt_method_known')),
    sa.CheckConstraint("outcome IN ('reached', 'no_answer', 'left_message', 'wrong_contact', 'letter_sent', 'letter_returned', 'family_met', 'no_one_home', 'refused', 'moved')", name=op.f('ck_contact_attempt_outcome_known')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_contact_attempt_case_id_case_file')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_contact_attempt_created_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_attempt'))
    )
    op.create_index(op.f('ix_contact_attempt_case_id'), 'contact_attempt', ['case_id'], unique=False)
    op.create_table('follow_up',
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('trigger_day', sa.Date(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.UUID(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('parent_meeting', 'follow_up')", name=op.f('ck_follow_up_kind_known')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_follow_up_case_id_case_file')),
    sa.ForeignKeyConstraint(['completed_by'], ['user_account.id'], name=op.f('fk_follow_up_completed_by_user_account')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_follow_up_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up'))
    )
    op.create_index(op.f('ix_follow_up_case_id'), 'follow_up', ['case_id'], unique=False)
    op.create_index(op.f('ix_follow_up_student_id'), 'follow_up', ['student_id'], unique=False)
    op.create_table('referral',
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('school_id', sa.UUID(), nullable=True),
    sa.Column('counselor_id', sa.UUID(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ineligible_reasons', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('override_note', sa.Text(), nullable=True),
    sa.Column('overridden_by', sa.UUID(), nullable=True),
    sa.Column('case_id', sa.UUID(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('eligible', 'ineligible', 'overridden')", name=op.f('ck_referral_status_known')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_referral_case_id_case_file')),
    sa.ForeignKeyConstraint(['counselor_id'], ['user_account.id'], name=op.f('fk_referral_counselor_id_user_account')),
    sa.ForeignKeyConstraint(['overridden_by'], ['user_account.id'], name=op.f('fk_referral_overridden_by_user_account')),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_referral_school_id_school')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_referral_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referral'))
    )
    op.create_index(op.f('ix_referral_case_id'), 'referral', ['case_id'], unique=False)
    op.create_index(op.f('ix_referral_counselor_id'), 'referral', ['counselor_id'], unique=False)
    op.create_index(op.f('ix_referral_student_id'), 'referral', ['student_id'], unique=False)
    op.create_table('service_referral',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('resource', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=True),
    sa.Column('referred_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_service_referral_case_id_case_file')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_referral'))
    )
    op.create_index(op.f('ix_service_referral_case_id'), 'service_referral', ['case_id'], unique=False)
    op.create_table('visit_note',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'submitted')", name=op.f('ck_visit_note_status_known')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_visit_note_author_id_user_account')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_visit_note_case_id_case_file')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_note'))
    )
    op.create_index(op.f('ix_visit_note_case_id'), 'visit_note', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_visit_note_case_id'), table_name='visit_note')
    op.drop_table('visit_note')
    op.drop_index(op.f('ix_service_referral_case_id'), table_name='service_referral')
    op.drop_table('service_referral')
    op.drop_index(op.f('ix_referral_student_id'), table_name='referral')
    op.drop_index(op.f('ix_referral_counselor_id'), table_name='referral')
    op.drop_index(op.f('ix_referral_case_id'), table_name='referral')
    op.drop_table('referral')
    op.drop_index(op.f('ix_follow_up_student_id'), table_name='follow_up')
    op.drop_index(op.f('ix_follow_up_case_id'), table_name='follow_up')
    op.drop_table('follow_up')
    op.drop_index(op.f('ix_contact_attempt_case_id'), table_name='contact_attempt')
    op.drop_table('contact_attempt')
    op.drop_index(op.f('ix_enrollment_student_id'), table_name='enrollment')
    op.drop_index('ix_enrollment_school_year', table_name='enrollment')
    op.drop_table('enrollment')
    op.drop_index('uq_case_file_open_per_student', table_name='case_file', postgresql_where=sa.text("status <> 'closed'"))
    op.drop_index(op.f('ix_case_file_student_id'), table_name='case_file')
    op.drop_index(op.f('ix_case_file_case_manager_id'), table_name='case_file')
    op.drop_table('case_file')
    op.drop_index(op.f('ix_attendance_record_school_id'), table_name='attendance_record')
    op.drop_table('attendance_record')
    op.drop_index(op.f('ix_student_school_id'), table_name='student')
    op.drop_index(op.f('ix_student_household_id'), table_name='student')
    op.drop_table('student')
    op.drop_index(op.f('ix_instructional_day_school_year_id'), table_name='instructional_day')
    op.drop_table('instructional_day')
    op.drop_index(op.f('ix_guardian_household_id'), table_name='guardian')
    op.drop_table('guardian')
    op.drop_table('school_year')
    op.drop_table('school')
    op.drop_table('household')

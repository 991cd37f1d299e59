"""casework

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

The casework after the first contact, all synced: the district's directory of resources (every
case manager's phone holds it), assessments of why the child misses school, referrals to
resources (the REST ones, in the same table, now synced too: ``resource`` is ``resource_name``,
status ``referred`` is ``made``), parent meetings, and follow-ups a phone schedules (new kinds,
who scheduled it, the dates it was moved from). A case's tree (what a reassignment re-announces
and takes back) includes the new records.

Meeting deadlines join their case: the rules make a student's parent-meeting follow-up before any
case exists (``case_id`` null), so a case manager's phone never held her students' deadlines. Now
a new case takes its student's open follow-ups that have no case (a trigger), and the open cases
take theirs now.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

NEW_SYNCED = ("resource", "assessment", "service_referral", "parent_meeting")
FACTORS = (
    "transportation", "student_illness", "chronic_health_condition", "family_illness", "caring_for_family",
    "housing_instability", "food_insecurity", "clothing_or_supplies", "family_work_schedule", "unsafe_route",
    "legal_or_immigration", "bullying", "peer_conflict", "school_discipline", "academic_difficulty",
    "anxiety_or_mental_health", "conflict_with_staff", "unmet_special_needs", "no_caring_adult",
    "not_connected_to_learning", "peers_out_of_school", "student_employment", "substance_use",
    "excused_absences_dont_matter", "unaware_of_absence_count", "sporadic_absences_dont_matter", "unaware_of_law",
    "other",
)
KINDS = ("parent_meeting", "follow_up", "phone_call", "home_visit", "school_meeting")


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
    UNION ALL SELECT 'form_photo', p.id FROM form_photo p WHERE p.case_id = sync_case_tree.case_id{more}
$$"""

MORE = """
    UNION ALL SELECT 'assessment', a.id FROM assessment a WHERE a.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'service_referral', r.id FROM service_referral r WHERE r.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'parent_meeting', m.id FROM parent_meeting m WHERE m.case_id = sync_case_tree.case_id"""

ADOPT_FOLLOW_UPS = """
CREATE FUNCTION case_adopts_follow_ups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a new open case takes its student's open follow-ups that no case holds (the rules make a
    -- parent-meeting deadline the day the student becomes truant, before any referral)
    IF NEW.status <> 'closed' AND NEW.deleted_at IS NULL THEN
        UPDATE follow_up SET case_id = NEW.id, version = version + 1, updated_at = now()
        WHERE student_id = NEW.student_id AND case_id IS NULL AND status = 'open';
    END IF;
    RETURN NULL;
END $$"""


def _flags() -> sa.Column[object]:
    return sa.Column('flags', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                     nullable=False)


def _versioned() -> list[sa.Column[object]]:
    return [
        sa.Column('id', sa.UUID(), nullable=False),
        sa.Column('version', sa.Integer(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('resource',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('factors', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('languages', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[\"en\"]'::jsonb"), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('website', sa.String(length=300), nullable=True),
    sa.Column('hours', sa.String(length=200), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    *_versioned(),
    sa.CheckConstraint("jsonb_typeof(factors) = 'array'", name=op.f('ck_resource_factors_array')),
    sa.CheckConstraint("jsonb_typeof(languages) = 'array'", name=op.f('ck_resource_languages_array')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_resource'))
    )
    op.create_table('assessment',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('factors', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('primary_factor', sa.String(length=40), nullable=True),
    sa.Column('visit_log_id', sa.UUID(), nullable=True),
    sa.Column('strengths', sa.Text(), nullable=True),
    sa.Column('student_voice', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    _flags(),
    sa.Column('device_id', sa.UUID(), nullable=True),
    *_versioned(),
    sa.CheckConstraint(_in('primary_factor', FACTORS), name=op.f('ck_assessment_primary_factor_known')),
    sa.CheckConstraint("jsonb_typeof(factors) = 'array'", name=op.f('ck_assessment_factors_array')),
    sa.CheckConstraint("jsonb_typeof(flags) = 'array'", name=op.f('ck_assessment_flags_array')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_assessment_case_id_case_file')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_assessment_author_id_user_account')),
    sa.ForeignKeyConstraint(['visit_log_id'], ['visit_log.id'], name=op.f('fk_assessment_visit_log_id_visit_log')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment'))
    )
    op.create_index(op.f('ix_assessment_case_id'), 'assessment', ['case_id'], unique=False)
    op.create_table('parent_meeting',
    sa.Column('case_id', sa.UUID(), nullable=False),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('held_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place', sa.String(length=16), nullable=False),
    sa.Column('attendees', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('interpreter', sa.Boolean(), nullable=False),
    sa.Column('policy_discussed', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('agreements', sa.Text(), nullable=True),
    sa.Column('next_meeting_on', sa.Date(), nullable=True),
    _flags(),
    sa.Column('device_id', sa.UUID(), nullable=True),
    *_versioned(),
    sa.CheckConstraint("place IN ('home', 'school', 'phone', 'video', 'other')", name=op.f('ck_parent_meeting_place_known')),
    sa.CheckConstraint("jsonb_typeof(attendees) = 'array'", name=op.f('ck_parent_meeting_attendees_array')),
    sa.CheckConstraint("jsonb_typeof(flags) = 'array'", name=op.f('ck_parent_meeting_flags_array')),
    sa.ForeignKeyConstraint(['case_id'], ['case_file.id'], name=op.f('fk_parent_meeting_case_id_case_file')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_parent_meeting_author_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parent_meeting'))
    )
    op.create_index(op.f('ix_parent_meeting_case_id'), 'parent_meeting', ['case_id'], unique=False)

    # service referrals: the REST table becomes a synced record
    op.alter_column('service_referral', 'resource', new_column_name='resource_name')
    op.add_column('service_referral', sa.Column('resource_id', sa.UUID(), nullable=True))
    op.add_column('service_referral', sa.Column('factor', sa.String(length=40), nullable=True))
    op.add_column('service_referral', sa.Column('at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('service_referral', sa.Column('status_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('service_referral', sa.Column('created_by', sa.UUID(), nullable=True))
    op.add_column('service_referral', sa.Column('device_id', sa.UUID(), nullable=True))
    op.add_column('service_referral', _flags())
    op.add_column('service_referral', sa.Column('updates', postgresql.JSONB(astext_type=sa.Text()),
                                                server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.execute("UPDATE service_referral SET at = referred_on::timestamp AT TIME ZONE 'UTC' + interval '12 hours'")
    op.alter_column('service_referral', 'at', nullable=False)
    op.alter_column('service_referral', 'status', server_default=None, existing_type=sa.String(length=32),
                    type_=sa.String(length=16), postgresql_using="status::varchar(16)")
    op.execute("UPDATE service_referral SET status = 'made' WHERE status NOT IN ('made', 'connected', 'not_connected', 'declined')")
    op.create_check_constraint(op.f('ck_service_referral_status_known'), 'service_referral',
                               "status IN ('made', 'connected', 'not_connected', 'declined')")
    op.create_check_constraint(op.f('ck_service_referral_factor_known'), 'service_referral', _in('factor', FACTORS))
    op.create_check_constraint(op.f('ck_service_referral_flags_array'), 'service_referral', "jsonb_typeof(flags) = 'array'")
    op.create_foreign_key(op.f('fk_service_referral_resource_id_resource'), 'service_referral', 'resource',
                          ['resource_id'], ['id'])
    op.create_foreign_key(op.f('fk_service_referral_created_by_user_account'), 'service_referral', 'user_account',
                          ['created_by'], ['id'])
    op.create_index(op.f('ix_service_referral_resource_id'), 'service_referral', ['resource_id'], unique=False)

    # follow-ups a phone schedules
    op.add_column('follow_up', sa.Column('created_by', sa.UUID(), nullable=True))
    op.add_column('follow_up', sa.Column('rescheduled', postgresql.JSONB(astext_type=sa.Text()),
                                         server_default=sa.text("'[]'::jsonb"), nullable=False))
    op.create_foreign_key(op.f('fk_follow_up_created_by_user_account'), 'follow_up', 'user_account',
                          ['created_by'], ['id'])
    op.drop_constraint(op.f('ck_follow_up_kind_known'), 'follow_up', type_='check')
    op.create_check_constraint(op.f('ck_follow_up_kind_known'), 'follow_up', _in('kind', KINDS))

    for table in NEW_SYNCED:
        for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            op.execute(
                f"CREATE TRIGGER sync_log_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows('{table}')"
            )
    op.execute(CASE_TREE.format(more=MORE))
    op.execute(ADOPT_FOLLOW_UPS)
    op.execute(
        "CREATE TRIGGER case_adopts_follow_ups AFTER INSERT ON case_file FOR EACH ROW "
        "EXECUTE FUNCTION case_adopts_follow_ups()"
    )
    # the deadlines made before their case: each open case takes its student's
    op.execute(
        "UPDATE follow_up f SET case_id = c.id, version = f.version + 1, updated_at = now() "
        "FROM case_file c WHERE c.student_id = f.student_id AND c.status <> 'closed' AND c.deleted_at IS NULL "
        "AND f.case_id IS NULL AND f.status = 'open'"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER case_adopts_follow_ups ON case_file")
    op.execute("DROP FUNCTION case_adopts_follow_ups()")
    op.execute(CASE_TREE.format(more=""))
    for table in NEW_SYNCED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER sync_log_{event} ON {table}")
    op.execute("DELETE FROM sync_change WHERE record_type IN ('resource', 'assessment', 'service_referral', 'parent_meeting')")
    op.execute("UPDATE follow_up SET kind = 'follow_up' WHERE kind NOT IN ('parent_meeting', 'follow_up')")
    op.drop_constraint(op.f('ck_follow_up_kind_known'), 'follow_up', type_='check')
    op.create_check_constraint(op.f('ck_follow_up_kind_known'), 'follow_up', "kind IN ('parent_meeting', 'follow_up')")
    op.drop_constraint(op.f('fk_follow_up_created_by_user_account'), 'follow_up', type_='foreignkey')
    op.drop_column('follow_up', 'rescheduled')
    op.drop_column('follow_up', 'created_by')
    op.drop_index(op.f('ix_service_referral_resource_id'), table_name='service_referral')
    op.drop_constraint(op.f('fk_service_referral_created_by_user_account'), 'service_referral', type_='foreignkey')
    op.drop_constraint(op.f('fk_service_referral_resource_id_resource'), 'service_referral', type_='foreignkey')
    op.drop_constraint(op.f('ck_service_referral_flags_array'), 'service_referral', type_='check')
    op.drop_constraint(op.f('ck_service_referral_factor_known'), 'service_referral', type_='check')
    op.drop_constraint(op.f('ck_service_referral_status_known'), 'service_referral', type_='check')
    op.alter_column('service_referral', 'status', type_=sa.String(length=32))
    op.execute("UPDATE service_referral SET status = 'referred' WHERE status = 'made'")
    for column in ('updates', 'flags', 'device_id', 'created_by', 'status_at', 'at', 'factor', 'resource_id'):
        op.drop_column('service_referral', column)
    op.alter_column('service_referral', 'resource_name', new_column_name='resource')
    op.drop_index(op.f('ix_parent_meeting_case_id'), table_name='parent_meeting')
    op.drop_table('parent_meeting')
    op.drop_index(op.f('ix_assessment_case_id'), table_name='assessment')
    op.drop_table('assessment')
    op.drop_table('resource')

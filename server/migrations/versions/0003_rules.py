"""rules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

The rules engine: rule sets versioned per school year, truancy episodes; and the job queue
(procrastinate's schema, in its own PostgreSQL schema `procrastinate`).
"""

from __future__ import annotations

from typing import Any

from procrastinate.schema import SchemaManager
from sqlalchemy.util.concurrency import await_

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # procrastinate's schema is a multi-statement script: run it on the raw asyncpg connection
    # (simple query protocol), inside this migration's transaction.
    driver: Any = op.get_bind().connection.driver_connection
    await_(driver.execute(
        "CREATE SCHEMA procrastinate; SET LOCAL search_path TO procrastinate;\n"
        + SchemaManager.get_schema()
        + "\nSET LOCAL search_path TO DEFAULT;"
    ))
    # Its functions name their tables unqualified: pin their search_path, so callers in any
    # schema (Doorstep defers jobs from its own transactions) reach them.
    op.execute("""
        DO $$ DECLARE f record; BEGIN
            FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'procrastinate'
            LOOP EXECUTE format('ALTER FUNCTION %s SET search_path = procrastinate', f.sig); END LOOP;
        END $$
    """)
    op.create_table('rule_set',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('school_year_id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('preset', sa.String(length=16), nullable=False),
    sa.Column('monthly_threshold', sa.Integer(), nullable=False),
    sa.Column('yearly_threshold', sa.Integer(), nullable=False),
    sa.Column('habitual_threshold', sa.Integer(), nullable=False),
    sa.Column('chronic_percent', sa.Float(), nullable=False),
    sa.Column('month_reading', sa.String(length=16), nullable=False),
    sa.Column('documentation_window_days', sa.Integer(), nullable=False),
    sa.Column('tier_boundary', sa.Integer(), nullable=False),
    sa.Column('meeting_due_days', sa.Integer(), nullable=False),
    sa.Column('wellness_days', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.UUID(), nullable=True),
    sa.CheckConstraint("month_reading IN ('calendar', 'rolling30')", name=op.f('ck_rule_set_month_reading_known')),
    sa.CheckConstraint("preset IN ('program', 'connecticut', 'custom')", name=op.f('ck_rule_set_preset_known')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_rule_set_created_by_user_account')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_rule_set_school_year_id_school_year')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_set')),
    sa.UniqueConstraint('school_year_id', 'version', name=op.f('uq_rule_set_school_year_id_version'))
    )
    op.create_table('truancy_episode',
    sa.Column('id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('student_id', sa.UUID(), nullable=False),
    sa.Column('school_year_id', sa.UUID(), nullable=False),
    sa.Column('rule', sa.String(length=16), nullable=False),
    sa.Column('became_on', sa.Date(), nullable=False),
    sa.Column('detected_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('rule_set_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("rule IN ('monthly', 'yearly', 'habitual', 'chronic')", name=op.f('ck_truancy_episode_rule_known')),
    sa.ForeignKeyConstraint(['school_year_id'], ['school_year.id'], name=op.f('fk_truancy_episode_school_year_id_school_year')),
    sa.ForeignKeyConstraint(['student_id'], ['student.id'], name=op.f('fk_truancy_episode_student_id_student')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_truancy_episode'))
    )
    op.create_index(op.f('ix_truancy_episode_student_id'), 'truancy_episode', ['student_id'], unique=False)
    op.create_index('uq_truancy_episode_open', 'truancy_episode', ['student_id', 'school_year_id', 'rule'], unique=True, postgresql_where=sa.text('ended_on IS NULL'))


def downgrade() -> None:
    op.drop_index('uq_truancy_episode_open', table_name='truancy_episode', postgresql_where=sa.text('ended_on IS NULL'))
    op.drop_index(op.f('ix_truancy_episode_student_id'), table_name='truancy_episode')
    op.drop_table('truancy_episode')
    op.drop_table('rule_set')
    op.execute("DROP SCHEMA procrastinate CASCADE")

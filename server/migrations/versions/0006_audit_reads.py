"""audit reads

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The audit log answers FERPA's record of access (34 CFR 99.32): each row may name the student
whose record was read or changed, so a student's accesses are one indexed query; the actor's
rows are another.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_log', sa.Column('student_id', sa.UUID(), nullable=True))
    op.create_index('ix_audit_log_student', 'audit_log', ['student_id', 'id'], unique=False)
    op.create_index('ix_audit_log_actor', 'audit_log', ['actor_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_actor', table_name='audit_log')
    op.drop_index('ix_audit_log_student', table_name='audit_log')
    op.drop_column('audit_log', 'student_id')

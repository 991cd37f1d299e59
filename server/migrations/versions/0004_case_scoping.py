"""case scoping

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The schools each attendance counselor works at.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counselor_school',
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('school_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_counselor_school_school_id_school')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_counselor_school_user_id_user_account')),
    sa.PrimaryKeyConstraint('user_id', 'school_id', name=op.f('pk_counselor_school'))
    )


def downgrade() -> None:
    op.drop_table('counselor_school')

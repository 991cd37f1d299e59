"""login throttle

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Login throttling lives in the database, so every worker shares it: a username's streak of
failed logins (with the back-off it has earned), and one-minute windows of counted attempts
per client address (failed logins) and per device (refreshes). See server/auth/throttle.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle_account',
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_login_throttle_account_failures_not_negative')),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle_account'))
    )
    op.create_index(op.f('ix_login_throttle_account_last_failure_at'), 'login_throttle_account', ['last_failure_at'], unique=False)
    op.create_table('login_throttle_window',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.CheckConstraint("scope IN ('address', 'refresh')", name=op.f('ck_login_throttle_window_scope_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_login_throttle_window_attempts_not_negative')),
    sa.PrimaryKeyConstraint('scope', 'key', name=op.f('pk_login_throttle_window'))
    )
    op.create_index(op.f('ix_login_throttle_window_window_start'), 'login_throttle_window', ['window_start'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_login_throttle_window_window_start'), table_name='login_throttle_window')
    op.drop_table('login_throttle_window')
    op.drop_index(op.f('ix_login_throttle_account_last_failure_at'), table_name='login_throttle_account')
    op.drop_table('login_throttle_account')

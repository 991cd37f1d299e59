"""refresh successor

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

A rotated refresh token remembers the token that replaced it, so that the same token presented
again within a short grace (a phone whose answer to ``POST /auth/refresh`` was lost) gets the same
successor pair back instead of ending the device's sessions (issue 20; server/auth/service.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('refresh_token', sa.Column('successor_id', sa.UUID(), nullable=True))
    op.create_foreign_key(op.f('fk_refresh_token_successor_id_refresh_token'), 'refresh_token', 'refresh_token',
                          ['successor_id'], ['id'])


def downgrade() -> None:
    op.drop_constraint(op.f('fk_refresh_token_successor_id_refresh_token'), 'refresh_token', type_='foreignkey')
    op.drop_column('refresh_token', 'successor_id')

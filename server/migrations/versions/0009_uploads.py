"""uploads

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

The files that follow form photos: tus uploads in progress (``upload``), the stored files, once
per content (``photo_file``, keyed by sha256), and the truancy status a visit log was made
against (``visit_log.truancy``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('photo_file',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('media_type', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('exif_latitude', sa.Float(), nullable=True),
    sa.Column('exif_longitude', sa.Float(), nullable=True),
    sa.Column('served_media_type', sa.String(length=32), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name=op.f('ck_photo_file_sha256_hex')),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_photo_file'))
    )
    op.create_table('upload',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('form_photo_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('upload_offset', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('parts', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('writer', sa.UUID(), nullable=True),
    sa.Column('writer_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('error', sa.String(length=64), nullable=True),
    sa.CheckConstraint('upload_offset >= 0 AND upload_offset <= length', name=op.f('ck_upload_offset_in_range')),
    sa.CheckConstraint('length >= 0', name=op.f('ck_upload_length_positive')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_upload_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload'))
    )
    op.create_index(op.f('ix_upload_form_photo_id'), 'upload', ['form_photo_id'], unique=False)
    op.create_index(op.f('ix_upload_sha256'), 'upload', ['sha256'], unique=False)
    op.add_column('visit_log', sa.Column('truancy', postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column('visit_log', 'truancy')
    op.drop_index(op.f('ix_upload_sha256'), table_name='upload')
    op.drop_index(op.f('ix_upload_form_photo_id'), table_name='upload')
    op.drop_table('upload')
    op.drop_table('photo_file')

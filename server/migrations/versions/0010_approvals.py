"""approvals

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

A supervisor's review of visit records: a visit note may be ``approved`` or ``returned`` besides
``draft`` and ``submitted``, and carries its last review (``review_status``, ``review_comment``,
``reviewed_by``, ``reviewed_at``: synced to the phone with the note); each decision is a row of
``visit_decision`` (idempotent by the client's id, with the note's submission time, for the
turnaround). A note pushed and submitted in one batch is now stamped ``submitted_at`` too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint(op.f('ck_visit_note_status_known'), 'visit_note', type_='check')
    op.create_check_constraint(
        op.f('ck_visit_note_status_known'), 'visit_note', "status IN ('draft', 'submitted', 'approved', 'returned')"
    )
    op.add_column('visit_note', sa.Column('review_status', sa.String(length=16), nullable=True))
    op.add_column('visit_note', sa.Column('review_comment', sa.Text(), nullable=True))
    op.add_column('visit_note', sa.Column('reviewed_by', sa.UUID(), nullable=True))
    op.add_column('visit_note', sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f('ck_visit_note_review_status_known'), 'visit_note', "review_status IN ('approved', 'returned')"
    )
    op.create_foreign_key(
        op.f('fk_visit_note_reviewed_by_user_account'), 'visit_note', 'user_account', ['reviewed_by'], ['id']
    )
    # A note saved and submitted in one push was inserted without ``submitted_at``. A submitted
    # note is frozen, so its last write was its submission. No synced field changes: no change log.
    op.execute("ALTER TABLE visit_note DISABLE TRIGGER sync_log_update")
    op.execute("UPDATE visit_note SET submitted_at = updated_at WHERE status = 'submitted' AND submitted_at IS NULL")
    op.execute("ALTER TABLE visit_note ENABLE TRIGGER sync_log_update")
    op.create_table('visit_decision',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('visit_log_id', sa.UUID(), nullable=False),
    sa.Column('note_id', sa.UUID(), nullable=False),
    sa.Column('decided_by', sa.UUID(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('expected_version', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.CheckConstraint("decision IN ('approve', 'return')", name=op.f('ck_visit_decision_decision_known')),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'], name=op.f('fk_visit_decision_decided_by_user_account')),
    sa.ForeignKeyConstraint(['note_id'], ['visit_note.id'], name=op.f('fk_visit_decision_note_id_visit_note')),
    sa.ForeignKeyConstraint(['visit_log_id'], ['visit_log.id'], name=op.f('fk_visit_decision_visit_log_id_visit_log')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visit_decision'))
    )
    op.create_index(op.f('ix_visit_decision_decided_by'), 'visit_decision', ['decided_by'], unique=False)
    op.create_index(op.f('ix_visit_decision_note_id'), 'visit_decision', ['note_id'], unique=False)
    op.create_index(op.f('ix_visit_decision_visit_log_id'), 'visit_decision', ['visit_log_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_visit_decision_visit_log_id'), table_name='visit_decision')
    op.drop_index(op.f('ix_visit_decision_note_id'), table_name='visit_decision')
    op.drop_index(op.f('ix_visit_decision_decided_by'), table_name='visit_decision')
    op.drop_table('visit_decision')
    op.drop_constraint(op.f('fk_visit_note_reviewed_by_user_account'), 'visit_note', type_='foreignkey')
    op.drop_constraint(op.f('ck_visit_note_review_status_known'), 'visit_note', type_='check')
    op.drop_column('visit_note', 'reviewed_at')
    op.drop_column('visit_note', 'reviewed_by')
    op.drop_column('visit_note', 'review_comment')
    op.drop_column('visit_note', 'review_status')
    # Before 0010 a note was a draft or submitted: an approved or returned one was submitted.
    op.drop_constraint(op.f('ck_visit_note_status_known'), 'visit_note', type_='check')
    op.execute("UPDATE visit_note SET status = 'submitted' WHERE status IN ('approved', 'returned')")
    op.create_check_constraint(op.f('ck_visit_note_status_known'), 'visit_note', "status IN ('draft', 'submitted')")

"""sync

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

The sync engine's tables, and the triggers that write the change log: every insert, update
and delete on a synced table adds a row to sync_change stamped with the writing transaction's
id; reassigning a case re-announces everything under it and offers deletes to whoever may have
lost sight of it; changing a user's role or team bumps the scope epoch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SYNCED = {"case_file": "case", "student": "student", "household": "household",
          "contact_attempt": "contact_attempt", "visit_note": "visit_note", "conflict": "conflict"}

TOMBSTONED = ("case_file", "student", "household", "contact_attempt", "visit_note")

LOG_FUNCTION = """
CREATE FUNCTION sync_log_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO sync_change (record_type, record_id, op) SELECT TG_ARGV[0], id, 'del' FROM old_rows;
    ELSE
        INSERT INTO sync_change (record_type, record_id, op) SELECT TG_ARGV[0], id, 'put' FROM new_rows;
    END IF;
    RETURN NULL;
END $$"""

CASE_MOVED_FUNCTION = """
CREATE FUNCTION sync_case_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    losers uuid[];
BEGIN
    -- Whoever held the case (its case manager and her supervisor) is offered deletes for
    -- everything that was under it; a pull delivers them only where she no longer sees it.
    SELECT array_remove(ARRAY[OLD.case_manager_id, u.supervisor_id], NULL) INTO losers
    FROM (SELECT 1) AS one LEFT JOIN user_account u ON u.id = OLD.case_manager_id;
    INSERT INTO sync_change (record_type, record_id, op, audience_user_id)
    SELECT r.record_type, r.record_id, 'del', loser
    FROM sync_case_tree(OLD.id, OLD.student_id) AS r, unnest(losers) AS loser;
    -- Everything now under it is announced again, for whoever sees it now.
    INSERT INTO sync_change (record_type, record_id, op)
    SELECT r.record_type, r.record_id, 'put' FROM sync_case_tree(NEW.id, NEW.student_id) AS r;
    RETURN NULL;
END $$"""

CASE_TREE_FUNCTION = """
CREATE FUNCTION sync_case_tree(case_id uuid, student_id uuid)
RETURNS TABLE (record_type text, record_id uuid) LANGUAGE sql STABLE AS $$
    SELECT 'case', case_id
    UNION ALL SELECT 'student', student_id
    UNION ALL SELECT 'household', s.household_id FROM student s
        WHERE s.id = student_id AND s.household_id IS NOT NULL
    UNION ALL SELECT 'contact_attempt', c.id FROM contact_attempt c WHERE c.case_id = sync_case_tree.case_id
    UNION ALL SELECT 'visit_note', n.id FROM visit_note n WHERE n.case_id = sync_case_tree.case_id
$$"""

HOUSEHOLD_MOVED_FUNCTION = """
CREATE FUNCTION sync_household_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sync_change (record_type, record_id, op)
    SELECT 'household', OLD.household_id, 'del' WHERE OLD.household_id IS NOT NULL
    UNION ALL SELECT 'household', NEW.household_id, 'put' WHERE NEW.household_id IS NOT NULL;
    RETURN NULL;
END $$"""

EPOCH_FUNCTION = """
CREATE FUNCTION sync_bump_scope_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sync_scope_epoch SET epoch = epoch + 1 WHERE id = 1;
    RETURN NULL;
END $$"""


def _triggers() -> list[str]:
    statements = [LOG_FUNCTION, CASE_TREE_FUNCTION, CASE_MOVED_FUNCTION, HOUSEHOLD_MOVED_FUNCTION, EPOCH_FUNCTION]
    for table, record_type in SYNCED.items():
        for event, rows in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
            statements.append(
                f"CREATE TRIGGER sync_log_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING {rows} TABLE AS {rows.lower()}_rows "
                f"FOR EACH STATEMENT EXECUTE FUNCTION sync_log_rows('{record_type}')"
            )
    statements.append(
        "CREATE TRIGGER sync_case_moved AFTER UPDATE OF case_manager_id, student_id, deleted_at ON case_file "
        "FOR EACH ROW WHEN (OLD.case_manager_id IS DISTINCT FROM NEW.case_manager_id "
        "OR OLD.student_id IS DISTINCT FROM NEW.student_id OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at) "
        "EXECUTE FUNCTION sync_case_moved()"
    )
    statements.append(
        "CREATE TRIGGER sync_household_moved AFTER UPDATE OF household_id ON student FOR EACH ROW "
        "WHEN (OLD.household_id IS DISTINCT FROM NEW.household_id) EXECUTE FUNCTION sync_household_moved()"
    )
    statements.append(
        "CREATE TRIGGER sync_scope_epoch AFTER UPDATE OF role, supervisor_id ON user_account FOR EACH ROW "
        "WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.supervisor_id IS DISTINCT FROM NEW.supervisor_id) "
        "EXECUTE FUNCTION sync_bump_scope_epoch()"
    )
    statements.append("INSERT INTO sync_scope_epoch (id, epoch) VALUES (1, 0)")
    return statements


def upgrade() -> None:
    op.create_table('sync_change',
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('txid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'), nullable=False),
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.UUID(), nullable=False),
    sa.Column('op', sa.String(length=3), nullable=False),
    sa.Column('audience_user_id', sa.UUID(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_sync_change'))
    )
    op.create_index('ix_sync_change_position', 'sync_change', ['txid', 'seq'], unique=False)
    op.create_table('sync_scope_epoch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('purged_below', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_scope_epoch'))
    )
    op.create_table('conflict',
    sa.Column('record_type', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('client_id', sa.UUID(), nullable=True),
    sa.Column('author_id', sa.UUID(), nullable=True),
    sa.Column('mutation_id', sa.BigInteger(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('theirs_version', sa.Integer(), nullable=True),
    sa.Column('base', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('mine', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('theirs', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='open', nullable=False),
    sa.Column('resolved_by', sa.UUID(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolution', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_conflict_author_id_user_account')),
    sa.ForeignKeyConstraint(['resolved_by'], ['user_account.id'], name=op.f('fk_conflict_resolved_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflict'))
    )
    op.create_index(op.f('ix_conflict_author_id'), 'conflict', ['author_id'], unique=False)
    op.create_index(op.f('ix_conflict_record_id'), 'conflict', ['record_id'], unique=False)
    op.create_table('sync_client',
    sa.Column('client_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('last_mutation_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_sync_client_user_id_user_account')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_sync_client'))
    )
    op.create_index(op.f('ix_sync_client_user_id'), 'sync_client', ['user_id'], unique=False)
    op.create_table('sync_mutation',
    sa.Column('client_id', sa.UUID(), nullable=False),
    sa.Column('mutation_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('raw', sa.String(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['sync_client.client_id'], name=op.f('fk_sync_mutation_client_id_sync_client')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_sync_mutation_user_id_user_account')),
    sa.Column('txid', sa.BigInteger(), server_default=sa.text('(pg_current_xact_id()::text)::bigint'), nullable=False),
    sa.PrimaryKeyConstraint('client_id', 'mutation_id', name=op.f('pk_sync_mutation'))
    )

    for table in TOMBSTONED:
        op.add_column(table, sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    for statement in _triggers():
        op.execute(statement)

def downgrade() -> None:
    op.execute("DROP TRIGGER sync_scope_epoch ON user_account")
    op.execute("DROP TRIGGER sync_case_moved ON case_file")
    op.execute("DROP TRIGGER sync_household_moved ON student")
    for table in SYNCED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER sync_log_{event} ON {table}")
    for function in ("sync_log_rows()", "sync_case_moved()", "sync_household_moved()", "sync_bump_scope_epoch()"):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP FUNCTION sync_case_tree(uuid, uuid)")
    for table in TOMBSTONED:
        op.drop_column(table, 'deleted_at')
    op.drop_table('sync_mutation')
    op.drop_index(op.f('ix_sync_client_user_id'), table_name='sync_client')
    op.drop_table('sync_client')
    op.drop_index(op.f('ix_conflict_record_id'), table_name='conflict')
    op.drop_index(op.f('ix_conflict_author_id'), table_name='conflict')
    op.drop_table('conflict')
    op.drop_table('sync_scope_epoch')
    op.drop_index('ix_sync_change_position', table_name='sync_change')
    op.drop_table('sync_change')

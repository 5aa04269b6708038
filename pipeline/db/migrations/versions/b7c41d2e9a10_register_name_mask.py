"""register_person.name_mask: the one-character-masked name key for blocking

Revision ID: b7c41d2e9a10
Revises: e09e515a7d25
Create Date: 2026-11-27 11:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = 'b7c41d2e9a10'
down_revision = 'e09e515a7d25'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('register_person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_mask', sa.String(length=64), nullable=True))
    # Rows already imported get the key from their stored surname class and given name
    # (pipeline.namekeys.inner_masked_key computes the same value).
    op.execute("UPDATE register_person SET name_mask = surname_class || '*' || substr(given_norm, 2) WHERE length(given_norm) >= 2")
    with op.batch_alter_table('register_person', schema=None) as batch_op:
        batch_op.create_index('ix_register_person_mask_dob', ['name_mask', 'birth_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('register_person', schema=None) as batch_op:
        batch_op.drop_index('ix_register_person_mask_dob')
        batch_op.drop_column('name_mask')

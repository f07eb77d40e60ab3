"""orders.status, filled from the data: free orders are 'free', the others 'paid'.

A data migration between two schema steps: the column is added nullable, filled, then made
NOT NULL, as an app would do it on a table that already has rows.

Revision ID: 0002_status
Revises: 0001_tables
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_status"
down_revision = "0001_tables"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("status", sa.Text, nullable=True))
    op.execute("UPDATE orders SET status = CASE WHEN total_cents = 0 THEN 'free' ELSE 'paid' END")
    op.alter_column("orders", "status", nullable=False)


def downgrade():
    op.drop_column("orders", "status")

"""An index on orders.status, and customers.email_domain (filled from email) with its own.

Revision ID: 0003_index
Revises: 0002_status
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_index"
down_revision = "0002_status"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_orders_status", "orders", ["status"])
    op.add_column("customers", sa.Column("email_domain", sa.Text, nullable=True))
    op.execute("UPDATE customers SET email_domain = split_part(email, '@', 2)")
    op.create_index("ix_customers_email_domain", "customers", ["email_domain"])


def downgrade():
    op.drop_index("ix_customers_email_domain", table_name="customers")
    op.drop_column("customers", "email_domain")
    op.drop_index("ix_orders_status", table_name="orders")

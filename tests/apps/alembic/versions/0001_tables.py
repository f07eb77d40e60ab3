"""Customers and their orders, with a few rows of each.

Revision ID: 0001_tables
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_tables"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    customers = op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
    )
    orders = op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("total_cents", sa.Integer, nullable=False),
    )
    op.bulk_insert(
        customers,
        [
            {"id": 1, "name": "Ada", "email": "ada@example.org"},
            {"id": 2, "name": "Grace", "email": "grace@example.com"},
            {"id": 3, "name": "Edsger", "email": "edsger@example.net"},
        ],
    )
    op.bulk_insert(
        orders,
        [
            {"id": 1, "customer_id": 1, "total_cents": 1250},
            {"id": 2, "customer_id": 1, "total_cents": 0},
            {"id": 3, "customer_id": 2, "total_cents": 9900},
            {"id": 4, "customer_id": 3, "total_cents": 0},
            {"id": 5, "customer_id": 3, "total_cents": 4200},
        ],
    )


def downgrade():
    op.drop_table("orders")
    op.drop_table("customers")

"""Alembic's environment for the test app.

Connects to $DATABASE_URL (a libpq-style URL without a password: psycopg2's libpq reads
PGPASSFILE or PGPASSWORD for it) and runs each migration in a transaction of its own, so
that a failing one leaves the database at the revision before it.
"""

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

url = os.environ.get("DATABASE_URL")
if not url:
    raise SystemExit("DATABASE_URL is not set: run this through pgsurge restore --then, or set it")

if context.is_offline_mode():
    context.configure(url=url, literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()

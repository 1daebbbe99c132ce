"""Alembic's environment: migrations run on the connection `bot.store.schema` hands in.

There is no alembic.ini and no URL here: the bot opens the database itself (with its own
engine, async driver and, on PostgreSQL, an advisory lock) and passes the connection.
"""

from __future__ import annotations

from alembic import context

from bot.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()

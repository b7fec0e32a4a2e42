"""Alembic environment: runs on the connection `retrofit.store.database.migrate` hands over.

The tables are the SQLModel metadata of `retrofit.store.models`. There is no alembic.ini:
`migrate()` configures Alembic in code. To write a new migration after changing a model:
    .venv/bin/python -m retrofit.store.revision "what changed"
"""

from alembic import context
from sqlmodel import SQLModel

import retrofit.store.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through retrofit.store.database.migrate(), which passes a connection")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
context.run_migrations()

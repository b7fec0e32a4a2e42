"""Write a new migration from the difference between the models and the current schema.

    .venv/bin/python -m retrofit.store.revision "add review deadline"

It migrates a scratch SQLite database to the newest revision and lets Alembic compare it
with `models.py`. Read the generated file before committing it.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from retrofit.store.database import MIGRATIONS_DIR, _create_engine, migrate


def new_revision(message: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config)
    heads = scripts.get_heads()
    number = f"{len(list(scripts.walk_revisions())) + 1:04d}"
    with tempfile.TemporaryDirectory() as folder:
        engine = _create_engine(make_url(f"sqlite:///{Path(folder) / 'scratch.db'}"))
        if heads:
            migrate(engine)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True, rev_id=number)
        engine.dispose()


if __name__ == "__main__":
    new_revision(" ".join(sys.argv[1:]) or "schema change")

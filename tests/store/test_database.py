"""Creating, migrating and refusing databases, with clear messages."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from retrofit.errors import RetrofitError
from retrofit.store import add_scenario, open_database, scenario_names
from retrofit.store.database import schema_revision
from retrofit.testing.throwaway import free_port

TABLES = {"scenario", "run", "plan_row", "app_user", "review", "comment", "audit_event", "actuals", "actual_row",
          "alembic_version"}


def test_a_new_database_is_created_by_migrating(engine):
    assert TABLES <= set(inspect(engine).get_table_names())
    assert schema_revision(engine) == "0005"


def test_opening_again_keeps_the_data(engine, database_url):
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO app_user (name, role, active, created_at) "
                                "VALUES ('ana', 'viewer', true, CURRENT_TIMESTAMP)"))
    again = open_database(database_url)
    with again.connect() as connection:
        assert connection.execute(text("SELECT name FROM app_user")).scalars().all() == ["ana"]
    again.dispose()


def test_the_head_read_from_the_migration_files_is_alembics():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from retrofit.store.database import MIGRATIONS_DIR, _head_on_disk

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert _head_on_disk() == ScriptDirectory.from_config(config).get_current_head()


def test_a_database_from_a_newer_schema_is_refused(engine, database_url):
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(RetrofitError, match="schema revision 9999, newer than this retrofit"):
        open_database(database_url)


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    engine.dispose()


def test_missing_folder_says_which_and_how(tmp_path):
    with pytest.raises(RetrofitError, match=r"database folder .*nowhere does not exist; create it"):
        open_database(f"sqlite:///{tmp_path / 'nowhere' / 'retrofit.db'}")


def test_a_read_only_database_can_be_read_but_writing_says_why_not(tmp_path):
    # Opened read-only by URI (file permissions do not stop root, who may run the tests).
    path = tmp_path / "retrofit.db"
    open_database(f"sqlite:///{path}").dispose()
    engine = open_database(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert scenario_names(engine) == []
    with pytest.raises(RetrofitError, match=f"database {path} is read-only"):
        add_scenario(engine, 'name = "x"\n[budget]\ntotal_gbp = 1e6\n[years]\nstart = 2026\nend = 2027\n')
    engine.dispose()


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(RetrofitError, match="is not a SQLite database"):
        open_database(f"sqlite:///{path}")


def test_unreachable_server_says_so():
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(RetrofitError, match="cannot reach the database server at .*127.0.0.1"):
        open_database(url)


def test_bad_url_says_what_a_good_one_looks_like():
    with pytest.raises(RetrofitError, match="is not valid: expected e.g. sqlite:///"):
        open_database("not a url")


def _stored_database(path) -> bytes:
    engine = open_database(f"sqlite:///{path}")
    add_scenario(engine, 'name = "x"\n[budget]\ntotal_gbp = 1e6\n[years]\nstart = 2026\nend = 2027\n')
    engine.dispose()
    return path.read_bytes()


@pytest.mark.parametrize("keep", [100, 0.5], ids=["the header only", "half the file"])
def test_a_truncated_database_is_refused_and_left_as_it_is(tmp_path, keep):
    path = tmp_path / "retrofit.db"
    whole = _stored_database(path)
    path.write_bytes(whole[:keep if isinstance(keep, int) else int(len(whole) * keep)])
    damaged = path.read_bytes()
    with pytest.raises(RetrofitError, match=rf"database {path} is damaged \(SQLite: database disk image is malformed; "
                                            rf".*restore it from a backup, or move it aside \(mv {path} {path}.dam"):
        open_database(f"sqlite:///{path}")
    assert path.read_bytes() == damaged and sorted(p.name for p in tmp_path.iterdir()) == ["retrofit.db"]


def test_a_binary_file_that_is_not_a_database_is_left_as_it_is(tmp_path):
    path = tmp_path / "retrofit.db"
    path.write_bytes(bytes(range(256)) * 200)
    with pytest.raises(RetrofitError, match=rf"{path} is not a SQLite database \(it was left as it is\).* "
                                            rf"move the file aside \(mv {path} {path}.aside\)"):
        open_database(f"sqlite:///{path}")
    assert path.read_bytes() == bytes(range(256)) * 200

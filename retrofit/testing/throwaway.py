"""A throwaway PostgreSQL cluster for tests and benchmarks: started in a second, then removed.

Uses the installed `initdb` and `pg_ctl` (on PATH, or Debian's /usr/lib/postgresql/*/bin
after `apt-get install postgresql`), on 127.0.0.1 at a free port, data in a temporary
folder, no password (trust), fsync off. initdb refuses to run as root, so as root the
server runs as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOW_TO_GET_POSTGRES = (
    "install PostgreSQL (apt-get install -y postgresql) so that a throwaway cluster can be started, "
    "or set RETROFIT_TEST_POSTGRES_URL to a server whose user may create databases, e.g. after "
    "`initdb -D /tmp/pg -A trust -U postgres && pg_ctl -D /tmp/pg -o '-p 54329 -k /tmp' start`: "
    "RETROFIT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:54329/postgres"
)


class NoPostgres(RuntimeError):
    """PostgreSQL is not installed here or would not start; the message says how to get one."""


def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Yield the URL of a fresh cluster's `postgres` database; stop and delete it afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise NoPostgres(f"no PostgreSQL found (initdb, pg_ctl): {HOW_TO_GET_POSTGRES}")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="retrofit-pg-"))
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            raise NoPostgres(f"running as root and there is no `postgres` user to run initdb as: "
                             f"{HOW_TO_GET_POSTGRES}") from None
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log, port = folder / "data", folder / "server.log", free_port()
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, text=True)
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        detail = (error.stderr or error.stdout or "").strip() + (f" {log.read_text()}" if log.exists() else "")
        shutil.rmtree(folder, ignore_errors=True)
        raise NoPostgres(f"could not start a throwaway PostgreSQL ({detail}); {HOW_TO_GET_POSTGRES}") from None
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)

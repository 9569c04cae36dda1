"""PostgreSQL for a stack: a database dropped and created for each run, and, for a run that
restarts PostgreSQL, a throwaway cluster of its own driven with the Debian cluster tools."""

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from stack.processes import HOST, StackError, run


def database_url(name: str, *, port: int = 5432) -> str:
    return f"postgres://postgres@{HOST}:{port}/{name}"


def database_recreate(url: str) -> None:
    """Drop the database `url` names (closing its connections) and create it empty."""
    parts = urlsplit(url)
    connection = psycopg2.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password,
        dbname="postgres",
    )  # fmt: skip
    connection.autocommit = True
    name = sql.Identifier(parts.path.lstrip("/"))
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(name))
    finally:
        connection.close()


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster owned by one kind of run, created on first use."""

    name: str
    port: int

    def __post_init__(self):
        if shutil.which("pg_createcluster") is None:
            raise StackError("pg_createcluster not found: install postgresql-common")
        versions = sorted(
            (p.name for p in Path("/etc/postgresql").iterdir() if p.name[:1].isdigit()),
            key=lambda v: [int(part) for part in v.split(".")],
        )
        if not versions:
            raise StackError("no PostgreSQL version under /etc/postgresql")
        self.version = versions[-1]

    def _ctl(self, action: str, *extra: str) -> str:
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name]
        return run([*command, action, *extra])

    def exists(self) -> bool:
        return (Path("/etc/postgresql") / self.version / self.name / "postgresql.conf").exists()

    def online(self) -> bool:
        try:
            self._ctl("status")
        except StackError:
            return False
        return True

    def ensure(self) -> None:
        """Create the cluster if missing (trust authentication, loopback only) and start it."""
        if not self.exists():
            run(
                [
                    "pg_createcluster", self.version, self.name, "--port", str(self.port),
                    "--", "--auth-local=trust", "--auth-host=trust",
                ]
            )  # fmt: skip
        if not self.online():
            self.start()
        self.wait_ready()

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        # Fast shutdown: open connections are terminated, as in a crash of the database host
        # as far as the clients can tell, but without a crash recovery on the way up.
        self._ctl("stop", "-m", "fast")

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                run(["pg_isready", "-q", "-h", HOST, "-p", str(self.port)])
                return
            except StackError:
                time.sleep(0.2)
        raise StackError(f"PostgreSQL on port {self.port} not ready after {timeout:.0f} s")

    def url(self, database: str) -> str:
        return database_url(database, port=self.port)

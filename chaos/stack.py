"""The stack under test: a throwaway PostgreSQL cluster of its own, gunicorn and a qcluster.

The run restarts PostgreSQL, so it never touches a shared cluster: it creates (once) and
drives its own with the Debian cluster tools, on its own port."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent


class StackError(RuntimeError):
    """The stack could not be set up; the run cannot start."""


def _run(command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise StackError(
            f"{' '.join(command)} exited {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-800:]}"
        )
    return result


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster owned by the chaos run, created on first use."""

    name: str = "hookdesk_chaos"
    port: int = 5434

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

    def _ctl(self, action: str, *extra: str, check: bool = True):
        return _run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", self.version, self.name, action, *extra],
            check=check,
        )

    def exists(self) -> bool:
        return (Path("/etc/postgresql") / self.version / self.name / "postgresql.conf").exists()

    def online(self) -> bool:
        return self._ctl("status", check=False).returncode == 0

    def ensure(self) -> None:
        """Create the cluster if missing (trust authentication, loopback only) and start it."""
        if not self.exists():
            _run(
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
            check = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]
            if _run(check, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise StackError(f"PostgreSQL on port {self.port} not ready after {timeout:.0f} s")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def recreate_database(self, database: str) -> None:
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        connection.close()


def redis_flush(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


def migrate(env: dict[str, str], log_path: Path) -> None:
    with open(log_path, "ab") as log:
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise StackError(f"migrate failed; see {log_path}")


class Service:
    """One long-running process of the stack (gunicorn master or qcluster sentinel), in a
    process group of its own so that a kill -9 takes all of its processes at once."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path):
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """kill -9 the whole process group: the machine running it died."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # Anything the group left behind (a worker that outlived its master).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def children(self) -> list[int]:
        """Process ids whose parent is this service's main process."""
        if not self.alive():
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Fields after the command (which may contain spaces) start after the last ')'.
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == self.pid:
                pids.append(int(entry.name))
        return pids


def web_service(env: dict[str, str], *, port: int, workers: int, log_path: Path) -> Service:
    # As `make run` starts it (run_console), minus the access log.
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--log-level", "warning",
    ]  # fmt: skip
    return Service("web", command, env, log_path)


def worker_service(env: dict[str, str], *, log_path: Path) -> Service:
    return Service("worker", [sys.executable, "manage.py", "qcluster"], env, log_path)

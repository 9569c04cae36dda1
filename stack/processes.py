"""The processes of a stack: started in a process group of their own, stopped as a group."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class StackError(RuntimeError):
    """A part of the stack could not be set up."""


def run(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 300,
) -> str:
    """Run a setup command from the repository root; its output (also appended to `log_path`
    when given), or StackError with the end of it when it fails."""
    done = subprocess.run(  # noqa: S603  commands of our own making
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = done.stdout + done.stderr
    if log_path is not None:
        with log_path.open("a") as log:
            log.write(output)
    if done.returncode != 0:
        raise StackError(f"{' '.join(command)} exited {done.returncode}: {output.strip()[-800:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def answers(port: int, path: str) -> bool:
    """Whether a GET of `path` on the loopback `port` answers 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class Service:
    """One long-running process of the stack (a gunicorn or uvicorn master, a qcluster), in a
    process group of its own so that stopping or killing it takes all of its processes.

    Its output goes to `log_path` (stdout too unless `stdout_to_log` is false), or nowhere."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        log_path: Path | None = None,
        *,
        stdout_to_log: bool = True,
    ):
        self.name = name
        self.command = command
        self.env = env
        self.log_path = log_path
        self.stdout_to_log = stdout_to_log
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> "Service":
        with contextlib.ExitStack() as files:
            log = files.enter_context(self.log_path.open("ab")) if self.log_path else None
            self.process = subprocess.Popen(  # noqa: S603  commands of our own making
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log if log and self.stdout_to_log else subprocess.DEVNULL,
                stderr=log or subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_answering(self, port: int, path: str, *, timeout: float = 60.0) -> None:
        """Return once GET `path` answers 200; StackError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            if answers(port, path):
                return
            time.sleep(0.2)
        raise StackError(f"{self.name} not answering {path} on port {port} after {timeout:.0f} s")

    def tail(self, size: int = 2000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-size:]

    def kill(self) -> None:
        """kill -9 the whole process group, as if the machine running it died."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then after `timeout` seconds kill -9; the group is killed either way, for
        anything it left behind (a worker that outlived its master)."""
        if self.process is None:
            return
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()

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


@contextlib.contextmanager
def running(*services: Service, timeout: float = 20.0):
    """Start the services in order; stop them in reverse order on the way out, whatever happened."""
    with contextlib.ExitStack() as stops:
        for service in services:
            stops.callback(service.stop, timeout)
            service.start()
        yield services

"""The faults: kill -9 of the worker cluster, kill -9 of one gunicorn web worker, a restart of
PostgreSQL. Each is injected when the stream reaches its point and timed for the report."""

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stack import PostgresCluster, Service


@dataclass
class Fault:
    kind: str  # worker_kill, web_kill, db_restart
    at_progress: float  # share of the stream sent when it is injected
    started: float = 0.0  # wall clock of the injection
    restored: float = 0.0  # when the harness had put the part back (restart, start)
    outage_from: float = 0.0  # database restart: when the database had stopped
    detail: dict = field(default_factory=dict)
    recovery: dict = field(default_factory=dict)  # filled in after the run, from the records


def schedule(*, worker_kills: int, web_kills: int, db_restarts: int) -> list[Fault]:
    """Interleave the faults (worker, web, database, worker, …) evenly over 10% to 85% of the
    stream, so each lands while traffic flows and the run has time to recover before it ends."""
    queues = {"worker_kill": worker_kills, "web_kill": web_kills, "db_restart": db_restarts}
    order: list[str] = []
    while any(queues.values()):
        for kind in ("worker_kill", "web_kill", "db_restart"):
            if queues[kind]:
                order.append(kind)
                queues[kind] -= 1
    count = len(order)
    return [
        Fault(kind, 0.10 + 0.75 * (i + 0.5) / count if count > 1 else 0.4)
        for i, kind in enumerate(order)
    ]


class Injector:
    """Runs the schedule in a thread against the live stack."""

    def __init__(
        self,
        faults: list[Fault],
        *,
        progress: Callable[[], float],
        web: Service,
        worker: Service,
        database: PostgresCluster,
        web_workers: int,
        restart_delay: float,
        db_outage: float,
        log: Callable[[str], None],
    ):
        self.faults = faults
        self.progress = progress
        self.web = web
        self.worker = worker
        self.database = database
        self.web_workers = web_workers
        self.restart_delay = restart_delay
        self.db_outage = db_outage
        self.log = log
        self.busy = threading.Lock()  # held while a part is down on purpose
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, name="faults", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        self.thread.join()

    def _run(self) -> None:
        for fault in self.faults:
            while self.progress() < fault.at_progress:
                time.sleep(0.05)
            try:
                with self.busy:
                    getattr(self, f"_{fault.kind}")(fault)
            except Exception as error:  # reported as a failed check, never swallowed
                self.errors.append(f"{fault.kind}: {type(error).__name__}: {error}")
            self.log(
                f"fault {fault.kind} at {fault.at_progress:.0%} of the stream: "
                + ", ".join(f"{k}={v}" for k, v in fault.detail.items())
            )

    def _worker_kill(self, fault: Fault) -> None:
        fault.started = time.time()
        self.worker.kill()
        time.sleep(self.restart_delay)  # the supervisor notices and starts a new cluster
        self.worker.start()
        fault.restored = time.time()
        fault.detail["down_s"] = round(fault.restored - fault.started, 2)

    def _web_kill(self, fault: Fault) -> None:
        workers = self.web.children()
        if not workers:
            raise RuntimeError("no gunicorn worker to kill")
        victim = random.choice(workers)
        fault.started = time.time()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            alive = [pid for pid in self.web.children() if pid != victim]
            if len(alive) >= self.web_workers:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("gunicorn did not replace the killed worker within 60 s")
        fault.restored = time.time()
        fault.detail |= {
            "pid": victim,
            "respawned_after_s": round(fault.restored - fault.started, 2),
        }

    def _db_restart(self, fault: Fault) -> None:
        fault.started = time.time()
        self.database.stop()
        stopped = time.time()
        time.sleep(self.db_outage)
        self.database.start()
        self.database.wait_ready()
        fault.restored = time.time()
        fault.detail |= {
            "stopped_after_s": round(stopped - fault.started, 2),
            "down_s": round(fault.restored - fault.started, 2),
        }
        fault.outage_from = stopped

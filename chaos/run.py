"""The chaos run from start to verdict: stack up, traffic and faults, drain, reconcile, report."""

import argparse
import secrets
import sys
import threading
import time
from pathlib import Path

import stack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m chaos",
        description="Send a stream of deliveries to a real hookdesk stack while killing its "
        "worker cluster, a web worker and restarting PostgreSQL; then check that nothing was "
        "lost and nothing done twice. Exits non-zero when a check fails.",
    )
    add = parser.add_argument
    add("--deliveries", type=int, default=20000, help="HTTP deliveries to send (default 20000)")
    add("--concurrency", type=int, default=16, help="sender threads (default 16)")
    add("--rate", type=float, default=0, help="at most this many deliveries a second (0: no cap)")
    add("--seed", type=int, default=1, help="seed of the delivery plan")
    add("--worker-kills", type=int, default=2, help="kill -9 of the qcluster (default 2)")
    add("--web-kills", type=int, default=1, help="kill -9 of one gunicorn worker (default 1)")
    add("--db-restarts", type=int, default=1, help="PostgreSQL restarts (default 1)")
    add("--db-outage", type=float, default=5.0, help="seconds PostgreSQL stays down")
    add(
        "--restart-delay", type=float, default=3.0, help="seconds before a killed qcluster restarts"
    )
    add("--drain-timeout", type=float, default=900.0, help="seconds to wait for processing")
    add("--web-workers", type=int, default=2, help="gunicorn workers (default 2, as make run)")
    add("--cluster", default="hookdesk_chaos", help="name of the throwaway PostgreSQL cluster")
    add("--pg-port", type=int, default=5434, help="port of the throwaway PostgreSQL cluster")
    add("--database", default="hookdesk_chaos", help="database (dropped and created each run)")
    add("--redis-db", type=int, default=12, help="Redis database number, flushed at start")
    add("--redis-host", default="127.0.0.1:6379")
    add("--port", type=int, default=0, help="port of the web server (0: a free one)")
    add("--sink-fail-always", type=float, default=0.02,
        help="share of outbound deliveries the sink always refuses (dead letters)")  # fmt: skip
    add("--sink-fail-once", type=float, default=0.05,
        help="share of outbound deliveries the sink refuses once (retries)")  # fmt: skip
    add("--json", type=Path, help="write the figures and checks to this file")
    add("--keep-cluster", action="store_true", help="leave the PostgreSQL cluster running")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _environment(args, *, database_url: str, redis_url: str, var_dir: Path, port: int) -> dict:
    return stack.environment(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secrets.token_urlsafe(50),
        HOOKDESK_VAR_DIR=str(var_dir),
        HOOKDESK_QUEUE_NAME="hookdesk-chaos",
        WEB_CONCURRENCY=str(args.web_workers),
        PORT=str(port),
        LOG_LEVEL="WARNING",
        DEBUG="false",
        # Recovery within the run rather than after five minutes: a claim older than this
        # belongs to a killed worker, an unqueued event this old is queued again by the sweep.
        HOOKDESK_STALE_CLAIM_SECONDS="30",
        HOOKDESK_SWEEP_PENDING_AFTER="15",
    )


def _fixtures(sink_url: str, *, automation_key: str):
    """Endpoints for the four schemes, the default $5,000 hold block, a destination on the
    sink, and an API user. Returns (targets, destination id, API token)."""
    from django.contrib.auth import get_user_model

    from chaos.traffic import SCHEMES, Target, wrong_secret_for
    from console.management.commands.seed_demo import DEFAULT_BLOCK
    from core.tokens import api_token_issue
    from integrations.services import destination_create
    from rules.services import block_create
    from webhooks.services import endpoint_create

    targets = {}
    for scheme in SCHEMES:
        key = automation_key if scheme == "automation" else None
        endpoint, secret = endpoint_create(
            slug=f"chaos-{scheme}", provider=scheme, name=f"Chaos ({scheme})", installation_key=key
        )
        path = endpoint.receiver_path + (f"?key={key}" if key else "")
        targets[scheme] = Target(scheme, path, secret, wrong_secret_for(scheme))
    block_create(**DEFAULT_BLOCK)
    # Short retries so refused deliveries reach the dead-letter state within the run.
    destination, _ = destination_create(
        name="Chaos sink", url=sink_url, connection_timeout="PT5S", retry_schedule=[1, 2]
    )
    user = get_user_model().objects.create_superuser("chaos", "chaos@example.invalid", None)
    return targets, destination.pk, api_token_issue(user=user)


def _drain(timeout: float) -> bool:
    """Wait until no event and no outbound delivery is left to do; False on timeout."""
    from django.db import close_old_connections, connection
    from django.db.utils import DatabaseError

    from integrations.models import DeliveryStatus, OutboundDelivery
    from webhooks.models import Event, EventStatus

    deadline = time.monotonic() + timeout
    last_report = 0.0
    while time.monotonic() < deadline:
        try:
            events = Event.objects.exclude(
                status__in=[EventStatus.PROCESSED, EventStatus.DEAD]
            ).count()
            outbound = OutboundDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
        except DatabaseError:
            connection.close()
            time.sleep(1)
            continue
        if events == 0 and outbound == 0:
            return True
        if time.monotonic() - last_report > 15:
            log(f"draining: {events} events and {outbound} outbound deliveries to go")
            last_report = time.monotonic()
        close_old_connections()
        time.sleep(2)
    return False


class Supervisor:
    """Restarts a part that exits on its own (as systemd would) and counts it: only the
    injected faults are supposed to take anything down."""

    def __init__(self, services, injector_lock: threading.Lock):
        self.services = services
        self.lock = injector_lock
        self.unplanned: dict[str, int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            with self.lock:  # a fault in progress has the part down on purpose
                for service in self.services:
                    if not service.alive() and not self.stopping.is_set():
                        self.unplanned[service.name] = self.unplanned.get(service.name, 0) + 1
                        log(f"{service.name} exited on its own; restarting it")
                        service.start()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    var_dir = stack.ROOT / "var" / "chaos" / args.cluster
    var_dir.mkdir(parents=True, exist_ok=True)
    port = args.port or stack.free_port()
    base_url = f"http://127.0.0.1:{port}"
    cluster = stack.PostgresCluster(name=args.cluster, port=args.pg_port)
    database_url = cluster.url(args.database)
    redis_url = f"redis://{args.redis_host}/{args.redis_db}"
    env = _environment(
        args, database_url=database_url, redis_url=redis_url, var_dir=var_dir, port=port
    )

    log(f"PostgreSQL cluster {cluster.version}/{cluster.name} on port {cluster.port}")
    cluster.ensure()
    stack.redis_flush(redis_url)
    log("migrating")
    stack.fresh_database(env, log_path=var_dir / "migrate.log")
    stack.django_setup(env)

    from chaos import faults as faults_module
    from chaos import report, verify
    from chaos.sink import Sink
    from chaos.traffic import Sender, plan

    sink = Sink(fail_always=args.sink_fail_always, fail_once=args.sink_fail_once).start()
    targets, destination_id, token = _fixtures(sink.url, automation_key=secrets.token_hex(8))
    # As `make run` starts it (run_console), minus the access log: sync workers.
    web = stack.web(
        env, port=port, workers=args.web_workers, options=("--log-level", "warning"),
        log_path=var_dir / "web.log",
    )  # fmt: skip
    worker = stack.qcluster(env, log_path=var_dir / "worker.log")
    services = [web, worker]
    result = verify.Result()
    schedule = faults_module.schedule(
        worker_kills=args.worker_kills, web_kills=args.web_kills, db_restarts=args.db_restarts
    )
    supervisor = None
    try:
        for service in services:
            service.start()
        web.wait_answering(port, "/healthz", timeout=180)
        stream = plan(deliveries=args.deliveries, seed=args.seed)
        log(f"stack ready on {base_url}; sending {len(stream)} deliveries "
            f"with {args.concurrency} threads")  # fmt: skip
        sender = Sender(
            port=port, targets=targets, concurrency=args.concurrency, rate=args.rate or None
        )
        injector = faults_module.Injector(
            schedule,
            progress=lambda: sender.progress(len(stream)),
            web=web,
            worker=worker,
            database=cluster,
            web_workers=args.web_workers,
            restart_delay=args.restart_delay,
            db_outage=args.db_outage,
            log=log,
        )
        supervisor = Supervisor(services, injector.busy)
        supervisor.start()
        injector.start()
        sender.run(stream)
        log(f"sent in {sender.finished_at - sender.started_at:.0f} s; waiting for the faults")
        injector.join()
        log("draining")
        drain_started = time.time()
        drained = _drain(args.drain_timeout)
        supervisor.stop()
        result.figures["traffic_s"] = round(sender.finished_at - sender.started_at, 1)
        result.figures["drain_s"] = round(time.time() - drain_started, 1)
        result.figures["unplanned_restarts"] = dict(supervisor.unplanned)
        result.check(drained, f"processing did not drain within {args.drain_timeout:.0f} s")
        result.check(not injector.errors, f"faults could not be injected: {injector.errors}")
        result.check(
            all(f.started for f in schedule), "the stream ended before every fault was injected"
        )
        result.check(not supervisor.unplanned,
                     f"parts exited on their own: {supervisor.unplanned}")  # fmt: skip

        verify.answers(stream, schedule, result)
        stored = verify.storage(stream, result)
        verify.processing(stream, stored, result)
        verify.sink(result, sink)
        verify.api(result, base_url=base_url, token=token, destination_id=destination_id, sample=25)
        verify.totals(result)
        report.recovery(schedule, stream)
    finally:
        if supervisor is not None:
            supervisor.stop()
        for service in services:
            service.stop()
        sink.stop()
        if not args.keep_cluster:
            from django.db import connections

            connections.close_all()
            cluster.stop()
    report.print_report(result, schedule, duration=time.time() - started)
    if args.json:
        report.write_json(args.json, result, schedule)
    return 0 if result.passed else 1

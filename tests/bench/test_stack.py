"""The stack library the benchmarks and the chaos run bring hookdesk up with: its processes stop
with everything they started, readiness means an answer, the sinks answer as told."""

import http.client
import os
import socket
import sys
import time
from pathlib import Path

import psycopg2
import pytest

import stack

# A parent that leaves behind a child which ignores SIGTERM, as a master can leave a worker.
PARENT_WITH_STUBBORN_CHILD = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
time.sleep(300)
"""
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"
)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"  # killed, waiting for whoever inherited it to reap it


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_it_stops_a_service_with_whatever_its_group_left_behind():
    service = stack.Service("parent", [sys.executable, "-c", PARENT_WITH_STUBBORN_CHILD], {})
    service.start()
    try:
        assert wait_for(lambda: service.children())
        (child,) = service.children()
    finally:
        service.stop(timeout=5)
    assert not service.alive()
    assert wait_for(lambda: gone(child)), "the child outlived the stop"


def test_it_kills_a_service_that_ignores_sigterm_after_the_timeout():
    service = stack.Service("stubborn", [sys.executable, "-c", IGNORES_SIGTERM], {}).start()
    time.sleep(0.3)  # its handler is installed
    started = time.monotonic()
    service.stop(timeout=0.5)
    assert service.process.returncode == -9
    assert time.monotonic() - started < 5


def test_it_is_ready_when_the_server_answers_200(tmp_path):
    port = stack.free_port()
    (tmp_path / "index.html").write_text("ok")
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
               "--directory", str(tmp_path)]  # fmt: skip
    with stack.running(stack.Service("files", command, dict(os.environ))) as (service,):
        service.wait_answering(port, "/index.html", timeout=30)
        assert stack.processes.answers(port, "/index.html")
        assert not stack.processes.answers(port, "/missing")  # a 404 is not ready
    assert not service.alive()


def test_it_says_why_when_the_server_exits_before_it_answers(tmp_path):
    command = [sys.executable, "-c", "import sys; sys.exit('no database')"]
    service = stack.Service("web", command, dict(os.environ), tmp_path / "web.log").start()
    with pytest.raises(stack.StackError, match=r"(?s)web exited with 1.*no database"):
        service.wait_answering(stack.free_port(), "/healthz", timeout=30)


def test_it_gives_every_process_the_stacks_settings(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://elsewhere/1")
    monkeypatch.setenv("DEBUG", "true")
    env = stack.environment(
        database_url="postgres://postgres@127.0.0.1:5432/x", secret_key="k", DEBUG=None, PORT="1"
    )
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings"
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/x"
    assert env["SECRET_KEY"] == "k"
    assert env["PORT"] == "1"
    assert "REDIS_URL" not in env  # no broker given: the ORM broker
    assert "DEBUG" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_it_runs_gunicorn_as_asked():
    web = stack.web({}, port=8123, workers=3, options=["--worker-class", "gthread"])
    assert web.command[1:] == [
        "-m", "gunicorn", "config.wsgi", "--workers", "3", "--bind", "127.0.0.1:8123",
        "--worker-class", "gthread",
    ]  # fmt: skip


def test_it_answers_outbound_deliveries_as_told():
    seen = []

    def answer(headers, body):
        seen.append((headers["X-Hookdesk-Delivery"], body))
        return 503, b'{"later":true}'

    with stack.Sink(answer, path="/hooks/x") as sink:
        assert sink.url.endswith("/hooks/x")
        host, port = sink.server.server_address
        connection = http.client.HTTPConnection(host, port, timeout=5)
        connection.request("POST", "/hooks/x", body=b"{}", headers={"X-Hookdesk-Delivery": "d1"})
        response = connection.getresponse()
        assert (response.status, response.read()) == (503, b'{"later":true}')
        assert response.getheader("Content-Type") == "application/json"
        connection.close()
    assert seen == [("d1", b"{}")]


def test_it_offers_a_receiver_that_never_answers():
    with stack.black_hole() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"POST /hooks HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            sock.settimeout(0.5)
            with pytest.raises(TimeoutError):
                sock.recv(1)


def test_it_recreates_a_database_empty():
    url = stack.database_url("hookdesk_stack_test")
    try:
        stack.database_recreate(url)
    except psycopg2.OperationalError:
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432 (user postgres)")
    connection = psycopg2.connect(url)
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE leftover (id int)")
    # Left open on purpose: recreating closes the connections of the database it drops.
    stack.database_recreate(url)
    fresh = psycopg2.connect(url)
    with fresh, fresh.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'")
        assert cursor.fetchone() == (0,)
    fresh.close()
    connection.close()

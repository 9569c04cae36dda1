"""The chaos run, shortened: 1,500 deliveries through a real stack (gunicorn, qcluster on Redis,
PostgreSQL of its own) while the worker cluster and a web worker are killed with -9 and
PostgreSQL restarts; then nothing lost, nothing done twice, every refusal as sent."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.skipif(
        shutil.which("pg_createcluster") is None or os.geteuid() != 0,
        reason="creates and restarts a PostgreSQL cluster of its own: needs root and "
        "postgresql-common",
    ),
]


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory):
    """One shortened chaos run; its figures as the run wrote them."""
    out = tmp_path_factory.mktemp("chaos") / "result.json"
    command = [
        sys.executable, "-m", "chaos",
        "--deliveries", "1500", "--concurrency", "8", "--seed", "7",
        # Paced so the faults land in the middle of the traffic, not after it.
        "--rate", "60",
        "--worker-kills", "1", "--web-kills", "1", "--db-restarts", "1",
        # A cluster, database and Redis database apart from `make chaos`.
        "--cluster", "hookdesk_chaos_test", "--pg-port", "5435",
        "--database", "hookdesk_chaos_test", "--redis-db", "13",
        "--drain-timeout", "600",
        "--json", str(out),
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    finished = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False
    )
    assert out.exists(), finished.stdout[-3000:] + finished.stderr[-3000:]
    result = json.loads(out.read_text())
    result["returncode"] = finished.returncode
    result["output"] = finished.stdout
    return result


def test_it_passes_and_says_so_on_its_last_line(chaos_run):
    assert chaos_run["returncode"] == 0, chaos_run["failures"]
    assert chaos_run["passed"] is True
    last = chaos_run["output"].strip().splitlines()[-1]
    assert "lost=0 double_processed=0" in last


def test_it_loses_nothing_and_does_nothing_twice(chaos_run):
    figures = chaos_run["figures"]
    assert figures["lost"] == 0, {k: v for k, v in figures.items() if k.startswith("lost_")}
    assert figures["double_processed"] == 0, {
        k: v for k, v in figures.items() if k.startswith("double_")
    }
    assert figures["unresolved"] == 0
    assert figures["events_by_status"] == {"processed": figures["stored_events"]}


def test_it_answers_every_delivery_as_its_kind_requires(chaos_run):
    figures = chaos_run["figures"]
    sent = figures["sent_by_kind"]
    assert sum(sent.values()) == figures["sent"] == 1500
    assert figures["refused"] == {
        "invalid_signature": sent["bad_signature"],
        "bad_body": sent["malformed"],
        "timestamp_out_of_tolerance": sent["stale"],
    }
    assert figures["accepted"] + figures["duplicates"] == sent["valid"] + sent["duplicate"]
    assert figures["wrong_answers"] == {}
    assert figures["5xx"]["other"] == 0
    assert figures["503_outside_outage"] == 0


def test_it_holds_each_large_order_once_and_tells_the_sink(chaos_run):
    figures = chaos_run["figures"]
    assert figures["holds"] == figures["holds_expected"] > 0
    outbound = figures["outbound_by_status"]
    assert set(outbound) <= {"succeeded", "dead"}
    assert sum(outbound.values()) == figures["holds"]
    assert figures["sink_unknown_deliveries"] == 0


def test_it_injected_every_fault_and_the_stack_recovered(chaos_run):
    faults = chaos_run["faults"]
    assert sorted(f["kind"] for f in faults) == ["db_restart", "web_kill", "worker_kill"]
    for fault in faults:
        assert fault["injected"], fault
        assert fault["recovery"]["acknowledging_after_s"] is not None, fault
        assert fault["recovery"]["processing_after_s"] is not None, fault
    (database,) = [f for f in faults if f["kind"] == "db_restart"]
    assert database["recovery"]["503_in_window"] > 0  # the outage was real and answered 503

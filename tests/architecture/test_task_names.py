"""Tasks are named in one place, core/task_names.py, and every name there imports: a task
queued under a name that does not import fails in the worker, long after the code that queued
it. Schedules installed by the migrations run tasks named there too."""

import ast
from pathlib import Path

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

from core.task_names import task_names

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "webhooks", "rules", "integrations", "console")


def test_the_task_names_cover_every_engine():
    names = set(task_names().values())
    assert {
        "webhooks.tasks.process_event",
        "integrations.tasks.send_delivery",
        "console.replay.replay_run_step",
    } <= names
    assert len(names) == len(task_names())  # one constant per task


@pytest.mark.parametrize("constant,name", sorted(task_names().items()))
def test_every_task_name_resolves(constant, name):
    assert callable(import_string(name)), constant


def _dotted_task_literals(path: Path) -> list[str]:
    """String literals in a module that look like one of the task names."""
    known = set(task_names().values())
    return [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in known
    ]


def test_no_module_spells_a_task_name_of_its_own():
    """Code and migrations refer to core.task_names; a copy of a name elsewhere would not
    follow a rename."""
    copies = {
        str(path.relative_to(ROOT)): literals
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if path != ROOT / "core" / "task_names.py" and (literals := _dotted_task_literals(path))
    }
    # The one exception: the migration that moves an old schedule's function to its new
    # name records the new name as it was then, as migrations must.
    copies.pop("console/migrations/0002_alert_schedule_task_moved.py", None)
    assert copies == {}


@pytest.mark.django_db
def test_every_schedule_the_migrations_install_runs_a_named_task():
    schedules = list(Schedule.objects.values_list("name", "func"))
    assert len(schedules) >= 3  # the sweep, the outbound watchdog, the alert evaluation
    for name, func in schedules:
        assert func in task_names().values(), name
        assert callable(import_string(func)), name

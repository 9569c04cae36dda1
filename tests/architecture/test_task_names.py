"""Every task name the project queues or schedules names a function that exists: a task queued
under a name that does not import fails in the worker, long after the code that queued it."""

import ast
from pathlib import Path

import pytest
from django.utils.module_loading import import_string
from django_q.models import Schedule

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "webhooks", "rules", "integrations", "console")


def _queued_task_names() -> dict[str, str]:
    """Module-level NAME_TASK = "dotted.path" constants, where the apps name their tasks."""
    names = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.parse(path.read_text()).body:
                if (
                    isinstance(node, ast.Assign)
                    and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id.endswith("_TASK")
                    and isinstance(node.value, ast.Constant)
                ):
                    names[f"{path.relative_to(ROOT)}:{node.targets[0].id}"] = node.value.value
    return names


def test_the_apps_name_their_tasks():
    assert len(_queued_task_names()) >= 5


@pytest.mark.parametrize("where,name", sorted(_queued_task_names().items()))
def test_every_queued_task_name_resolves(where, name):
    assert callable(import_string(name)), where


@pytest.mark.django_db
def test_every_schedule_the_migrations_install_runs_a_function_that_exists():
    schedules = list(Schedule.objects.values_list("name", "func"))
    assert len(schedules) >= 3  # the sweep, the outbound watchdog, the alert evaluation
    for name, func in schedules:
        assert callable(import_string(func)), name

"""The fuzz targets of `python -m fuzz`, each on a few hundred inputs, inside the test suite."""

import pytest

from fuzz.api import TARGETS as API_TARGETS
from fuzz.language import TARGETS as LANGUAGE_TARGETS
from fuzz.providers import TARGETS as PROVIDER_TARGETS
from fuzz.receiver import TARGETS as RECEIVER_TARGETS
from fuzz.runner import run_target


def run(target, examples: int):
    result = run_target(target, examples)
    assert not result.failed, "\n".join(result.failures)
    assert result.inputs >= examples
    return result


@pytest.mark.django_db
@pytest.mark.parametrize("target", LANGUAGE_TARGETS + PROVIDER_TARGETS, ids=lambda t: t.name)
def test_it_survives_fuzzed_parser_inputs(target):
    run(target, 200)


@pytest.mark.django_db
@pytest.mark.parametrize("target", RECEIVER_TARGETS, ids=lambda t: t.name)
def test_it_never_answers_5xx_or_stores_a_refused_delivery(target):
    run(target, 300)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("target", API_TARGETS, ids=lambda t: t.name)
def test_it_answers_every_documented_operation_as_documented(target):
    run(target, 150)

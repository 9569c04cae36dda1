"""An error is never an HTML 500 on an /api/ path: an exception nobody expected inside an API
view answers JSON, without a stack trace, with DEBUG off as in production."""

import pytest
from rest_framework.test import APIClient

from core.tokens import api_token_issue
from rules.api import BlockViewSet

pytestmark = pytest.mark.django_db


def test_it_answers_json_500_for_an_unexpected_exception_in_an_api_view(
    people, monkeypatch, settings
):
    settings.DEBUG = False

    def broken(self):
        raise RuntimeError("a bug nobody caught: SELECT secret FROM somewhere")

    monkeypatch.setattr(BlockViewSet, "get_queryset", broken)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_issue(user=people['oscar'])}")
    response = client.get("/api/v2/blocks/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "internal error; it has been logged"}
    assert b"Traceback" not in response.content and b"SELECT secret" not in response.content

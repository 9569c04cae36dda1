import json, time
import pytest
from tests.signing import as_meta, autranex_headers, procureiq_headers

@pytest.mark.django_db
def test_nul_slug(client):
    r = client.post("/webhooks/a%00b/", data=b"{}", content_type="application/json")
    print("nul slug", r.status_code, r.content)

@pytest.mark.django_db
def test_nul_retry_header(client, make_endpoint):
    ep, secret = make_endpoint("autranex")
    r = client.post(ep.receiver_path, data=b"{}", content_type="application/json", HTTP_X_RETRY_COUNT="a\x00b", HTTP_X_AUTRANEX_SIGNATURE="bad")
    print("nul header", r.status_code, r.content)

@pytest.mark.django_db
def test_nul_event_id(client, make_endpoint):
    ep, secret = make_endpoint("autranex")
    body = json.dumps({"event_id": "e\u0000x", "event_type": "order.held", "data": {}}).encode()
    r = client.post(ep.receiver_path, data=body, content_type="application/json", **as_meta(autranex_headers(body, secret)))
    print("nul event id", r.status_code, r.content)

@pytest.mark.django_db
def test_surrogate_event_id(client, make_endpoint):
    ep, secret = make_endpoint("procureiq")
    body = b'{"id":"e\\ud800x","type":"order.created","data":{}}'
    r = client.post(ep.receiver_path, data=body, content_type="application/json", **as_meta(procureiq_headers(body, secret)))
    print("surrogate id", r.status_code, r.content)

@pytest.mark.django_db
def test_latin1_header(client, make_endpoint):
    ep, secret = make_endpoint("autranex")
    body = json.dumps({"event_id": "ex", "event_type": "order.held", "data": {}}).encode()
    r = client.post(ep.receiver_path, data=body, content_type="application/json", HTTP_USER_AGENT="caf\xc3\xa9", **as_meta(autranex_headers(body, secret)))
    print("latin1", r.status_code, r.content)

"""The permission matrix: every API route and every admin view, for each role. Routes are
enumerated from the URL configuration, so a new one without a row here fails the test.

Roles (groups from rules/ and integrations/ migrations): alice is a Compliance reviewer, oscar
Operations, audrey an Auditor; mallory is a staff account with no role; None is anonymous."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from console.channels import channel_create
from console.models import Alert, AlertThreshold, ReplayRun
from integrations.models import OutboundDelivery
from integrations.services import destination_create
from rules.backtest import backtest_run_start
from rules.models import Block
from rules.services import block_create
from tests.security.conftest import held_order
from webhooks.services import secret_rotate

ROLES = [None, "mallory", "alice", "oscar", "audrey"]
READERS = {"alice", "oscar", "audrey"}
PUBLIC = {None, "mallory", "alice", "oscar", "audrey"}
OPS, REVIEWER = {"oscar"}, {"alice"}

# (route name, method, path template, body, roles allowed). Order matters: decisions and the
# deletion come last, as they change what later rows see.
API = [
    ("order-detail", "get", "/api/v2/orders/ord_perm/", None, READERS),
    ("order-detail", "patch", "/api/v2/orders/ord_perm/", {"metadata": {"n": 1}}, REVIEWER),
    ("test-webhook", "post", "/api/v2/test/webhook", {"endpoint": "{slug}"}, OPS),
    ("hold-list", "get", "/api/v2/holds/", None, READERS),
    ("hold-detail", "get", "/api/v2/holds/{hold}/", None, READERS),
    ("hold-evidence", "get", "/api/v2/holds/{hold}/evidence/", None, READERS),
    ("block-list", "get", "/api/v2/blocks/", None, READERS),
    ("block-list", "post", "/api/v2/blocks/", {"name": "n", "condition": "order_value > 1"}, OPS),
    ("block-detail", "get", "/api/v2/blocks/{block}/", None, READERS),
    ("block-detail", "patch", "/api/v2/blocks/{block}/", {"priority": 5}, OPS),
    ("block-versions", "get", "/api/v2/blocks/{block}/versions/", None, READERS),
    ("block-stats", "get", "/api/v2/blocks/{block}/stats/", None, READERS),
    ("block-backtest", "post", "/api/v2/blocks/{block}/backtest/", {}, OPS),
    # Re-checking the block as saved reads; previewing an unsaved edit is editing.
    ("block-recheck", "post", "/api/v2/blocks/{block}/recheck/", {}, READERS),
    ("block-recheck", "post", "/api/v2/blocks/{block}/recheck/", {"status": "disabled"}, OPS),
    ("backtest-detail", "get", "/api/v2/backtests/{backtestrun}/", None, OPS),
    ("backtest-cancel", "post", "/api/v2/backtests/{backtestrun}/cancel/", None, OPS),
    ("event-list", "get", "/api/v2/events/", None, READERS),
    ("event-detail", "get", "/api/v2/events/{event}/", None, READERS),
    ("event-replay", "post", "/api/v2/events/{event}/replay/", {}, OPS),
    ("audit-list", "get", "/api/v2/audit/", None, {"oscar", "audrey"}),
    ("destination-list", "get", "/api/v2/destinations/", None, READERS),
    ("destination-list", "post", "/api/v2/destinations/",
     {"name": "d", "url": "http://127.0.0.1:9/"}, OPS),
    ("destination-detail", "get", "/api/v2/destinations/{destination}/", None, READERS),
    ("destination-detail", "patch", "/api/v2/destinations/{destination}/", {"name": "e"}, OPS),
    ("destination-deliveries", "get", "/api/v2/destinations/{destination}/deliveries/", None,
     READERS),
    ("destination-delivery", "get", "/api/v2/destinations/{destination}/deliveries/{delivery}/",
     None, READERS),
    ("destination-delivery-cancel", "post",
     "/api/v2/destinations/{destination}/deliveries/{delivery}/cancel/", None, OPS),
    ("destination-delivery-retry", "post",
     "/api/v2/destinations/{destination}/deliveries/{delivery}/retry/", None, OPS),
    ("hold-release", "post", "/api/v2/holds/{hold}/release/", {"reason": "ok"}, REVIEWER),
    ("hold-reject", "post", "/api/v2/holds/{hold}/reject/", {"reason": "no"}, REVIEWER),
    ("destination-detail", "delete", "/api/v2/destinations/{destination}/", None, OPS),
    ("schema", "get", "/api/schema/", None, PUBLIC),
    ("api-docs", "get", "/api/docs/", None, PUBLIC),
    ("healthz", "get", "/healthz", None, PUBLIC),
    ("metrics", "get", "/metrics", None, PUBLIC),
    ("home", "get", "/", None, PUBLIC),
    ("favicon", "get", "/favicon.ico", None, PUBLIC),
]  # fmt: skip
# Authenticated by the provider's signature, not by a role: unsigned, everyone gets 401.
RECEIVER = {"receive", "receive-no-slash"}


def _routes(patterns=None, prefix=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.name


def test_it_has_a_row_for_every_route_outside_the_admin():
    names = {name for route, name in _routes() if not route.startswith("admin/")}
    assert names - {row[0] for row in API} - RECEIVER == set()


@pytest.fixture
def world(make_endpoint, people):
    for user in people.values():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    endpoint, secret = make_endpoint("autranex", slug="perm-autranex")
    secret_rotate(endpoint=endpoint)
    destination, _ = destination_create(
        name="ERP", url="http://127.0.0.1:9/hooks", event_types=["order.held"]
    )
    hold = held_order(endpoint, secret, order_id="ord_perm")
    threshold = AlertThreshold.objects.create(
        name="Holds", kind=AlertThreshold._meta.get_field("kind").choices[0][0],
        limit=Decimal(1), window_minutes=60, min_events=1, recipients="ops@example.invalid",
    )  # fmt: skip
    block = block_create(name="High value", condition="order_value > 5000")
    return {
        "slug": endpoint.slug,
        "endpoint": endpoint,
        "hold": hold.id,
        "block": block.block_id,
        "backtestrun": backtest_run_start(block=block, queue=False).pk,
        "event": hold.event_id,
        "destination": destination.pk,
        "delivery": OutboundDelivery.objects.get(hold=hold).pk,
        "replayrun": ReplayRun.objects.create(),
        "alert": Alert.objects.create(threshold=threshold, value=Decimal(2), message="m"),
        # E-mail: Send test goes to the test mail outbox, not the network.
        "alertchannel": channel_create(name="Ops", kind="email", target="ops@example.test")[0].pk,
    }


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
def test_it_enforces_the_api_matrix(world, api, role):
    client = api(role)
    refused = 401 if role is None else 403
    wrong = []
    for _name, method, template, body, allowed in API:
        url = _fill(template, world)
        response = getattr(client, method)(url, _fill(body, world), format="json")
        if role in allowed:
            if response.status_code in (401, 403, 404, 405) or response.status_code >= 500:
                wrong.append((method, url, response.status_code))
        elif response.status_code != refused:
            wrong.append((method, url, response.status_code))
    for name in sorted(RECEIVER):
        path = reverse(f"webhooks:{name}", kwargs={"slug": world["slug"]})
        if client.post(path, b"{}", content_type="application/json").status_code != 401:
            wrong.append(("post", path, "signed deliveries only"))
    assert wrong == []


# --- The admin ----------------------------------------------------------------------------

HOOKDESK_APPS = {"core", "webhooks", "rules", "integrations", "console"}
# model -> roles that may add, change, delete; every role in READERS views every model of
# hookdesk's apps, and only superusers see the others (users, groups, tokens, the task queue).
ADMIN_WRITES = {
    "webhooks.endpoint": {"add": OPS, "change": OPS, "delete": set()},
    "webhooks.event": {"add": set(), "change": set(), "delete": set()},
    "webhooks.delivery": {"add": set(), "change": set(), "delete": set()},
    "console.replayrun": {"add": set(), "change": set(), "delete": set()},
    "console.alertthreshold": {"add": OPS, "change": OPS, "delete": OPS},
    "console.alert": {"add": set(), "change": OPS, "delete": set()},
    "console.alertchannel": {"add": OPS, "change": OPS, "delete": OPS},
    "core.auditentry": {"add": set(), "change": set(), "delete": set()},
    "rules.block": {"add": OPS, "change": OPS, "delete": set()},
    "rules.backtestrun": {"add": set(), "change": set(), "delete": set()},
    "rules.heldorder": {"add": set(), "change": set(), "delete": set()},
    "rules.reviewpolicy": {"add": set(), "change": OPS, "delete": set()},
    "rules.order": {"add": set(), "change": REVIEWER, "delete": set()},
    "rules.decision": {"add": set(), "change": set(), "delete": set()},
    "rules.risklistentry": {"add": OPS, "change": OPS, "delete": OPS},
    "integrations.destination": {"add": OPS, "change": OPS, "delete": OPS},
    # Deliveries are cancelled, never deleted, from the admin.
    "integrations.outbounddelivery": {"add": set(), "change": OPS, "delete": set()},
}
# The console's own admin views: (url name, method, roles allowed).
ADMIN_ACTIONS = {
    "webhooks_endpoint_rotate": ("post", OPS),
    "webhooks_endpoint_expire_secret": ("post", OPS),
    "webhooks_endpoint_test_event": ("post", OPS),
    "webhooks_event_replay": ("post", OPS),
    "webhooks_event_replay_matching": ("post", OPS),
    "console_replayrun_progress": ("get", READERS),
    "console_replayrun_resume": ("post", OPS),
    "console_alert_acknowledge": ("post", OPS),
    "console_alertchannel_test": ("post", OPS),
    "integrations_outbounddelivery_retry": ("post", OPS),
    "rules_block_backtest": ("post", OPS),
    "rules_block_recheck": ("get", READERS),
    "rules_block_recheck_preview": ("post", OPS),
    "rules_block_recheck_release": ("post", REVIEWER),
    "rules_backtestrun_progress": ("get", READERS),
    "rules_backtestrun_cancel": ("post", OPS),
    "rules_heldorder_decide": ("post", REVIEWER),
    "rules_heldorder_evidence": ("get", READERS),
    "console-dashboard": ("get", READERS),
    "auth_user_password_change": ("get", set()),
    # Everyone signed in to the console picks their own time zone.
    "preferences": ("get", {"mallory", *READERS}),
}
SITE_VIEWS = {"index", "login", "logout", "password_change", "password_change_done",
              "autocomplete", "jsi18n", "view_on_site", "app_list", None}  # fmt: skip
STANDARD_VIEWS = ("changelist", "add", "history", "delete", "change")


def test_it_has_a_row_for_every_admin_view():
    models = {f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry}
    hookdesk = {label for label in models if label.split(".")[0] in HOOKDESK_APPS}
    assert hookdesk == set(ADMIN_WRITES)
    standard = {f"{label.replace('.', '_')}_{view}" for label in models for view in STANDARD_VIEWS}
    names = {name for route, name in _routes() if route.startswith("admin/")}
    assert names - standard - set(ADMIN_ACTIONS) - SITE_VIEWS == set()


def _action_url(name, world):
    endpoint = world["endpoint"]
    args = {
        "webhooks_endpoint_rotate": [endpoint.pk],
        "webhooks_endpoint_expire_secret": [endpoint.pk, endpoint.secrets.order_by("id")[0].pk],
        "webhooks_endpoint_test_event": [endpoint.pk],
        "webhooks_event_replay": [world["event"]],
        "webhooks_event_replay_matching": [],
        "console_replayrun_progress": [world["replayrun"].pk],
        "console_replayrun_resume": [world["replayrun"].pk],
        "console_alert_acknowledge": [world["alert"].pk],
        "console_alertchannel_test": [world["alertchannel"]],
        "integrations_outbounddelivery_retry": [world["delivery"]],
        "rules_block_backtest": [Block.objects.get(block_id=world["block"]).pk],
        "rules_block_recheck": [Block.objects.get(block_id=world["block"]).pk],
        "rules_block_recheck_preview": [Block.objects.get(block_id=world["block"]).pk],
        "rules_block_recheck_release": [Block.objects.get(block_id=world["block"]).pk],
        "rules_backtestrun_progress": [world["backtestrun"]],
        "rules_backtestrun_cancel": [world["backtestrun"]],
        "rules_heldorder_decide": [world["hold"]],
        "rules_heldorder_evidence": [world["hold"]],
        "auth_user_password_change": [endpoint.pk],  # any id: refused before the lookup
    }
    if name in ("console-dashboard", "preferences"):
        return reverse(name)
    return reverse(f"admin:{name}", args=args[name])


def _admin_client(role, people):
    client = Client()
    if role:
        client.force_login(people[role])
    return client


@pytest.mark.parametrize("role", ROLES)
def test_it_enforces_the_admin_matrix(world, people, role):
    client = _admin_client(role, people)
    wrong = []
    for model in admin.site._registry:
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        writes = ADMIN_WRITES.get(label, {"add": set(), "change": set(), "delete": set()})
        readers = READERS if label in ADMIN_WRITES else set()
        obj = model._default_manager.order_by("pk").first()
        base = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        pages = [("changelist", reverse(f"{base}_changelist"), readers),
                 ("add", reverse(f"{base}_add"), writes["add"])]  # fmt: skip
        if obj is not None:
            pages += [
                ("change", reverse(f"{base}_change", args=[obj.pk]), readers),
                ("history", reverse(f"{base}_history", args=[obj.pk]), readers),
                ("delete", reverse(f"{base}_delete", args=[obj.pk]), writes["delete"]),
            ]
        for view, url, allowed in pages:
            response = client.get(url, follow=True)
            status = response.status_code
            if role is None:
                ok = response.redirect_chain and "/admin/login/" in response.redirect_chain[-1][0]
            elif role in allowed:
                ok = status == 200
            else:
                ok = status == 403 or (view == "changelist" and status == 200 and not readers)
            if not ok:
                wrong.append((label, view, status))
            # Viewing is not changing: a reader who may not change gets no save button.
            saves = view == "change" and status == 200 and b'name="_save"' in response.content
            if saves and role not in writes["change"]:
                wrong.append((label, "save button", role))
    for name, (method, allowed) in ADMIN_ACTIONS.items():
        url = _action_url(name, world)
        response = getattr(client, method)(url)
        status = response.status_code
        if role is None:
            ok = status == 302 and "/admin/login/" in response["Location"]
        elif role in allowed:
            ok = status not in (403, 404, 405) and status < 500
        else:
            ok = status == 403
        if not ok:
            wrong.append((name, method, status))
    assert wrong == []

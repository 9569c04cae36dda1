"""Browser fixtures: one headless Debian Chromium per test module, a fresh browser context
(cookies, storage) per login, against a live server on loopback."""

import importlib
import os

import pytest

from rules.services import block_create
from tests.support.events import deliver, process, procureiq

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told the calls are synchronous, which they are here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORDS = {name: f"{name}-pass-0123" for name in ("alice", "oscar", "audrey", "mallory")}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """The console in a browser: console.login("alice") -> a Playwright page, logged in."""

    def __init__(self, browser, url: str):
        self.browser, self.url, self.contexts = browser, url, []

    def login(self, username: str, password: str | None = None, *, width: int = 1280):
        context = self.browser.new_context(viewport={"width": width, "height": 900})
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.goto(self.url + "/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password or PASSWORDS[username])
        with page.expect_navigation():
            page.click("input[type=submit]")
        return page

    def close(self):
        for context in self.contexts:
            context.close()


def _migration(name: str):
    return importlib.import_module(f"rules.migrations.{name}")


# Models that moved out of the webhooks app after the role migrations named them.
MOVED_FROM_WEBHOOKS = {
    "auditentry": "core",
    "replayrun": "console",
    "alertthreshold": "console",
    "alert": "console",
}


def _app_now(app: str, codename: str) -> str:
    model = codename.split("_", 1)[1]
    return MOVED_FROM_WEBHOOKS.get(model, app) if app == "webhooks" else app


@pytest.fixture
def roles(transactional_db):
    """The role groups as the migrations make them. A live-server test's database is flushed
    after each test, and the browser's event loop keeps Django's serialized rollback from
    bringing migration data back, so the groups are made again here."""
    from django.contrib.auth.models import Group, Permission

    wanted: dict[str, set] = {}
    for name, codenames in _migration("0003_roles").ROLES.items():
        wanted.setdefault(name, set()).update(codenames)
    for added in ("0005_console_roles", "0007_backtest_run_roles"):
        for name, codenames in _migration(added).ADDED.items():
            wanted.setdefault(name, set()).update(codenames)
    integrations = importlib.import_module("integrations.migrations.0003_roles")
    for name, codenames in integrations.ROLES.items():
        wanted.setdefault(name, set()).update(codenames)
    for name, codenames in wanted.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(
            [
                Permission.objects.get(
                    content_type__app_label=_app_now(app, codename), codename=codename
                )
                for app, codename in codenames
            ]
        )


@pytest.fixture
def staff(roles, people):
    """The personas as console users: the admin only lets staff accounts in. Mallory is staff
    with no role, so she gets in and may see nothing."""
    for user in people.values():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return people


@pytest.fixture
def console(browser, wide_live_server, staff, settings):
    # The console's links go to this live server.
    settings.HOOKDESK = {**settings.HOOKDESK, "PUBLIC_BASE_URL": wide_live_server.url}
    console = Console(browser, wide_live_server.url)
    yield console
    console.close()


def order_created(order_id: str, amount: float, customer: str = "cus_1", **extra) -> dict:
    return procureiq(
        "order.created",
        {"orderId": order_id, "userId": customer, "totalAmount": amount, "currency": "USD",
         **extra},
    )  # fmt: skip


@pytest.fixture
def high_value_block(db):
    return block_create(name="High value", condition="order_value > 5000", action="hold")


@pytest.fixture
def hold_for(make_endpoint, high_value_block):
    """hold_for("ord_1", 9000) -> the HeldOrder made by delivering and processing an order."""
    endpoint = make_endpoint("procureiq")

    def make(order_id: str, amount: float = 9000, customer: str = "cus_1"):
        event = deliver(*endpoint, order_created(order_id, amount, customer))
        process(event)
        return event.hold

    make.endpoint = endpoint
    return make


def follow(page, selector: str):
    """Click something that loads a new page, and wait for that page."""
    with page.expect_navigation():
        page.click(selector)
    return page

"""Test traffic: deliveries signed by hookdesk's own test sender carry a marker only this
deployment can make, so the receiver stores them as test events (Event.is_test).

The marker is an HMAC of the body under the deployment's SECRET_KEY, sent in its own header.
A provider's signature says who sent a delivery; this says that it was us, testing. Nothing in
the payload is trusted for it: a sender without SECRET_KEY cannot mark a real order as a test
and so keep its hold out of the review queue."""

from collections.abc import Mapping

from django.utils.crypto import constant_time_compare, salted_hmac

TEST_MARKER_HEADER = "X-Hookdesk-Test"
_SALT = "hookdesk.webhooks.test-traffic"


def test_marker(body: bytes) -> str:
    """The marker header's value for this body."""
    return salted_hmac(_SALT, body, algorithm="sha256").hexdigest()


def is_test_delivery(headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the delivery (lower-case header names) carries a valid test marker. One header
    lookup for a delivery without one, which is every real delivery."""
    value = headers.get(TEST_MARKER_HEADER.lower())
    return bool(value) and constant_time_compare(value, test_marker(body))

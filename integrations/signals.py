"""Operational events of outbound delivery, for the apps above to act on (the console's alerts
and alert channels). Sent once the change has committed: a receiver that fails, or is slow,
never undoes or delays the delivery engine's own bookkeeping."""

from django.dispatch import Signal

# Sent with delivery=<OutboundDelivery>, when a delivery ran out of attempts (or was refused for
# good) and became a dead letter.
delivery_dead = Signal()

# Sent with destination=<Destination>, reason=<str>, when hookdesk itself switched a
# destination off (410 Gone, or nothing but failures for `disable_after_seconds`).
destination_disabled = Signal()

"""Django signals other apps listen to. Sent inside the transaction that made the change, so a
receiver's writes (an outbox row, say) commit or roll back with it."""

from django.dispatch import Signal

# Sent with hold=<HeldOrder>, event_type="order.held" | "order.released" | "order.rejected".
hold_changed = Signal()

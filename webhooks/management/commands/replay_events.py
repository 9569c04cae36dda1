import sys

from django.core.management.base import BaseCommand

from core.command_options import parse_when_option
from webhooks.models import EventStatus
from webhooks.replay import ReplaySummary, events_replay_now
from webhooks.selectors import events_matching

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Run processing again on the stored events matching the filters, with progress."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", help="endpoint slug")
        parser.add_argument("--status", choices=EventStatus.values)
        parser.add_argument("--type", dest="event_type", help="event type")
        parser.add_argument("--since", help="received at or after (ISO 8601)")
        parser.add_argument("--until", help="received before (ISO 8601)")
        parser.add_argument("--reason", default="", help="recorded in the audit trail")

    def handle(self, *args, endpoint, status, event_type, since, until, reason, **options):
        filters = {
            "endpoint": endpoint,
            "status": status,
            "event_type": event_type,
            "since": parse_when_option(since, "--since"),
            "until": parse_when_option(until, "--until"),
        }
        events = events_matching(**filters)
        description = ", ".join(f"{k}={v}" for k, v in filters.items() if v) or "all events"
        interactive = sys.stderr.isatty()

        def progress(summary: ReplaySummary) -> None:
            done = summary.processed + summary.failed + summary.skipped
            if not interactive and done not in (summary.total,) and done % 100:
                return
            filled = int(BAR_WIDTH * done / summary.total) if summary.total else BAR_WIDTH
            self.stderr.write(
                f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{summary.total}",
                ending="" if interactive else "\n",
            )

        summary = events_replay_now(
            events=events, description=f"{description}; {reason}".strip("; "), progress=progress
        )
        if interactive:
            self.stderr.write("")
        self.stdout.write(
            f"Replayed {summary.total} event(s): {summary.processed} processed, "
            f"{summary.failed} failed, {summary.skipped} skipped."
        )

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from webhooks.retention import events_purge

_AGE = re.compile(r"^(\d{1,5})d$")


class Command(BaseCommand):
    help = (
        "Delete events and delivery records older than the given age. Keeps events that "
        "created a hold or that the audit trail names."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="age in days, e.g. 90d")
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, older_than, dry_run, **options):
        match = _AGE.match(older_than.strip())
        if not match or int(match[1]) < 1:
            raise CommandError("--older-than must be a number of days such as 90d")
        cutoff = timezone.now() - timedelta(days=int(match[1]))
        result = events_purge(before=cutoff, dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {result['events']} event(s) and {result['deliveries']} delivery record(s) "
            f"received before {cutoff:%Y-%m-%d %H:%M} UTC; kept {result['kept']} event(s) "
            "needed by holds or the audit trail."
        )

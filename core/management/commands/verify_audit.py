"""Walk the audit trail's hash chain: `ok <N> entries` and exit 0, or the first broken entry
and exit 1."""

from django.core.management.base import BaseCommand, CommandError

from core.audit import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain. Prints 'ok <N> entries' and exits 0, or names the "
        "first broken entry (edited, removed, inserted) and exits 1. The head hash goes to "
        "standard error: keep it outside the database to anchor the chain (docs/security.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            metavar="CHECKPOINT",
            help="Verify from this entry on (inclusive): an entry id, or an entry's chain hash "
            "as an earlier run printed it.",
        )

    def handle(self, *args, since=None, **options):
        try:
            result = audit_chain_verify(since=since)
        except ValueError as error:
            raise CommandError(str(error)) from None
        if result.head_seq is not None:
            self.stderr.write(f"head #{result.head_seq} {result.head_hash}")
        if not result.ok:
            self.stdout.write(result.summary())
            raise SystemExit(1)
        self.stdout.write(result.summary())

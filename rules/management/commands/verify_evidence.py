"""Check a downloaded evidence package offline: `ok …` and exit 0, or what is wrong and exit 1."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rules.evidence import evidence_verify


class Command(BaseCommand):
    help = (
        "Check an evidence package (GET /api/v2/holds/<id>/evidence/) offline: its digest, its "
        "structure, each event body against its SHA-256 and each audit entry's hashes. It does "
        "not check the signatures again: that needs the endpoints' secrets, which the package "
        "does not carry; their result at export time is reported as recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The package, as downloaded (JSON).")

    def handle(self, *args, file, **options):
        try:
            document = json.loads(Path(file).read_bytes())
        except OSError as error:
            raise CommandError(f"cannot read {file}: {error.strerror}") from None
        except ValueError:
            self.stdout.write(f"broken: {file} is not JSON")
            raise SystemExit(1) from None
        problems = evidence_verify(document)
        if problems:
            for problem in problems:
                self.stdout.write(f"broken: {problem}")
            raise SystemExit(1)
        events = document["events"]
        verified = sum(1 for event in events if event["signature"]["verified"])
        self.stderr.write(
            "Signatures were not checked again: that needs the endpoints' secrets. At export "
            f"time {verified} of {len(events)} event signature(s) verified."
        )
        self.stdout.write(
            f"ok {document['digest']}: hold {document['hold'].get('id')}, {len(events)} events, "
            f"{len(document['audit_entries'])} audit entries"
        )

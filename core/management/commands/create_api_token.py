from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from core.tokens import api_token_issue


class Command(BaseCommand):
    help = (
        "Issue a user's API token, replacing any earlier one (only a digest is stored, so an "
        "existing token cannot be shown again). Prints it alone on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--reset", action="store_true", help="Accepted for compatibility: every run replaces."
        )

    def handle(self, *args, username, reset, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        replaced = hasattr(user, "auth_token")
        key = api_token_issue(user=user)
        self.stderr.write(
            f"New API token for {username}"
            + ("; the earlier one no longer works" if replaced else "")
            + ". Send it as 'Authorization: Token <key>'; it is not shown again."
        )
        self.stdout.write(key)

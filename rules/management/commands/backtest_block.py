import json

from django.core.management.base import BaseCommand, CommandError

from core.command_options import parse_when_option
from rules.backtest import block_backtest
from rules.models import Block


class Command(BaseCommand):
    help = "What a block would have held over stored events of a period. Changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("block_id")
        parser.add_argument("--since")
        parser.add_argument("--until")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print the result as JSON"
        )

    def handle(self, *args, block_id, since, until, as_json, **options):
        try:
            block = Block.objects.get(block_id=block_id)
        except Block.DoesNotExist:
            raise CommandError(f"no block {block_id!r}") from None
        result = block_backtest(
            block=block,
            since=parse_when_option(since, "--since"),
            until=parse_when_option(until, "--until"),
        )
        if as_json:
            self.stdout.write(json.dumps(result.as_json(), indent=2))
            return
        self.stdout.write(
            f"{block.name} ({block.block_id}, {block.action}, {block.status}): "
            f"{result.orders_matched} order(s) matched over {result.events_evaluated} event(s), "
            f"total value {result.total_value}" + (" (truncated)" if result.truncated else "")
        )
        for sample in result.sample:
            self.stdout.write(
                f"  {sample['order_id']}  {sample['order_value']}  {sample['received_at']}"
            )

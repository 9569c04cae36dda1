"""`python -m fuzz --examples N [--target NAME ...]`: N generated inputs spread over the targets
by weight (cheap pure parsers get most), a table per target, and one summary line. Exits 1 on
any 5xx, unhandled exception or broken invariant, after printing the minimal failing input."""

import argparse
import logging
import sys
import time

from fuzz.database import configure_environment, ensure_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--examples", type=int, default=10_000, help="inputs in total")
    parser.add_argument(
        "--target", action="append", default=[], help="run only this target (repeatable)"
    )
    parser.add_argument("--list", action="store_true", help="list the targets and their weights")
    options = parser.parse_args(argv)

    configure_environment()
    import django

    django.setup()
    # Every refused input is a 4xx that Django would log as a warning.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    from fuzz.targets import TARGETS

    if options.list:
        for target in TARGETS:
            print(f"{target.name:22} weight {target.weight:3}  {target.description}")
        return 0
    chosen = [t for t in TARGETS if not options.target or t.name in options.target]
    unknown = set(options.target) - {t.name for t in TARGETS}
    if unknown or not chosen:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}; see --list")
    if options.examples < len(chosen):
        parser.error(f"--examples must be at least {len(chosen)}, one per target")

    from fuzz.runner import run_target, split, table

    ensure_database()
    shares = split(options.examples, [target.weight for target in chosen])
    started = time.perf_counter()
    results = []
    for target, share in zip(chosen, shares, strict=True):
        print(f"{target.name}: {share} inputs ...", file=sys.stderr, flush=True)
        results.append(run_target(target, share))
    print(table(results))
    for result in results:
        for failure in result.failures:
            print(f"\n--- {result.target}: minimal failing input ---\n{failure}")
    inputs = sum(r.inputs for r in results)
    server_errors = sum(r.server_errors for r in results)
    unhandled = sum(r.unhandled for r in results)
    violations = sum(r.violations for r in results)
    print(
        f"fuzz inputs={inputs} server_errors={server_errors} unhandled={unhandled} "
        f"violations={violations} seconds={time.perf_counter() - started:.0f}"
    )
    return 1 if server_errors or unhandled or violations else 0


if __name__ == "__main__":
    sys.exit(main())

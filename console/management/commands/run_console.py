import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server (gunicorn) and the django-q2 cluster together in the foreground. "
        "Ctrl-C stops both; if either exits, the other is stopped too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host, port, **options):
        python = sys.executable
        workers = os.environ.get("WEB_CONCURRENCY", "2")
        commands = {
            "web": [
                python, "-m", "gunicorn", "config.wsgi",
                "--bind", f"{host}:{port}",
                "--workers", workers,
                "--access-logfile", "-",
            ],
            "worker": [python, "manage.py", "qcluster"],
        }  # fmt: skip
        # Fixed argv of our own interpreter and modules: no shell, no outside input.
        processes = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}  # noqa: S603
        self.stdout.write(f"hookdesk is running on http://{host}:{port}/ (admin at /admin/)")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exited = None
        while not stopping and exited is None:
            exited = next((n for n, p in processes.items() if p.poll() is not None), None)
            time.sleep(0.2)
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        if exited:
            self.stderr.write(f"The {exited} process exited; stopped the console.")
            sys.exit(1)

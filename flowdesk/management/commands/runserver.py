"""`runserver` on ASGI (uvicorn): REST, the admin, Socket.IO and the event streams from one process."""

import re

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

ADDRPORT = re.compile(r"^(?:(?P<host>[^:\[\]]+|\[[0-9a-fA-F:]+\]):)?(?P<port>\d{1,5})$")


class Command(BaseCommand):
    help = (
        "Serve Flowdesk for development on ASGI (uvicorn, reloading on code changes): the REST API, "
        "the admin, the tutor sessions' Socket.IO and the event streams, all on one port."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="[host:]port, default 127.0.0.1:8000")
        parser.add_argument("--noreload", action="store_false", dest="use_reloader", help="Do not reload on code changes.")

    def handle(self, *args, addrport, use_reloader, **options):
        import uvicorn

        match = ADDRPORT.match(addrport) if addrport.isascii() else None
        if not match or not 0 < int(match["port"]) < 65536:
            raise CommandError(f"{addrport!r} is not a valid [host:]port.")
        host = (match["host"] or "127.0.0.1").strip("[]")
        self.check(display_num_errors=True)
        self.check_migrations()
        self.stdout.write(f"Flowdesk on http://{match['host'] or '127.0.0.1'}:{match['port']}/ (ASGI, uvicorn)")
        uvicorn.run(
            "config.asgi:application", host=host, port=int(match["port"]), reload=use_reloader,
            reload_dirs=[str(settings.BASE_DIR)] if use_reloader else None, lifespan="off",
            log_level="info", timeout_graceful_shutdown=3,
        )

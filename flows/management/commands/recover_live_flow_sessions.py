from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from flows import engine


class Command(BaseCommand):
    help = (
        "Run again the live flow sessions no worker is moving: a step left RUNNING by a worker that "
        "died (its lease has passed; retried once, then the session fails), or a session whose next "
        "step was never started (its task was lost). With Celery the sessions are sent to the "
        "workers; in the embedded mode this command runs them itself. Workers do this when they start."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stale-after", type=int, default=300, metavar="SECONDS",
                            help="A session whose next step has waited this long to start counts as lost (300).")
        parser.add_argument("--max-age", type=int, default=86400, metavar="SECONDS",
                            help="Leave alone sessions that have not moved for this long, such as imported "
                                 "ones (86400).")
        parser.add_argument("--dry-run", action="store_true", help="List the sessions, run nothing.")

    def handle(self, *args, **options):
        if options["stale_after"] < 0 or options["max_age"] <= 0:
            raise CommandError("--stale-after must be 0 or more and --max-age more than 0.")
        stalled = engine.stalled_sessions(stale_after=options["stale_after"], max_age=options["max_age"])
        runner = settings.LIVE_FLOW_RUNNER
        for session_id in stalled:
            self.stderr.write(f"session {session_id}")
            if options["dry_run"]:
                continue
            if runner == "celery":
                from flows.tasks import run_live_flow_session

                run_live_flow_session.delay(str(session_id))
            else:
                # No broker: nobody else would run it once this process exits.
                engine.run_until_blocked(session_id)
        if options["dry_run"]:
            self.stdout.write(f"{len(stalled)} stalled session(s) found; none run (dry run)")
        elif runner == "celery":
            self.stdout.write(f"{len(stalled)} stalled session(s) sent to the workers")
        else:
            self.stdout.write(f"{len(stalled)} stalled session(s) run")

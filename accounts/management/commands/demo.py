from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Membership, Organization, Workspace

# Each family's app may provide `demo.load(ctx)`; they run in this order.
FAMILY_APPS = ["flows", "sessions_app", "chat", "messaging"]
DEMO_KEY_FILE = settings.VAR_DIR / "demo_api_key"


@dataclass
class DemoContext:
    organization: Organization
    workspace: Workspace
    user: object
    now: object


class Command(BaseCommand):
    help = (
        "Fill an empty database with a small, realistic data set for every API family, a staff "
        "login (admin/admin) and an API key (written to var/demo_api_key). Does nothing when the "
        "database already holds organizations."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Load even if the database is not empty.")

    def handle(self, *args, **options):
        if Organization.objects.exists() and not options["force"]:
            self.stdout.write("The database already holds data; demo data not loaded.")
            return
        with transaction.atomic():
            organization = Organization.objects.create(pk="org_u13TesTDumMyEe5P", name="Acme Support")
            workspace = Workspace.objects.create(pk="ws_acme_main", organization=organization, name="Main")
            Workspace.objects.create(pk="ws_acme_sales", organization=organization, name="Sales")
            User = get_user_model()
            admin = User.objects.filter(username="admin").first()
            if admin is None:
                admin = User.objects.create_superuser("admin", "admin@example.com", "admin")
            demo = User.objects.create_user(
                "demo", "demo@example.com", first_name="Dana", last_name="Demo", password=None
            )
            for user in (admin, demo):
                Membership.objects.create(user=user, organization=organization, role=Membership.Role.OWNER)
            key, raw = ApiKey.generate(user=demo, organization=organization, name="demo")
            ctx = DemoContext(organization, workspace, demo, timezone.now())
            for app in FAMILY_APPS:
                try:
                    module = import_module(f"{app}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{app}.demo":
                        raise
                    continue
                module.load(ctx)
                self.stderr.write(f"Loaded demo data for {app}.")
        DEMO_KEY_FILE.parent.mkdir(exist_ok=True)
        DEMO_KEY_FILE.write_text(raw + "\n")
        DEMO_KEY_FILE.chmod(0o600)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data loaded: organization {organization.pk}, staff login admin/admin, "
            f"API key in {DEMO_KEY_FILE.relative_to(settings.BASE_DIR)}"
        ))

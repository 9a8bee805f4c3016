"""The machinery every `export_*` command shares.

A family's command subclasses ``ExportCommand`` and supplies its scoping flags
(``add_scope_arguments``) and ``make_export`` (the options in, the family's ``Export`` of that
scope out). Everything else is here: `-o FILE` or standard output, JSON (the list endpoint's
body) or `--format jsonl`, `--updated-after/--updated-before`, the progress bar and the summary
line (`exported N ...`), last on standard error.
"""

import contextlib
import os
import sys
import tempfile

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.models import Organization, home_organization
from flowdesk.api.fields import parse_iso
from flowdesk.commands import FileCommand, file_format, progress_bar


def user_flag(username):
    """The user a command's --user names; a CommandError naming the flag when there is none."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--user: no user {username!r}.")
    return user


class ExportCommand(FileCommand):
    # organization_flag: a required --org naming an existing organization (``self.organization(options)``)

    def add_file_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", metavar="FILE",
            help="Write the export here (in place once it is complete); default: standard output.",
        )
        parser.add_argument(
            "--format", choices=["json", "jsonl"],
            help="json: one document, the list endpoint's body; jsonl: one record a line. "
                 "Default: jsonl for a FILE ending in .jsonl, else json.",
        )
        parser.add_argument("--updated-after", metavar="T", help="Only records updated at or after T (ISO 8601).")
        parser.add_argument("--updated-before", metavar="T", help="Only records updated before T (ISO 8601).")

    # --- hooks -------------------------------------------------------------------------------

    def make_export(self, options, updated_after, updated_before):
        """The family's Export of the scope the flags name; CommandError naming a flag otherwise."""
        raise NotImplementedError

    #: what the audit event names: (object_id, organization), set by make_export
    scope = (None, None)

    # --- shared helpers for scope flags --------------------------------------------------------

    def organization(self, options):
        organization = Organization.objects.filter(pk=options["org"]).first()
        if organization is None:
            raise CommandError(f"--org: no organization {options['org']!r}.")
        self.scope = (organization.pk, organization)
        return organization

    def user(self, username):
        user = user_flag(username)
        self.scope = (user.get_username(), home_organization(user))
        return user

    @staticmethod
    def timestamp(options, name):
        value = options[name]
        if value is None:
            return None
        try:
            return parse_iso(value)
        except ValueError:
            flag = "--" + name.replace("_", "-")
            raise CommandError(
                f"{flag}: {value!r} is not an ISO 8601 timestamp (e.g. 2024-05-01T09:00:00Z)."
            ) from None

    # --- the run -----------------------------------------------------------------------------

    def handle(self, *args, **options):
        after = self.timestamp(options, "updated_after")
        before = self.timestamp(options, "updated_before")
        if after is not None and before is not None and after >= before:
            raise CommandError("--updated-after must be earlier than --updated-before.")
        export = self.make_export(options, after, before)
        path = options["output"]
        fmt = file_format(options["format"], path)
        with self._output(path) as write:  # first: a FILE that cannot be written is said before any bar
            bar = progress_bar(self, options, f"exporting {export.noun[1]}", " records")
            try:
                for chunk in export.chunks(fmt):
                    write(chunk)
                    bar.update(export.count - bar.n)
            finally:
                bar.close()
        object_id, organization = self.scope
        export.record(actor=self.__module__.rsplit(".", 1)[-1], object_id=object_id, organization=organization)
        self.stderr.write(export.summary())

    @contextlib.contextmanager
    def _output(self, path):
        """A write(bytes) to FILE or standard output. FILE is written beside itself and moved in
        place at the end: an export that fails leaves no half file under its name."""
        if path is None:
            out = getattr(self.stdout, "_out", sys.stdout)
            binary = getattr(out, "buffer", None)
            if binary is None:  # a text stream (call_command(stdout=StringIO()))
                yield lambda chunk: out.write(chunk.decode())
            else:
                out.flush()
                yield binary.write
                if out.isatty():
                    binary.write(b"\n")
                binary.flush()
            return
        directory, name = os.path.split(os.path.abspath(path))
        try:
            handle = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{name}.", suffix=".partial", delete=False)  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"-o: cannot write {path}: {exc.strerror}.") from None
        try:
            with handle:
                yield handle.write
            try:
                os.replace(handle.name, path)
            except OSError as exc:
                raise CommandError(f"-o: cannot write {path}: {exc.strerror}.") from None
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(handle.name)
            raise


__all__ = ["ExportCommand"]

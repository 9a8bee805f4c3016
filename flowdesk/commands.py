"""What the operators' long commands (imports, exports, apply_retention) share on the command line:
the --no-progress flag, the one bar on standard error, the file format named by a path, and the
flags of a command over one file of a family's records."""

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm


def add_progress_flag(parser):
    parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")


def progress_bar(command, options, desc, unit):
    """A bar on the command's stderr, off with --no-progress and when stderr is not a terminal
    (a log or a pipe would get every redraw)."""
    return tqdm(
        desc=desc,
        unit=unit,
        file=getattr(command.stderr, "_out", sys.stderr),  # the stream under Django's OutputWrapper
        disable=options["no_progress"] or None,
        mininterval=0.5,
        leave=False,
    )


def file_format(given, path):
    """--format, else JSON Lines for a .jsonl (or .ndjson) path, else JSON."""
    return given or ("jsonl" if path and path.endswith((".jsonl", ".ndjson")) else "json")


class FileCommand(BaseCommand):
    """import_* and export_*: the file's flags, --no-progress, --org where the family is scoped by
    organization, then the family's own flags."""

    #: a required --org
    organization_flag = False
    org_help = "Organization id."

    def add_arguments(self, parser):
        self.add_file_arguments(parser)
        add_progress_flag(parser)
        if self.organization_flag:
            parser.add_argument("--org", required=True, help=self.org_help)
        self.add_scope_arguments(parser)

    def add_file_arguments(self, parser):
        """The file, its --format, and the command's own run flags."""

    def add_scope_arguments(self, parser):
        """The family's own flags beside --org."""

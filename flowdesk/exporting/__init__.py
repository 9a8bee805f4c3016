"""Exports: a family's records as its list endpoint answers them, for the export commands and the
admin's downloads (export.py: ``Export``; command.py: ``ExportCommand``)."""

"""The live-flows import: its serializers (the authority on a record), its fast path (the same
answers for the usual records, in plain Python) and, in flows/management/commands/, the command."""

"""The import of chat sessions: its records' serializers (serializers.py) and their plain-Python
fast path (fastpath.py); the command (flags and the write) is import_chat_sessions."""

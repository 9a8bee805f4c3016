"""The message-flows import: what a record may hold (serializers.py), its plain-Python fast path
(fastpath.py) and how a batch is written (writing.py); the command only adds its flags."""

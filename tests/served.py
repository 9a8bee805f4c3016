"""Flowdesk served for real in tests: gunicorn as in production, and a TCP proxy that can drop the database."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

from bench.sockets import end, free_port, pipe

BASE_DIR = Path(__file__).resolve().parents[1]


def database_url(host=None, port=None):
    """The test database as a URL, optionally reached through another host and port."""
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{host or db['HOST'] or '127.0.0.1'}:{port or db['PORT'] or 5432}/{db['NAME']}"


class TcpProxy:
    """Forwards a loopback port to the database; `stop()` is the database going away, `start()` its return.

    Stopping closes the listening socket and every forwarded connection, so a server behind it sees
    exactly what a PostgreSQL restart shows: its connection reset, new ones refused.
    """

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.port = free_port()
        self._listener = None
        self._sockets = []
        self._lock = threading.Lock()

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            end(listener)  # close() alone would not wake a thread blocked in accept(): it would go on accepting
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            end(sock)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # stopped while this connection came in
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(source, sink), daemon=True).start()


class Server:
    """A Flowdesk server process on a free loopback port, started as production starts it."""

    def __init__(self, command, database, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="server-test-", suffix=".log", delete=False)
        environment = {
            **os.environ, "DATABASE_URL": database, "FLOWDESK_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING",
        }
        environment.pop("REDIS_URL", None)
        environment.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", *[part.format(port=self.port) for part in command]],
            cwd=BASE_DIR, env=environment, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the server exited:\n" + self.output())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the server did not start:\n" + self.output())

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
        os.unlink(self.log.name)

    def output(self):
        return Path(self.log.name).read_text()


def Gunicorn(database, **env):  # noqa: N802 - reads as the server it starts
    """`gunicorn -c config/gunicorn.py config.wsgi`, one worker: REST as production serves it."""
    return Server(["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"], database, **env)


def Uvicorn(database, **env):  # noqa: N802
    """`uvicorn config.asgi:application`: the live paths (Socket.IO, event streams) as production serves them."""
    return Server(
        ["uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", "{port}", "--lifespan", "off",
         "--log-level", "warning"],
        database, **env,
    )


REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_up(url=REDIS_URL):
    """Whether Redis answers: the cross-process tests skip without it."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


def sse_frames(text):
    """The fields of each Server-Sent Events frame of a body, comments left out."""
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if lines:
            yield dict(line.split(": ", 1) for line in lines)

"""A streaming standby of a PostgreSQL server on this machine, in a temporary folder: the replica
tests (tests/flowdesk/test_replicas.py) and the served benchmark's `--replica` run read from one.

`pg_basebackup -R -X stream` copies the server (it must accept replication connections from
127.0.0.1: scripts/pg-replication), then a second `postgres` of the same major version runs it on a
free port as a hot standby. Run as root, the standby runs as the postgres user (postgres refuses
root). Not used by Flowdesk itself.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Standby:
    """A hot standby of ``primary`` (Django's settings of a database on it), streaming from it."""

    def __init__(self, primary):
        import psycopg

        self.psycopg = psycopg
        self.primary = primary
        self.primary_conninfo = {"host": primary["HOST"] or "127.0.0.1", "port": int(primary["PORT"] or 5432),
                                 "user": primary["USER"] or "postgres", "dbname": primary["NAME"]}
        with psycopg.connect(**self.primary_conninfo, autocommit=True) as conn:
            self.shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
                "server_version_num", "wal_level", "max_wal_senders", "max_connections", "max_worker_processes",
                "max_prepared_transactions", "max_locks_per_transaction")}
        self.major = int(self.shown["server_version_num"]) // 10000
        self.bin = Path(f"/usr/lib/postgresql/{self.major}/bin")
        self.port = None
        self.folder = None

    def why_not(self):
        if self.primary_conninfo["host"] not in ("127.0.0.1", "localhost", "::1"):
            return f"the server is not on this machine ({self.primary_conninfo['host']})"
        missing = [tool for tool in ("pg_basebackup", "pg_ctl", "postgres") if not (self.bin / tool).exists()]
        if missing:
            found = ", ".join(sorted(glob.glob("/usr/lib/postgresql/*/bin"))) or "none"
            return f"needs PostgreSQL {self.major}'s {', '.join(missing)} in {self.bin} (found: {found})"
        if self.shown["wal_level"] == "minimal" or int(self.shown["max_wal_senders"]) < 2:
            return ("the server needs wal_level=replica and max_wal_senders >= 2 (scripts/pg-replication); "
                    f"it has wal_level={self.shown['wal_level']}, max_wal_senders={self.shown['max_wal_senders']}")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser to start postgres as the postgres user"
        return None

    def _as_server_user(self, *command):
        # postgres refuses to run as root: as root, the cluster belongs to the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *map(str, command)], capture_output=True, text=True, timeout=300)

    def start(self):
        self.folder = Path(tempfile.mkdtemp(prefix="flowdesk-replica-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        data = self.folder / "data"
        for _ in range(3):
            backup = self._as_server_user(
                self.bin / "pg_basebackup", "-h", self.primary_conninfo["host"], "-p", self.primary_conninfo["port"],
                "-U", self.primary_conninfo["user"], "-D", data, "-R", "-X", "stream", "-c", "fast", "--no-sync",
            )
            # A busy server's checkpoint may end the copy's WAL stream ("terminating connection due
            # to administrator command"): it removes what it copied, and another try usually works.
            if backup.returncode == 0 or "pg_hba.conf" in backup.stderr:
                break
            shutil.rmtree(data, ignore_errors=True)
        if backup.returncode != 0:
            self.remove()
            hint = ""
            if "pg_hba.conf" in backup.stderr:
                hint = " (scripts/pg-replication allows it: `host replication all 127.0.0.1/32 trust`)"
            return f"pg_basebackup failed{hint}: {backup.stderr.strip()}"
        self.port = _free_port()
        # The standby must allow at least as much as its primary, or it will not start.
        limits = "\n".join(f"{name} = {self.shown[name]}" for name in (
            "max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
            "max_locks_per_transaction"))
        (data / "postgresql.conf").write_text(
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.folder}'\n"
            f"hot_standby = on\nmax_standby_streaming_delay = 5s\nfsync = off\n{limits}\n"
        )
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        if os.geteuid() == 0:
            for name in ("postgresql.conf", "pg_hba.conf"):
                shutil.chown(data / name, "postgres", "postgres")
        started = self._as_server_user(self.bin / "pg_ctl", "-D", data, "-l", self.folder / "log", "-w", "-t", "120",
                                       "start")
        if started.returncode != 0:
            log = (self.folder / "log").read_text() if (self.folder / "log").exists() else ""
            self.remove()
            return f"the replica did not start: {started.stderr.strip()} {log[-2000:]}"
        self.admin = self.psycopg.connect(host="127.0.0.1", port=self.port, user=self.primary_conninfo["user"],
                                          dbname=self.primary["NAME"], autocommit=True, connect_timeout=10)
        self.wait_caught_up()
        return None

    def start_again(self):
        """After stop(): the same standby, streaming again from where it stopped."""
        started = self._as_server_user(self.bin / "pg_ctl", "-D", self.folder / "data", "-l", self.folder / "log",
                                       "-w", "-t", "120", "start")
        assert started.returncode == 0, started.stderr
        self.admin = self.psycopg.connect(host="127.0.0.1", port=self.port, user=self.primary_conninfo["user"],
                                          dbname=self.primary["NAME"], autocommit=True, connect_timeout=10)
        self.wait_caught_up()

    def running(self):
        return self.folder is not None and (self.folder / "data" / "postmaster.pid").exists()

    def stop(self):
        if self.running():
            self._as_server_user(self.bin / "pg_ctl", "-D", self.folder / "data", "-m", "fast", "-w", "stop")

    def remove(self):
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def query(self, sql):
        return self.admin.execute(sql).fetchall()

    def wait_caught_up(self, timeout=60):
        """Until the replica has replayed everything the primary wrote so far."""
        with self.psycopg.connect(**self.primary_conninfo, autocommit=True) as conn:
            (lsn,) = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        deadline = time.monotonic() + timeout
        while not self.admin.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)

    def pause(self):
        self.wait_caught_up()
        self.admin.execute("SELECT pg_wal_replay_pause()")
        while self.admin.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            time.sleep(0.02)

    def resume(self):
        self.admin.execute("SELECT pg_wal_replay_resume()")



"""A small client that keeps writing during an operation and records every write the database acknowledged.

It inserts sequential ids into one table, one autocommit INSERT at a time. When a write fails it reconnects to
whichever member accepts writes (libpq multi-host, target_session_attrs=read-write) and goes on with the next id.
After the operation, every acknowledged id must be on the new primary: that is the "no acknowledged write lost" check.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time

import psycopg

TABLE = "pgops_writer"


def container_addresses(names: list) -> list:
    """IP addresses of the named containers, in order (the controller reaches them over the Docker bridge)."""
    addresses = []
    for name in names:
        output = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True).stdout
        networks = json.loads(output)[0]["NetworkSettings"]["Networks"]
        addresses.append(next(network["IPAddress"] for network in networks.values() if network["IPAddress"]))
    return addresses


class Writer:
    def __init__(
        self, addresses: list, user: str, password: str, dbname: str, interval: float = 0.01, port: int = 5432, table: str = TABLE
    ):
        self.conninfo = dict(
            host=",".join(addresses),
            port=",".join([str(port)] * len(addresses)),
            user=user,
            password=password,
            dbname=dbname,
            target_session_attrs="read-write",
            connect_timeout=2,
            # A write in flight when its server vanished waits for an answer that may never come: TCP retransmits
            # for minutes, and keepalives do not act while data is unacknowledged. Like an application should, the
            # writer gives such a connection up after 5 s; the write's outcome is then unknown and not counted.
            tcp_user_timeout=5000,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            application_name="pgops-writer",
        )
        self.table = table
        self.interval = interval
        self.acknowledged: list = []  # (id, monotonic time of the acknowledgement, seconds the write took)
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._next_id = 1

    def prepare(self) -> None:
        with psycopg.connect(autocommit=True, **self.conninfo) as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, written_at timestamptz DEFAULT now())" % self.table)
            self._next_id = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM %s" % self.table).fetchone()[0]

    def start(self) -> Writer:
        self.prepare()
        self.started = time.monotonic()
        self._thread.start()
        return self

    def _connect(self):
        while not self._stop.is_set():
            try:
                return psycopg.connect(autocommit=True, **self.conninfo)
            except psycopg.Error:
                self.failures += 1
                time.sleep(0.05)
        return None

    def _run(self) -> None:
        connection = self._connect()
        while not self._stop.is_set() and connection is not None:
            write_id = self._next_id
            self._next_id += 1
            began = time.monotonic()
            try:
                connection.execute("INSERT INTO %s (id) VALUES (%%s)" % self.table, (write_id,))
            except psycopg.Error:
                self.failures += 1
                with contextlib.suppress(psycopg.Error):
                    connection.close()
                connection = self._connect()
                continue
            finished = time.monotonic()
            self.acknowledged.append((write_id, finished, finished - began))
            time.sleep(self.interval)
        if connection is not None:
            connection.close()

    def stop(self) -> Writer:
        # Keep writing briefly so the last acknowledgements come from the cluster as it ends up.
        time.sleep(1.0)
        self._stop.set()
        self._thread.join(timeout=30)
        return self

    def longest_gap(self) -> float:
        """Longest time between two consecutive acknowledgements: the downtime the client saw."""
        times = [acknowledged_at for _id, acknowledged_at, _took in self.acknowledged]
        return max((later - earlier for earlier, later in zip(times, times[1:])), default=0.0)

    def missing_on(self, address: str, port: int = 5432) -> list:
        """Acknowledged ids that the server at `address` does not have."""
        conninfo = dict(self.conninfo, host=address, port=str(port), target_session_attrs="any")
        with psycopg.connect(**conninfo) as connection:
            present = {row[0] for row in connection.execute("SELECT id FROM %s" % self.table)}
        return [write_id for write_id, _at, _took in self.acknowledged if write_id not in present]


class Reader:
    """Reads in a loop through one endpoint and counts what failed: a switchover through a pooler must cost readers a
    pause, not an error."""

    def __init__(self, conninfo: dict, interval: float = 0.02):
        self.conninfo = conninfo
        self.interval = interval
        self.answered: list = []  # (monotonic time of the answer, seconds the read took)
        self.failures: list = []  # (monotonic time, error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Reader:
        self._thread.start()
        return self

    def _run(self) -> None:
        connection = None
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                if connection is None:
                    connection = psycopg.connect(autocommit=True, **self.conninfo)
                connection.execute("SELECT max(id) FROM %s" % TABLE).fetchone()
            except psycopg.Error as error:
                self.failures.append((time.monotonic(), str(error).strip()))
                with contextlib.suppress(psycopg.Error, AttributeError):
                    connection.close()
                connection = None
                time.sleep(0.05)
                continue
            finished = time.monotonic()
            self.answered.append((finished, finished - began))
            time.sleep(self.interval)
        if connection is not None:
            connection.close()

    def stop(self) -> Reader:
        self._stop.set()
        self._thread.join(timeout=30)
        return self


def percentile(values: list, share: float) -> float:
    """The value at `share` (0..1) of the sorted values, nearest rank; 0 for none."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(round(share * len(ordered) + 0.5)) - 1))]

"""A checker that asks every member, over and over, whether it accepts writes: the split-brain test's witness.

It runs `psql` inside each container (docker exec), so it sees a primary that is cut off from the network too.
A member accepts writes when its server answers and is not in recovery.
"""

from __future__ import annotations

import subprocess
import threading
import time

QUERY = "SELECT NOT pg_is_in_recovery()"


def writable(name: str) -> bool:
    command = ["docker", "exec", name, "runuser", "-u", "postgres", "--", "psql", "-XAtq", "-c", QUERY]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        # A container that stops or starts may hold docker exec: no answer, as from a server that is down.
        return False
    return completed.returncode == 0 and completed.stdout.strip() == "t"


class WritableWatch:
    def __init__(self, members: list):
        self.members = members
        self.samples: list = []  # (monotonic time, sorted list of members that accept writes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> WritableWatch:
        self._thread.start()
        return self

    def _run(self) -> None:
        results: dict = {}

        def ask(name: str) -> None:
            results[name] = writable(name)

        while not self._stop.is_set():
            results.clear()
            threads = [threading.Thread(target=ask, args=(name,)) for name in self.members]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.samples.append((time.monotonic(), sorted(name for name, answer in results.items() if answer)))

    def stop(self) -> WritableWatch:
        self._stop.set()
        self._thread.join(timeout=60)
        return self

    def most_writable_at_once(self) -> int:
        return max((len(names) for _at, names in self.samples), default=0)

    def last_writable(self, name: str) -> float | None:
        return max((at for at, names in self.samples if name in names), default=None)

    def first_writable_after(self, name: str, after: float) -> float | None:
        return min((at for at, names in self.samples if name in names and at > after), default=None)

"""A checker that asks every member, over and over, whether it accepts writes: the split-brain test's witness.

It asks inside each container, so it sees a primary that is cut off from the network too: one `docker exec` per
member runs psql every PERIOD seconds for as long as the container runs, and prints each answer as it comes. A member
accepts writes when its server answers and is not in recovery. Each answer is a sample: the time it arrived and the
members whose latest answer was yes. A member whose container stops or is killed counts as not writable from that
moment (its exec ends); the checker starts asking it again once it runs.

One exec for the whole watch rather than one per question: a `docker exec` costs the machine far more CPU than the
question, and the scenarios share two cores.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid

PERIOD = 0.3
# At most this long a loop runs, should its watch never say stop.
LONGEST = 3600
# The server's own psql (the wrapper in /usr/bin is a script whose interpreter would cost more than the question),
# an empty line for a server that does not answer. A loop ends when its stop file appears: a docker exec whose client
# is killed goes on running inside the container.
ASK_IN_A_LOOP = (
    'bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1); i=0; while [ $i -lt %d ] && [ ! -e "$1" ]; do i=$((i+1));'
    ' PGCONNECT_TIMEOUT=2 "$bin/psql" -XAtq -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null || echo; sleep %s; done'
    % (int(LONGEST / PERIOD), PERIOD)
)


class WritableWatch:
    def __init__(self, members: list):
        self.members = list(members)
        self.samples: list = []  # (monotonic time, sorted list of members that accept writes)
        self.answers = dict.fromkeys(self.members, 0)
        self._writable = dict.fromkeys(self.members, False)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._processes: dict = {}
        self._stop_file = "/tmp/pgops-watch-stop-%s" % uuid.uuid4().hex
        self._threads = [threading.Thread(target=self._follow, args=(name,), daemon=True) for name in self.members]

    def start(self, timeout: float = 30.0) -> WritableWatch:
        """Start asking, and return once every member has answered once (or `timeout` passed), so that the first
        sample already holds every member's answer."""
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(self.answers.values()):
            time.sleep(0.05)
        return self

    def _record(self, name: str, writable: bool, answered: bool) -> None:
        with self._lock:
            self._writable[name] = writable
            if answered:
                self.answers[name] += 1
            if all(self.answers.values()):
                self.samples.append((time.monotonic(), sorted(member for member, yes in self._writable.items() if yes)))

    def _follow(self, name: str) -> None:
        while not self._stop.is_set():
            command = ["docker", "exec", "-u", "postgres", name, "sh", "-c", ASK_IN_A_LOOP, "pgops-watch", self._stop_file]
            with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
                self._processes[name] = process
                for line in process.stdout:
                    if self._stop.is_set():
                        break
                    self._record(name, line.strip() == "t", True)
                process.kill()
            if self._stop.is_set():
                return
            # The container stopped or was killed: its server takes no write until it runs again.
            self._record(name, False, False)
            self._stop.wait(PERIOD)

    def stop(self) -> WritableWatch:
        self._stop.set()
        for name in self.members:
            subprocess.run(["docker", "exec", name, "touch", self._stop_file], capture_output=True, timeout=30, check=False)
        for process in list(self._processes.values()):
            process.kill()
        for thread in self._threads:
            thread.join(timeout=60)
        return self

    def polls(self) -> int:
        """How many times the checker has had an answer from every member (the member it heard least from)."""
        return min(self.answers.values(), default=0)

    def most_writable_at_once(self) -> int:
        return max((len(names) for _at, names in self.samples), default=0)

    def last_writable(self, name: str) -> float | None:
        return max((at for at, names in self.samples if name in names), default=None)

    def first_writable_after(self, name: str, after: float) -> float | None:
        return min((at for at, names in self.samples if name in names and at > after), default=None)

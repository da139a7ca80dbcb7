"""Switchover downtime: switchover.yml against the same switchover done by hand, in one run on the lab.

Downtime is what a client sees: the longest gap between two acknowledged writes of a writer that inserts about 100
rows per second and reconnects to whichever member takes writes. The floor is the switchover by hand, with
PostgreSQL's own tools run in the containers (psql CHECKPOINT, pg_ctl stop -m fast, psql pg_promote()), alternated
with switchover.yml back, ROUNDS times each. Every acknowledged write is checked on the new primary.

Usage: .venv/bin/python bench/switchover.py [ROUNDS]   (root, Docker; builds the lab images if needed)
Writes docs/switchover-latency.png: the latency of every write during one switchover.yml run.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "molecule", "shared"))

from writer import Writer, container_addresses  # noqa: E402

PREFIX = "pgops-bench"
NODES = ["node1", "node2", "node3"]
PG_BIN = "/usr/lib/postgresql/15/bin"
DATA_DIR = "/var/lib/postgresql/15/main"
WRITER_PASSWORD = "bench writer pass"


def run(command: list, **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


def in_container(node: str, *command: str) -> str:
    return run(["docker", "exec", "%s-%s" % (PREFIX, node), "runuser", "-u", "postgres", "--", *command]).stdout.strip()


def playbook(name: str, variables_file: str, *extra: str) -> float:
    command = [os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"), "-i", "examples/lab/inventory.yml", "-e", "@" + variables_file]
    for assignment in extra:
        command += ["-e", assignment]
    command.append("playbooks/%s.yml" % name)
    environment = dict(os.environ, PGOPS_LAB_PREFIX=PREFIX, ANSIBLE_CONFIG="ansible.cfg")
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, cwd=CHECKOUT, env=environment, check=False)
    if completed.returncode != 0:
        raise SystemExit("%s failed:\n%s" % (name, (completed.stdout + completed.stderr)[-4000:]))
    return time.monotonic() - started


def primary() -> str:
    return next(node for node in NODES if in_container(node, "psql", "-XAtc", "SELECT pg_is_in_recovery()") == "f")


def by_hand(old: str, new: str) -> None:
    """The seeds' procedure, downtime part: CHECKPOINT, fast stop, promote."""
    in_container(old, "psql", "-XAtc", "CHECKPOINT")
    in_container(old, PG_BIN + "/pg_ctl", "stop", "-D", DATA_DIR, "-m", "fast", "-w")
    in_container(new, "psql", "-XAtc", "SELECT pg_promote()")


def timed_switchover(variables_file: str, target: str, timing: list) -> None:
    timing.append(playbook("switchover", variables_file, "new_primary=" + target))


def measured(addresses: list, operation) -> Writer:
    load = Writer(addresses, "writer", WRITER_PASSWORD, "appdb").start()
    time.sleep(2)
    operation()
    load.stop()
    return load


def plot(load: Writer, lost: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [at - load.started for _id, at, _took in load.acknowledged]
    latencies = [took * 1000 for _id, _at, took in load.acknowledged]
    figure, axes = plt.subplots(figsize=(9, 3.6), dpi=100)
    axes.plot(times, latencies, ".", markersize=3)
    axes.set_yscale("log")
    axes.set_xlabel("seconds since the writer started")
    axes.set_ylabel("write latency (ms)")
    axes.set_title("Acknowledged writes during switchover.yml (longest gap %.2f s, %d lost)" % (load.longest_gap(), lost))
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.chdir(CHECKOUT)
    run(["lab/build-images"])
    run(["lab/cluster", "down", PREFIX])
    run(["lab/cluster", "up", PREFIX])
    try:
        network = json.loads(run(["docker", "network", "inspect", PREFIX]).stdout)[0]
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        variables = dict(
            postgresql_replication_password="bench-only password",
            postgresql_users=[dict(name="writer", password=WRITER_PASSWORD)],
            postgresql_databases=[dict(name="appdb", owner="writer")],
            postgresql_hba_entries=[dict(type="host", database="appdb", user="writer", address=gateway + "/32", method="scram-sha-256")],
        )
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as variables_file:
            json.dump(variables, variables_file)
        playbook("site", variables_file.name)
        addresses = container_addresses(["%s-%s" % (PREFIX, node) for node in NODES])
        manual, automated, durations, lost = [], [], [], 0
        latency_sample = None
        for _round in range(rounds):
            old, new = primary(), None
            new = next(node for node in NODES if node != old)
            load = measured(addresses, functools.partial(by_hand, old, new))
            lost += len(load.missing_on(addresses[NODES.index(new)]))
            manual.append(load.longest_gap())
            # Put the cluster back together (not measured): the old primary rejoins, the third member follows.
            playbook("rejoin", variables_file.name, "rejoin_host=" + old, "status_fail_on_critical=false")
            playbook("site", variables_file.name)
            target, timing = old, []
            load = measured(addresses, functools.partial(timed_switchover, variables_file.name, target, timing))
            lost_here = len(load.missing_on(addresses[NODES.index(target)]))
            lost += lost_here
            automated.append(load.longest_gap())
            durations.append(timing[0])
            latency_sample = (load, lost_here)
            print(
                "round %d: by hand %.3f s, switchover.yml %.3f s (whole playbook %.1f s)"
                % (_round + 1, manual[-1], automated[-1], durations[-1])
            )
        floor, ours = statistics.median(manual), statistics.median(automated)
        print("downtime by hand (floor), median of %d: %.3f s" % (rounds, floor))
        print("downtime with switchover.yml, median of %d: %.3f s (longest %.3f s)" % (rounds, ours, max(automated)))
        print("ratio switchover.yml / by hand: %.2f (goal <= 4, and under 2 s)" % (ours / floor))
        print("whole switchover.yml run, median: %.1f s" % statistics.median(durations))
        print("acknowledged writes lost: %d" % lost)
        if latency_sample is not None:
            plot(*latency_sample, os.path.join(CHECKOUT, "docs", "switchover-latency.png"))
            print("plot: docs/switchover-latency.png")
        os.unlink(variables_file.name)
    finally:
        run(["lab/cluster", "down", PREFIX])


if __name__ == "__main__":
    main()

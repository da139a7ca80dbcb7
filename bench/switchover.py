"""Switchover downtime: switchover.yml against the same switchover done by hand, in one run on the lab.

Downtime is what a client sees: the longest gap between two acknowledged writes of a writer that inserts about 100
rows per second and reconnects to whichever member takes writes. The floor is the switchover by hand, with
PostgreSQL's own tools run in the containers (psql CHECKPOINT, pg_ctl stop -m fast, psql pg_promote()), alternated
with switchover.yml back, ROUNDS times each. Every acknowledged write is checked on the new primary.

The client's view, in the same run: during each switchover.yml run two writers go on at once, one with a libpq
multi-host connection string (target_session_attrs=read-write) straight to the members, one with a plain single-host
string to PgBouncer on a fourth container (the pgbouncer role, transaction pooling). For each: the transactions that
failed, and the latency of each write against its own median before the switchover (added latency, p99 and max).

Usage: .venv/bin/python bench/switchover.py [ROUNDS]   (root, Docker; builds the lab images if needed)
Writes docs/switchover-latency.png: the latency of every write of both writers during one switchover.yml run.
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

from writer import Writer, container_addresses, percentile  # noqa: E402

PREFIX = "pgops-bench"
NODES = ["node1", "node2", "node3"]
POOLER = "pooler1"
PG_BIN = "/usr/lib/postgresql/15/bin"
DATA_DIR = "/var/lib/postgresql/15/main"
WRITER_PASSWORD = "bench writer pass"


def run(command: list, **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


def in_container(node: str, *command: str) -> str:
    return run(["docker", "exec", "%s-%s" % (PREFIX, node), "runuser", "-u", "postgres", "--", *command]).stdout.strip()


def write_inventory(path: str) -> None:
    """The lab's inventory and a pooler group with the fourth container."""
    with open(os.path.join(CHECKOUT, "examples", "lab", "inventory.yml")) as lab_inventory:
        text = lab_inventory.read()
    text += (
        "pgbouncer:\n  hosts:\n    %s:\n      ansible_host: %s-%s\n  vars:\n    ansible_connection: community.docker.docker\n"
        "    ansible_python_interpreter: /usr/bin/python3\n" % (POOLER, PREFIX, POOLER)
    )
    with open(path, "w") as inventory:
        inventory.write(text)


INVENTORY = os.path.join(tempfile.gettempdir(), "pgops-bench-inventory.yml")


def playbook(name: str, variables_file: str, *extra: str, inventory: str = INVENTORY, prefix: str = PREFIX) -> float:
    """Run playbooks/<name>.yml on the lab named `prefix`; returns its wall time in seconds (bench/rolling.py too)."""
    command = [os.path.join(CHECKOUT, ".venv", "bin", "ansible-playbook"), "-i", inventory, "-e", "@" + variables_file]
    for assignment in extra:
        command += ["-e", assignment]
    command.append("playbooks/%s.yml" % name)
    environment = dict(os.environ, PGOPS_LAB_PREFIX=prefix, ANSIBLE_CONFIG="ansible.cfg")
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


def measured(addresses: list, operation, pooler_address: str | None = None) -> tuple:
    """Run `operation` under the direct writer, and under the pooled one too when a pooler address is given."""
    load = Writer(addresses, "writer", WRITER_PASSWORD, "appdb").start()
    pooled = None
    if pooler_address is not None:
        pooled = Writer([pooler_address], "writer", WRITER_PASSWORD, "appdb", port=6432, table="pgops_pooled_writer")
        pooled.conninfo.update(prepare_threshold=None, target_session_attrs="any")
        pooled.start()
    time.sleep(2)
    began = time.monotonic()
    operation()
    ended = time.monotonic()
    load.stop()
    if pooled is not None:
        pooled.stop()
    return load, pooled, began, ended


def client_view(load: Writer, began: float, ended: float) -> dict:
    """Failed transactions, and the latency the switchover added: each write's time against the writer's median before
    the switchover began, over the writes acknowledged from the start of the run until 1 s after its end."""
    before = [took for _id, at, took in load.acknowledged if at < began]
    base = statistics.median(before) if before else 0.0
    # A write that waited through the pause is acknowledged after it: its whole wait is its latency.
    during = [max(0.0, took - base) for _id, at, took in load.acknowledged if began <= at <= ended + 1.0]
    return dict(failed=load.failures, p99=percentile(during, 0.99), max=max(during, default=0.0), gap=load.longest_gap())


def plot(writers: list, path: str) -> None:
    """Each writer's write latencies over time, one colour per client path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 3.6), dpi=100)
    for label, load, lost in writers:
        times = [at - load.started for _id, at, _took in load.acknowledged]
        latencies = [took * 1000 for _id, _at, took in load.acknowledged]
        axes.plot(
            times,
            latencies,
            ".",
            markersize=3,
            label="%s: longest gap %.2f s, %d failed, %d lost" % (label, load.longest_gap(), load.failures, lost),
        )
    axes.set_yscale("log")
    axes.set_xlabel("seconds since the writers started")
    axes.set_ylabel("write latency (ms)")
    axes.set_title("Acknowledged writes during one switchover.yml run")
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    os.chdir(CHECKOUT)
    run(["lab/build-images"])
    run(["lab/cluster", "down", PREFIX, POOLER])
    run(["lab/cluster", "down", PREFIX])
    run(["lab/cluster", "up", PREFIX, *NODES, POOLER])
    write_inventory(INVENTORY)
    try:
        network = json.loads(run(["docker", "network", "inspect", PREFIX]).stdout)[0]
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        pooler_address = container_addresses(["%s-%s" % (PREFIX, POOLER)])[0]
        variables = dict(
            postgresql_replication_password="bench-only password",
            postgresql_users=[dict(name="writer", password=WRITER_PASSWORD)],
            postgresql_databases=[dict(name="appdb", owner="writer")],
            postgresql_hba_entries=[
                dict(type="host", database="appdb", user="writer", address=address + "/32", method="scram-sha-256")
                for address in (gateway, pooler_address)
            ],
        )
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as variables_file:
            json.dump(variables, variables_file)
        playbook("site", variables_file.name)
        addresses = container_addresses(["%s-%s" % (PREFIX, node) for node in NODES])
        manual, automated, durations, lost = [], [], [], 0
        views = dict(direct=[], pooled=[])
        latency_sample = None
        for _round in range(rounds):
            old, new = primary(), None
            new = next(node for node in NODES if node != old)
            load, _pooled, _began, _ended = measured(addresses, functools.partial(by_hand, old, new))
            lost += len(load.missing_on(addresses[NODES.index(new)]))
            manual.append(load.longest_gap())
            # Put the cluster back together (not measured): the old primary rejoins, the third member follows.
            playbook("rejoin", variables_file.name, "rejoin_host=" + old, "status_fail_on_critical=false")
            playbook("site", variables_file.name)
            target, timing = old, []
            load, pooled, began, ended = measured(
                addresses, functools.partial(timed_switchover, variables_file.name, target, timing), pooler_address
            )
            lost_here = len(load.missing_on(addresses[NODES.index(target)]))
            pooled_lost = len(pooled.missing_on(addresses[NODES.index(target)]))
            lost += lost_here + pooled_lost
            automated.append(load.longest_gap())
            durations.append(timing[0])
            views["direct"].append(client_view(load, began, ended))
            views["pooled"].append(client_view(pooled, began, ended))
            latency_sample = [("multi-host string", load, lost_here), ("PgBouncer", pooled, pooled_lost)]
            print(
                "round %d: by hand %.3f s, switchover.yml %.3f s (whole playbook %.1f s); failed transactions: direct %d, "
                "PgBouncer %d; added latency p99/max: direct %.2f/%.2f s, PgBouncer %.2f/%.2f s"
                % (
                    _round + 1,
                    manual[-1],
                    automated[-1],
                    durations[-1],
                    views["direct"][-1]["failed"],
                    views["pooled"][-1]["failed"],
                    views["direct"][-1]["p99"],
                    views["direct"][-1]["max"],
                    views["pooled"][-1]["p99"],
                    views["pooled"][-1]["max"],
                )
            )
        floor, ours = statistics.median(manual), statistics.median(automated)
        print("downtime by hand (floor), median of %d: %.3f s" % (rounds, floor))
        print("downtime with switchover.yml, median of %d: %.3f s (longest %.3f s)" % (rounds, ours, max(automated)))
        print("ratio switchover.yml / by hand: %.2f (goal <= 4, and under 2 s)" % (ours / floor))
        print("whole switchover.yml run, median: %.1f s" % statistics.median(durations))
        print("acknowledged writes lost: %d" % lost)
        for name, label in (("direct", "multi-host string"), ("pooled", "PgBouncer")):
            rows = views[name]
            print(
                "%s: failed transactions per switchover %.1f (total %d); added latency p99 median %.2f s, max %.2f s"
                % (
                    label,
                    sum(row["failed"] for row in rows) / len(rows),
                    sum(row["failed"] for row in rows),
                    statistics.median(row["p99"] for row in rows),
                    max(row["max"] for row in rows),
                )
            )
        pooled_p99 = statistics.median(row["p99"] for row in views["pooled"])
        print(
            "goal through PgBouncer: 0 failed (%s), p99 added latency <= 2 s (%s)"
            % ("met" if sum(row["failed"] for row in views["pooled"]) == 0 else "NOT met", "met" if pooled_p99 <= 2 else "NOT met")
        )
        if latency_sample is not None:
            plot(latency_sample, os.path.join(CHECKOUT, "docs", "switchover-latency.png"))
            print("plot: docs/switchover-latency.png")
        os.unlink(variables_file.name)
    finally:
        run(["lab/cluster", "down", PREFIX, *NODES, POOLER])
        run(["lab/cluster", "down", PREFIX])


if __name__ == "__main__":
    main()

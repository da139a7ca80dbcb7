"""Rolling minor update: update.yml's pause for clients against a plain switchover.yml's, in one run on the lab.

A cluster of three members is built on PostgreSQL 15.18 (postgresql_minor_version) from the Debian 12 mirror, which
also has 15.20. Under a writer that inserts about 100 rows per second and reconnects to whichever member takes writes,
switchover.yml hands the primary role to node2 and back ROUNDS times (the baseline: the longest gap between two
acknowledged writes, median), then update.yml moves every member to 15.20 (one switchover among the standbys'
restarts). Printed: update.yml's longest gap divided by the switchover's (goal <= 1.2), update.yml's whole run per
member, and the acknowledged writes lost (goal 0).

Usage: .venv/bin/python bench/rolling.py [ROUNDS]   (root, Docker, the Debian mirror; builds the lab images if needed)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "molecule", "shared"))

import switchover  # noqa: E402
from writer import Writer, container_addresses  # noqa: E402

PREFIX = "pgops-bench-rolling"
NODES = ["node1", "node2", "node3"]
OLD, NEW = "15.18", "15.20"
WRITER_PASSWORD = "bench writer pass"
INVENTORY = os.path.join(tempfile.gettempdir(), "pgops-bench-rolling-inventory.yml")


def run(command: list) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, cwd=CHECKOUT)


def playbook(name: str, variables_file: str, *extra: str) -> float:
    return switchover.playbook(name, variables_file, *extra, inventory=INVENTORY, prefix=PREFIX)


def server_versions() -> dict:
    return {
        node: run(["docker", "exec", "-u", "postgres", "%s-%s" % (PREFIX, node), "psql", "-XAtc", "SHOW server_version"]).stdout.split()[0]
        for node in NODES
    }


def under_writer(addresses: list, operation) -> tuple:
    """(the writer's longest gap, acknowledged writes missing on the primary at the end, the operation's result)."""
    load = Writer(addresses, "writer", WRITER_PASSWORD, "appdb").start()
    time.sleep(2)
    result = operation()
    load.stop()
    primary = next(
        address
        for node, address in zip(NODES, addresses)
        if run(["docker", "exec", "-u", "postgres", "%s-%s" % (PREFIX, node), "psql", "-XAtc", "SELECT pg_is_in_recovery()"]).stdout.strip()
        == "f"
    )
    return load.longest_gap(), len(load.missing_on(primary)), result


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    run(["lab/build-images"])
    run(["lab/cluster", "down", PREFIX])
    run(["lab/cluster", "up", PREFIX, *NODES])
    with open(os.path.join(CHECKOUT, "examples", "lab", "inventory.yml")) as lab_inventory, open(INVENTORY, "w") as inventory:
        inventory.write(lab_inventory.read())
    try:
        network = json.loads(run(["docker", "network", "inspect", PREFIX]).stdout)[0]
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        variables = dict(
            postgresql_replication_password="bench-only password",
            postgresql_minor_version=OLD,
            postgresql_users=[dict(name="writer", password=WRITER_PASSWORD)],
            postgresql_databases=[dict(name="appdb", owner="writer")],
            postgresql_hba_entries=[dict(type="host", database="appdb", user="writer", address=gateway + "/32", method="scram-sha-256")],
        )
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as variables_file:
            json.dump(variables, variables_file)
        playbook("site", variables_file.name)
        assert set(server_versions().values()) == {OLD}, server_versions()
        addresses = container_addresses(["%s-%s" % (PREFIX, node) for node in NODES])
        switchover_gaps, lost = [], 0
        for _round in range(rounds):
            for target in ("node2", "node1"):
                gap, missing, _took = under_writer(
                    addresses, lambda target=target: playbook("switchover", variables_file.name, "new_primary=" + target)
                )
                switchover_gaps.append(gap)
                lost += missing
                print("switchover.yml to %s: longest gap %.3f s, lost %d" % (target, gap, missing))
        update_gap, missing, update_took = under_writer(
            addresses, lambda: playbook("update", variables_file.name, "postgresql_minor_version=" + NEW)
        )
        lost += missing
        versions = server_versions()
        assert set(versions.values()) == {NEW}, versions
        baseline = statistics.median(switchover_gaps)
        print("switchover.yml, longest gap, median of %d: %.3f s" % (len(switchover_gaps), baseline))
        print(
            "update.yml %s -> %s, longest gap: %.3f s; whole run %.1f s, %.1f s per member"
            % (OLD, NEW, update_gap, update_took, update_took / len(NODES))
        )
        print("ratio update.yml gap / switchover.yml gap: %.2f (goal <= 1.2)" % (update_gap / baseline))
        print("acknowledged writes lost: %d (goal 0)" % lost)
        os.unlink(variables_file.name)
    finally:
        run(["lab/cluster", "down", PREFIX])


if __name__ == "__main__":
    main()

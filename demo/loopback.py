"""Interim demo: a primary and two standbys on loopback, built with this collection's modules, then their status.

It stands in for the container lab and site.yml (issue 3) so that `make demo` shows the modules at work today.
Servers keep running until `make demo-clean`.
"""

from __future__ import annotations

import os
import shutil
import sys

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "tests", "integration"))
from pglab import BIN_DIR, Instance, ModuleRunner, chown_to_server_user, run_as_server_user  # noqa: E402

DEMO_DIR = "/tmp/pgops-demo"
REPLICATION_PASSWORD = "demo replication password"


def succeed(result: dict, what: str) -> dict:
    if result.get("failed"):
        sys.exit("%s failed: %s" % (what, result.get("msg")))
    return result


def main() -> None:
    if os.path.exists(DEMO_DIR):
        sys.exit("%s exists: run `make demo-clean` first" % DEMO_DIR)
    os.makedirs(DEMO_DIR)
    os.chmod(DEMO_DIR, 0o755)
    chown_to_server_user(DEMO_DIR)
    modules = ModuleRunner(DEMO_DIR)

    primary = Instance(DEMO_DIR, "node1").initdb()
    primary.start()
    print("node1: primary started on 127.0.0.1:%d" % primary.port)
    succeed(modules.run("pg_replication_user", primary.login(name="replicator", password=REPLICATION_PASSWORD)), "replication user")
    standbys = [Instance(DEMO_DIR, name) for name in ("node2", "node3")]
    for standby in standbys:
        succeed(modules.run("pg_replication_slot", primary.login(name=standby.name)), "slot " + standby.name)
        result = succeed(
            modules.run(
                "pg_basebackup",
                primary.upstream(
                    data_dir=standby.data_dir,
                    replication_password=REPLICATION_PASSWORD,
                    passfile=os.path.join(standby.home, "pgpass"),
                    application_name=standby.name,
                    slot_name=standby.name,
                    bin_dir=BIN_DIR,
                ),
            ),
            "clone " + standby.name,
        )
        standby.start()
        print(
            "%s: cloned %d MB in %.1f s, standby started on 127.0.0.1:%d"
            % (standby.name, result["size_bytes"] // 2**20, result["duration_seconds"], standby.port)
        )
    primary.query("CREATE TABLE demo AS SELECT generate_series(1, 10000) AS id")
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", len(standbys))
    for standby in standbys:
        standby.wait_for("SELECT count(*) FROM demo", 10000)

    print()
    print("%-6s %-8s %-3s %-12s %-10s %-6s %-6s %s" % ("host", "role", "tli", "lsn", "lag bytes", "sync", "slot", "upstream"))
    replication = {}
    slots = {}
    for instance in [primary] + standbys:
        result = succeed(modules.run("pg_replication_facts", instance.login(data_dir=instance.data_dir)), "facts")
        facts = result["ansible_facts"]["pg_replication"]
        for row in facts["replication"]:
            replication[row["application_name"]] = row
        for slot in facts["slots"]:
            slots[slot["slot_name"]] = slot
        if facts["role"] == "primary":
            print(
                "%-6s %-8s %-3s %-12s %-10s %-6s %-6s %s"
                % (instance.name, "primary", facts["timeline"], facts["current_lsn"], "-", "-", "-", "-")
            )
            continue
        row = replication.get(instance.name, {})
        slot = slots.get(instance.name, {})
        receiver = facts["wal_receiver"] or {}
        print(
            "%-6s %-8s %-3s %-12s %-10s %-6s %-6s %s"
            % (
                instance.name,
                facts["role"],
                facts["timeline"],
                facts["replayed_lsn"],
                row.get("replay_lag_bytes", "?"),
                row.get("sync_state", "?"),
                "active" if slot.get("active") else "down",
                "%s:%s (%s)" % (receiver.get("sender_host"), receiver.get("sender_port"), receiver.get("status")),
            )
        )
    print()
    print("Servers keep running (data in %s); `make demo-clean` stops and removes them." % DEMO_DIR)


def clean() -> None:
    if not os.path.isdir(DEMO_DIR):
        return
    for name in sorted(os.listdir(DEMO_DIR)):
        data_dir = os.path.join(DEMO_DIR, name, "data")
        if os.path.exists(os.path.join(data_dir, "postmaster.pid")):
            run_as_server_user([os.path.join(BIN_DIR, "pg_ctl"), "-D", data_dir, "-m", "immediate", "-w", "stop"], check=False)
    shutil.rmtree(DEMO_DIR)
    print("removed %s" % DEMO_DIR)


if __name__ == "__main__":
    clean() if sys.argv[1:] == ["clean"] else main()

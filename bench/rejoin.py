"""Rejoin cost: pg_rewind against a re-clone, for databases of growing size with the same small divergence.

For each size: a primary with that much data and a standby cloned from it; the standby is promoted and both take
1,000 rows the other does not have, as after a failover. The old primary then rejoins twice, each time through the
modules (as rejoin.yml runs them) and until it streams from the new primary again:
  1. pg_rewind (the divergence only),
  2. a re-clone with pg_basebackup force=true (everything).
Prints both times and the ratio rewind / re-clone per size.

Usage: .venv/bin/python bench/rejoin.py [SIZE_MB ...]   (default 100 1000 4000; root or the PostgreSQL OS user)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "tests", "integration"))
from pglab import BIN_DIR, SUPERUSER_PASSWORD, Lab, ModuleRunner, chown_to_server_user  # noqa: E402

ROWS_PER_MB = 4200


def upstream(old, new, **extra) -> dict:
    options = new.upstream(
        data_dir=old.data_dir,
        replication_password="repl pass",
        passfile=os.path.join(old.home, "pgpass"),
        application_name="old",
        bin_dir=BIN_DIR,
    )
    options.update(extra)
    return options


def until_streaming(old, new) -> None:
    old.start()
    new.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'old'", "streaming", timeout=600)


def measure(base: str, size_mb: int, modules: ModuleRunner) -> tuple:
    lab = Lab(base)
    try:
        old = lab.primary("old%d" % size_mb)
        old.query("CREATE TABLE filler AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, %s) g", (size_mb * ROWS_PER_MB,))
        old.query("CREATE TABLE t (id int, origin text)")
        new = lab.clone(old, "new%d" % size_mb, modules)
        old.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 1, timeout=600)
        old.wait_for("SELECT replay_lsn = pg_current_wal_lsn() FROM pg_stat_replication", True, timeout=600)
        size = old.value("SELECT pg_database_size('postgres')") // 2**20
        # A settled cluster: the bulk load is behind a checkpoint, as checkpoint_timeout would make it. Without this,
        # the old primary's WAL back to the last common checkpoint is recycled at its shutdown (rejoin.yml then re-clones).
        old.query("CHECKPOINT")
        old.wait_for("SELECT replay_lsn = pg_current_wal_lsn() FROM pg_stat_replication", True, timeout=600)
        new.query("SELECT pg_promote(true, 60)")
        new.query("INSERT INTO t SELECT g, 'new' FROM generate_series(1, 1000) g")
        old.query("INSERT INTO t SELECT g, 'lost' FROM generate_series(1, 1000) g")
        new.query("CHECKPOINT")
        old.stop()

        started = time.monotonic()
        result = modules.run("pg_rewind", upstream(old, new, source_password=SUPERUSER_PASSWORD))
        if result.get("failed") or not result["rewound"]:
            sys.exit("pg_rewind did not rewind: %s" % result.get("msg", result))
        until_streaming(old, new)
        rewind_seconds = time.monotonic() - started

        old.stop()
        started = time.monotonic()
        result = modules.run("pg_basebackup", upstream(old, new, reclone=True, create_slot=False))
        if result.get("failed"):
            sys.exit("re-clone failed: %s" % result["msg"])
        until_streaming(old, new)
        reclone_seconds = time.monotonic() - started
        shutil.rmtree(result["kept_aside"], ignore_errors=True)
        return size, rewind_seconds, reclone_seconds
    finally:
        lab.close()


def main() -> None:
    sizes = [int(argument) for argument in sys.argv[1:]] or [100, 1000, 4000]
    base = tempfile.mkdtemp(prefix="pgops-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    chown_to_server_user(base)
    modules = ModuleRunner(base)
    rows = []
    try:
        for size_mb in sizes:
            size, rewind_seconds, reclone_seconds = measure(base, size_mb, modules)
            rows.append((size, rewind_seconds, reclone_seconds))
            print(
                "%6d MB: pg_rewind %6.2f s, re-clone %7.2f s, ratio rewind / re-clone %.3f"
                % (size, rewind_seconds, reclone_seconds, rewind_seconds / reclone_seconds),
                flush=True,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    smallest, largest = rows[0], rows[-1]
    print("rewind time, largest / smallest database: %.2f (flat is 1.0)" % (largest[1] / smallest[1]))
    print("rewind / re-clone at the largest size: %.3f (goal <= 0.10)" % (largest[1] / largest[2]))


if __name__ == "__main__":
    main()

"""Clone time: the pg_basebackup module (through ansible) against pg_basebackup run by hand, in one run.

Usage: .venv/bin/python bench/clone.py [size_mb]   (run as root or as the PostgreSQL OS user)
Prints each timing and the ratio module / by hand; the module adds ansible's start-up, the identity check
over a replication connection, the staging rename and the standby configuration.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(CHECKOUT, "tests", "integration"))
from pglab import BIN_DIR, Lab, ModuleRunner, chown_to_server_user, run_as_server_user  # noqa: E402

ROUNDS = 3


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    base = tempfile.mkdtemp(prefix="pgops-bench-", dir="/tmp")
    os.chmod(base, 0o755)
    chown_to_server_user(base)
    lab = Lab(base)
    try:
        primary = lab.primary()
        primary.query("CREATE TABLE filler AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, %s) g", (size_mb * 4200,))
        print("database: %d MB" % (primary.value("SELECT pg_database_size('postgres')") // 2**20))
        passfile = os.path.join(base, "pgpass")
        modules = ModuleRunner(base)
        by_hand, module = [], []
        # The module writes the password file first; the run by hand then uses the same file and connection.
        for round_number in range(ROUNDS):
            target = os.path.join(base, "module%d" % round_number)
            started = time.monotonic()
            result = modules.run(
                "pg_basebackup", primary.upstream(data_dir=target, replication_password="repl pass", passfile=passfile, bin_dir=BIN_DIR)
            )
            module.append(time.monotonic() - started)
            if result.get("failed"):
                sys.exit("module failed: %s" % result["msg"])
            shutil.rmtree(target)
            target = os.path.join(base, "hand%d" % round_number)
            started = time.monotonic()
            run_as_server_user(
                [
                    os.path.join(BIN_DIR, "pg_basebackup"),
                    "-D",
                    target,
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "-R",
                    "-w",
                    "-d",
                    "host=127.0.0.1 port=%d user=replicator passfile=%s" % (primary.port, passfile),
                ]
            )
            by_hand.append(time.monotonic() - started)
            shutil.rmtree(target)

        hand_best, module_best = min(by_hand), min(module)
        print("pg_basebackup by hand (best of %d): %.2f s" % (ROUNDS, hand_best))
        print("pg_basebackup module  (best of %d): %.2f s" % (ROUNDS, module_best))
        print("ratio module / by hand: %.2f" % (module_best / hand_best))
    finally:
        lab.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

import os
import stat
import threading
import time

import psycopg
from pglab import BIN_DIR, assert_clean_failure, chown_to_server_user


def test_clone_streams_and_second_run_is_unchanged(lab, modules):
    primary = lab.primary()
    primary.query("CREATE TABLE t (id int)")
    primary.query("INSERT INTO t VALUES (1)")
    standby = lab.clone(primary, "standby1", modules, slot_name="standby1")
    result = standby.clone_result
    assert result["changed"] is True and result["action"] == "cloned"
    assert result["slot_created"] is True
    assert result["size_bytes"] > 1_000_000 and result["duration_seconds"] > 0

    # Real state: the primary sees the standby streaming through its slot, and new rows arrive.
    primary.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'", "streaming")
    assert primary.value("SELECT active FROM pg_replication_slots WHERE slot_name = 'standby1'") is True
    primary.query("INSERT INTO t VALUES (2)")
    standby.wait_for("SELECT count(*) FROM t", 2)
    assert standby.value("SELECT pg_is_in_recovery()") is True
    assert standby.value("SELECT system_identifier::text FROM pg_control_system()") == result["system_identifier"]

    # The password lives only in the 0600 passfile; primary_conninfo names the file.
    passfile = os.path.join(standby.home, "pgpass")
    assert stat.S_IMODE(os.stat(passfile).st_mode) == 0o600
    conninfo = standby.value("SHOW primary_conninfo")
    assert "passfile=" in conninfo and "repl pass" not in conninfo and "password" not in conninfo
    with open(os.path.join(standby.data_dir, "postgresql.auto.conf")) as auto_conf:
        assert "repl pass" not in auto_conf.read()

    again = modules.run(
        "pg_basebackup",
        primary.upstream(
            data_dir=standby.data_dir,
            replication_password="repl pass",
            passfile=passfile,
            application_name="standby1",
            slot_name="standby1",
            bin_dir=BIN_DIR,
        ),
    )
    assert again["changed"] is False and again["action"] == "unchanged"
    assert standby.value("SELECT pg_is_in_recovery()") is True


def test_check_mode_creates_nothing(lab, modules):
    primary = lab.primary()
    target = os.path.join(lab.base, "never")
    passfile = os.path.join(lab.base, "pgpass-check")
    result = modules.run(
        "pg_basebackup",
        primary.upstream(data_dir=target, replication_password="repl pass", passfile=passfile, slot_name="never", bin_dir=BIN_DIR),
        check=True,
    )
    assert result["changed"] is True and result["action"] == "cloned" and result["slot_created"] is True
    assert not os.path.exists(target) and not os.path.exists(passfile)
    assert primary.value("SELECT count(*) FROM pg_replication_slots") == 0


def test_foreign_directory_is_refused_and_untouched(lab, modules):
    primary = lab.primary()
    target = lab.instance("foreign")
    os.makedirs(target.data_dir)
    precious = os.path.join(target.data_dir, "precious.txt")
    with open(precious, "w") as handle:
        handle.write("do not delete")
    result = modules.run(
        "pg_basebackup",
        primary.upstream(
            data_dir=target.data_dir, replication_password="repl pass", passfile=os.path.join(target.home, "pgpass"), bin_dir=BIN_DIR
        ),
    )
    assert_clean_failure(result, r"already holds files that are not a PostgreSQL data directory.*nothing was changed.*force=true")
    assert os.listdir(target.data_dir) == ["precious.txt"]
    with open(precious) as handle:
        assert handle.read() == "do not delete"


def test_other_cluster_is_refused_then_replaced_with_force_keeping_it_aside(lab, modules):
    primary = lab.primary()
    other = lab.instance("other").initdb()
    other.start()
    other.query("CREATE TABLE marker AS SELECT 'old cluster' AS what")
    other_identifier = other.value("SELECT system_identifier::text FROM pg_control_system()")
    args = primary.upstream(
        data_dir=other.data_dir,
        replication_password="repl pass",
        passfile=os.path.join(other.home, "pgpass"),
        application_name="other",
        bin_dir=BIN_DIR,
    )
    refused = modules.run("pg_basebackup", args)
    assert_clean_failure(refused, r"already holds PostgreSQL cluster %s" % other_identifier)

    forced_while_running = modules.run("pg_basebackup", dict(args, force=True))
    assert_clean_failure(forced_while_running, r"is running on .*stop it")
    assert other.value("SELECT what FROM marker") == "old cluster"

    other.stop()
    replaced = modules.run("pg_basebackup", dict(args, force=True))
    assert replaced["changed"] is True and replaced["action"] == "replaced"
    kept = replaced["kept_aside"]
    assert kept.startswith(other.data_dir + ".pgops-old-")
    assert os.path.isfile(os.path.join(kept, "PG_VERSION"))
    assert not [name for name in os.listdir(other.home) if name.endswith(".pgops-clone")]
    other.start()
    assert other.value("SELECT system_identifier::text FROM pg_control_system()") == primary.value(
        "SELECT system_identifier::text FROM pg_control_system()"
    )
    primary.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'other'", "streaming")


def test_interrupted_clone_leftover_is_replaced(lab, modules):
    primary = lab.primary()
    standby = lab.instance("standby")
    leftover = os.path.join(standby.home, ".data.pgops-clone")
    os.makedirs(leftover)
    with open(os.path.join(leftover, "PG_VERSION"), "w") as handle:
        handle.write("15\n")
    for path in (leftover, os.path.join(leftover, "PG_VERSION")):
        chown_to_server_user(path)
    result = modules.run(
        "pg_basebackup",
        primary.upstream(
            data_dir=standby.data_dir, replication_password="repl pass", passfile=os.path.join(standby.home, "pgpass"), bin_dir=BIN_DIR
        ),
    )
    assert result["changed"] is True
    assert not os.path.exists(leftover)
    standby.start()
    assert standby.value("SELECT pg_is_in_recovery()") is True


def hold_wal_senders(primary, count: int) -> list:
    """Replication connections that take `count` WAL senders, as standbys that stream or clones in flight do."""
    return [
        psycopg.connect(host="127.0.0.1", port=primary.port, user="replicator", password="repl pass", replication="true")
        for _held in range(count)
    ]


def primary_with_two_wal_senders(lab):
    primary = lab.primary()
    primary.append_config("max_wal_senders = 2")
    primary.stop()
    primary.start()
    assert primary.value("SHOW max_wal_senders") == "2"
    return primary


def test_a_clone_refused_for_lack_of_wal_senders_waits_until_they_free(lab, modules):
    primary = primary_with_two_wal_senders(lab)
    held = hold_wal_senders(primary, 2)
    # The senders free after 4 s, as when two clones in flight end.
    releaser = threading.Timer(4, lambda: [connection.close() for connection in held])
    releaser.start()
    try:
        standby = lab.clone(primary, "waited", modules, slot_name="waited", wal_sender_wait=120)
    finally:
        releaser.cancel()
        for connection in held:
            connection.close()
    result = standby.clone_result
    assert result["action"] == "cloned"
    assert 1 <= result["wal_sender_waited_seconds"] < 60, result
    primary.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'waited'", "streaming")


def test_a_clone_still_refused_after_its_wait_fails_and_leaves_nothing(lab, modules):
    primary = primary_with_two_wal_senders(lab)
    held = hold_wal_senders(primary, 2)
    target = lab.instance("refused")
    try:
        started = time.monotonic()
        result = modules.run(
            "pg_basebackup",
            primary.upstream(
                data_dir=target.data_dir,
                replication_password="repl pass",
                passfile=os.path.join(target.home, "pgpass"),
                slot_name="refused",
                bin_dir=BIN_DIR,
                wal_sender_wait=3,
            ),
        )
        took = time.monotonic() - started
    finally:
        for connection in held:
            connection.close()
    shortage = r"number of requested standby connections exceeds max_wal_senders"
    assert_clean_failure(result, shortage + r" .*still refused after \d+ tries in \d+ s, wal_sender_wait 3 s")
    assert 3 <= took < 30
    assert not os.path.exists(target.data_dir)
    # The module's own connection was refused before it could create the slot.
    assert primary.value("SELECT count(*) FROM pg_replication_slots") == 0

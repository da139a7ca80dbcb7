"""The module steps of a switchover, run by hand: pg_shutdown, pg_promote's gate, pg_follow."""

import os

from pglab import BIN_DIR, assert_clean_failure, follow_args


def test_switchover_by_module_steps(lab, modules):
    old = lab.primary("old")
    old.query("CREATE TABLE t (id int)")
    old.query("INSERT INTO t SELECT generate_series(1, 500)")
    new = lab.clone(old, "new", modules)
    new.wait_for("SELECT count(*) FROM t", 500)
    old.query("INSERT INTO t VALUES (501)")

    checked = modules.run("pg_shutdown", dict(old.login(), data_dir=old.data_dir, fence=True, checkpoint=True, bin_dir=BIN_DIR), check=True)
    assert checked["changed"] is True and old.running()

    stopped = modules.run("pg_shutdown", dict(old.login(), data_dir=old.data_dir, fence=True, checkpoint=True, bin_dir=BIN_DIR))
    assert stopped["changed"] is True and stopped["was_running"] is True and stopped["cluster_state"] == "shut down"
    assert not old.running()
    assert os.path.exists(os.path.join(old.data_dir, "standby.signal"))
    again = modules.run("pg_shutdown", dict(data_dir=old.data_dir, fence=True, bin_dir=BIN_DIR))
    assert again["changed"] is False and again["checkpoint_lsn"] == stopped["checkpoint_lsn"]

    promoted = modules.run("pg_promote", dict(new.login(), wait_for_lsn=stopped["checkpoint_lsn"], lsn_timeout=10, checkpoint=True))
    assert promoted["promoted"] is True and promoted["gate_reached"] is True, promoted
    assert new.value("SELECT count(*) FROM t") == 501
    assert new.value("SELECT timeline_id FROM pg_control_checkpoint()") == 2
    new.query("INSERT INTO t VALUES (502)")

    followed = modules.run("pg_follow", follow_args(old, new))
    assert followed["changed"] is True and followed["running"] is False and followed["reloaded"] is False
    # The old primary stopped at its shutdown checkpoint, which the new primary has: it follows without a rewind.
    old.start()
    new.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'old'", "streaming")
    old.wait_for("SELECT count(*) FROM t", 502)
    assert old.value("SELECT pg_is_in_recovery()") is True
    assert modules.run("pg_follow", follow_args(old, new))["changed"] is False


def test_follow_moves_a_running_standby(lab, modules):
    primary = lab.primary()
    primary.query("CREATE TABLE t (id int)")
    middle = lab.clone(primary, "middle", modules)
    leaf = lab.clone(primary, "leaf", modules)
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 2)
    assert leaf.value("SELECT sender_port FROM pg_stat_wal_receiver") == primary.port

    checked = modules.run("pg_follow", follow_args(leaf, middle, wait_timeout=5), check=True)
    assert checked["changed"] is True and "port=%d" % middle.port in checked["primary_conninfo"]
    assert leaf.value("SELECT sender_port FROM pg_stat_wal_receiver") == primary.port

    moved = modules.run("pg_follow", follow_args(leaf, middle, wait_timeout=30))
    assert moved["changed"] is True and moved["reloaded"] is True and moved["streaming"] is True, moved
    assert leaf.value("SELECT sender_port FROM pg_stat_wal_receiver") == middle.port
    primary.query("INSERT INTO t VALUES (1)")
    leaf.wait_for("SELECT count(*) FROM t", 1)
    unchanged = modules.run("pg_follow", follow_args(leaf, middle, wait_timeout=5))
    assert unchanged["changed"] is False and unchanged["reloaded"] is False and unchanged["streaming"] is True


def test_follow_refuses_a_running_primary(lab, modules):
    primary = lab.primary()
    other = lab.primary("other")
    result = modules.run("pg_follow", follow_args(primary, other))
    assert_clean_failure(result, "runs as a primary")
    assert not os.path.exists(os.path.join(primary.data_dir, "standby.signal"))


def test_follow_times_out_naming_the_upstream(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby", modules)
    result = modules.run("pg_follow", follow_args(standby, primary, primary_port=1, wait_timeout=2))
    assert_clean_failure(result, "does not stream from 127.0.0.1:1 after 2 seconds")


def test_shutdown_bad_inputs(lab, modules):
    primary = lab.primary()
    assert_clean_failure(modules.run("pg_shutdown", dict(data_dir=primary.home)), "not a PostgreSQL data directory")
    assert_clean_failure(modules.run("pg_shutdown", dict(data_dir=primary.data_dir, timeout=0)), "timeout")
    assert_clean_failure(modules.run("pg_shutdown", dict(data_dir=primary.data_dir, login_port=0)), "login_port must be a TCP port")
    assert_clean_failure(modules.run("pg_shutdown", dict(data_dir=primary.data_dir, service="postgresql")), "Unsupported parameters")
    assert_clean_failure(modules.run("pg_shutdown", dict(data_dir=primary.data_dir, mode="immediate")), "mode")
    assert primary.running()


def test_shutdown_fences_a_crashed_server_without_failing(lab, modules):
    primary = lab.primary()
    primary.kill()
    fenced = modules.run("pg_shutdown", dict(data_dir=primary.data_dir, fence=True, bin_dir=BIN_DIR))
    assert fenced["changed"] is True and fenced["was_running"] is False and fenced["clean_shutdown"] is False
    assert os.path.exists(os.path.join(primary.data_dir, "standby.signal"))
    primary.start()
    assert primary.value("SELECT pg_is_in_recovery()") is True


def test_follow_diff_never_shows_a_hand_made_password(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby", modules)
    # What a hand-run guide leaves: the password inside primary_conninfo.
    standby.append_config(
        "primary_conninfo = 'host=127.0.0.1 port=%d user=replicator password=''hand s3cret'''" % primary.port,
        path=os.path.join(standby.data_dir, "postgresql.auto.conf"),
    )
    result = modules.run("pg_follow", follow_args(standby, primary, wait_timeout=30), diff=True)
    assert result.get("failed") is not True and result["changed"] is True, result.get("msg")
    # The diff is printed (and left out of the stored result): every line of it is in the output.
    assert "primary_conninfo" in result["_output"] and "********" in result["_output"], result["_output"]
    assert "hand s3cret" not in result["_output"] and "hand s3cret" not in str(result)

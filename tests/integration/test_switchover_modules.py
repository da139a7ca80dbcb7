"""The module steps of a switchover, run by hand: pg_shutdown, pg_promote's gate, pg_follow (and its detach before a failover)."""

import os
import time

from pglab import BIN_DIR, assert_clean_failure, follow_args

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import read_config_values, rewrite_config_text


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
    assert_clean_failure(
        result,
        r"does not stream from 127.0.0.1:1 after 2 seconds: no WAL receiver runs, so every attempt to connect to 127.0.0.1:1 "
        r"failed. The standby's server log says why.*pg_hba.conf not admitting this host for replication as replicator, a "
        r"wrong replication password \(passfile .*pgpass\)",
    )
    assert "None" not in result["msg"]


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


def detach_args(standby, **extra) -> dict:
    """pg_follow's options that make `standby` follow no primary."""
    return dict(standby.login(), data_dir=standby.data_dir, detach=True, **extra)


def standby_settings(standby) -> dict:
    with open(os.path.join(standby.data_dir, "postgresql.auto.conf")) as config:
        return read_config_values(config.read())


def test_detach_stops_following_any_primary(lab, modules):
    primary = lab.primary()
    primary.query("CREATE TABLE t (id int)")
    standby = lab.clone(primary, "standby", modules)
    # A standby that keeps streaming: proof that what the detached one lacks was sent.
    witness = lab.clone(primary, "witness", modules)
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 2)
    settings_before = standby_settings(standby)

    checked = modules.run("pg_follow", detach_args(standby, wait_timeout=30), check=True, diff=True)
    assert checked.get("failed") is not True and checked["changed"] is True, checked.get("msg")
    assert checked["reloaded"] is False and checked["streaming"] is None and checked["primary_conninfo"] == ""
    assert "primary_conninfo = ''" in checked["_output"], checked["_output"]
    assert standby_settings(standby) == settings_before
    assert standby.value("SELECT status FROM pg_stat_wal_receiver") == "streaming"

    detached = modules.run("pg_follow", detach_args(standby, wait_timeout=30), diff=True)
    assert detached.get("failed") is not True, detached.get("msg")
    assert detached["changed"] is True and detached["reloaded"] is True and detached["streaming"] is False, detached
    assert detached["config_file"] == os.path.join(standby.data_dir, "postgresql.auto.conf")
    settings = standby_settings(standby)
    assert settings["primary_conninfo"] == "" and settings["primary_slot_name"] == ""
    assert standby.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0
    assert standby.value("SHOW primary_conninfo") == ""
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby'", 0)
    assert standby.value("SELECT pg_is_in_recovery()") is True
    assert os.path.exists(os.path.join(standby.data_dir, "standby.signal"))

    primary.query("INSERT INTO t VALUES (1)")
    witness.wait_for("SELECT count(*) FROM t", 1)
    time.sleep(2)
    assert standby.value("SELECT count(*) FROM t") == 0
    assert standby.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0
    assert primary.value("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby'") == 0

    again = modules.run("pg_follow", detach_args(standby, wait_timeout=30))
    assert again["changed"] is False and again["reloaded"] is False and again["streaming"] is False, again

    followed = modules.run("pg_follow", follow_args(standby, primary, wait_timeout=30))
    assert followed["changed"] is True and followed["reloaded"] is True and followed["streaming"] is True, followed
    standby.wait_for("SELECT count(*) FROM t", 1)
    primary.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'standby'", "streaming")


def test_detach_of_a_stopped_standby_holds_after_its_start(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby", modules)
    standby.stop()
    os.unlink(os.path.join(standby.data_dir, "standby.signal"))

    detached = modules.run("pg_follow", detach_args(standby, wait_timeout=30))
    assert detached["changed"] is True and detached["running"] is False and detached["reloaded"] is False, detached
    assert detached["streaming"] is None
    assert os.path.exists(os.path.join(standby.data_dir, "standby.signal"))
    assert modules.run("pg_follow", detach_args(standby))["changed"] is False

    standby.start()
    assert standby.value("SELECT pg_is_in_recovery()") is True
    time.sleep(2)
    assert standby.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0
    assert primary.value("SELECT count(*) FROM pg_stat_replication") == 0


def test_detach_reloads_a_standby_that_has_not_applied_its_file(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby", modules)
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 1)
    # The file already says what detach writes, but nobody reloaded the server: its WAL receiver still streams.
    config_path = os.path.join(standby.data_dir, "postgresql.auto.conf")
    with open(config_path) as config:
        detached_text = rewrite_config_text(config.read(), {"primary_conninfo": "", "primary_slot_name": ""})
    with open(config_path, "w") as config:
        config.write(detached_text)
    assert standby.value("SELECT status FROM pg_stat_wal_receiver") == "streaming"

    detached = modules.run("pg_follow", detach_args(standby, wait_timeout=30))
    assert detached["changed"] is True and detached["reloaded"] is True and detached["streaming"] is False, detached
    with open(config_path) as config:
        assert config.read() == detached_text
    assert standby.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0
    assert modules.run("pg_follow", detach_args(standby, wait_timeout=30))["changed"] is False


def test_detach_refuses_a_running_primary(lab, modules):
    primary = lab.primary()
    result = modules.run("pg_follow", detach_args(primary))
    assert_clean_failure(result, "runs as a primary: there is no primary for it to stop following")
    assert not os.path.exists(os.path.join(primary.data_dir, "standby.signal"))
    assert "primary_conninfo" not in standby_settings(primary)


def test_detach_names_the_file_whose_primary_conninfo_wins(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby", modules)
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 1)
    # A file postgresql.conf includes is read before postgresql.auto.conf, whose primary_conninfo (from the clone) wins.
    included = os.path.join(standby.home, "standby.conf")
    standby.append_config("include_if_exists '%s'" % included)

    result = modules.run("pg_follow", detach_args(standby, standby_config_file=included, wait_timeout=2))
    assert_clean_failure(
        result,
        r"still runs a WAL receiver after 2 seconds \(streaming from 127\.0\.0\.1:%d\); the server still has a primary_conninfo, "
        r"from .*/postgresql\.auto\.conf line \d+, instead of the empty one in .*/standby\.conf" % primary.port,
    )
    assert result["reloaded"] is True and result["streaming"] is True
    assert standby.value("SELECT status FROM pg_stat_wal_receiver") == "streaming"

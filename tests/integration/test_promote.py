from pglab import assert_clean_failure

from ansible_collections.pgops.replication.plugins.module_utils.lsn import format_lsn, parse_lsn


def test_promote_gated_on_lsn(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules)
    primary.query("CREATE TABLE t (id int)")
    primary.query("INSERT INTO t VALUES (1)")
    target = primary.value("SELECT pg_current_wal_lsn()::text")
    primary.stop()

    unreachable = format_lsn(parse_lsn(target) + 16 * 1024 * 1024)
    timed_out = modules.run("pg_promote", standby.login(wait_for_lsn=unreachable, lsn_timeout=2))
    assert_clean_failure(timed_out, r"replay reached .*, not %s, within 2 seconds: not promoted" % unreachable)
    assert timed_out["gate_reached"] is False
    assert standby.value("SELECT pg_is_in_recovery()") is True

    checked = modules.run("pg_promote", standby.login(wait_for_lsn=target), check=True)
    assert checked["changed"] is True and checked["gate_reached"] is True
    assert standby.value("SELECT pg_is_in_recovery()") is True

    promoted = modules.run("pg_promote", standby.login(wait_for_lsn=target, lsn_timeout=10))
    assert promoted["changed"] is True and promoted["promoted"] is True and promoted["gate_reached"] is True
    assert promoted["timeline_before"] == 1 and promoted["timeline_after"] == 2
    assert standby.value("SELECT pg_is_in_recovery()") is False
    standby.query("INSERT INTO t VALUES (2)")
    assert standby.value("SELECT count(*) FROM t") == 2
    assert parse_lsn(promoted["lsn"]) >= parse_lsn(target)

    again = modules.run("pg_promote", standby.login(wait_for_lsn=target))
    assert again["changed"] is False and again["promoted"] is False and again["timeline_after"] == 2


def test_paused_replay_is_refused(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules)
    standby.query("SELECT pg_wal_replay_pause()")
    standby.wait_for("SELECT pg_get_wal_replay_pause_state()", "paused")
    result = modules.run("pg_promote", standby.login())
    assert_clean_failure(result, r"WAL replay is paused")
    assert standby.value("SELECT pg_is_in_recovery()") is True


def test_a_promotion_slower_than_its_timeout_is_reported_as_requested(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules)
    primary.stop()
    # A slow archive: at the end of recovery the startup process asks restore_command for the next WAL segment and
    # for the history file of each newer timeline, so the promotion outlasts pg_promote's wait.
    standby.append_config("restore_command = 'sleep 2; false'")
    standby.query("SELECT pg_reload_conf()")
    standby.wait_for("SELECT current_setting('restore_command')", "sleep 2; false")

    result = modules.run("pg_promote", standby.login(promote_timeout=1))
    assert_clean_failure(result, r"promotion was requested but had not finished after 1 seconds: the request stays in force")
    assert result["changed"] is True and result["promotion_requested"] is True and result["promoted"] is False
    # The request was not withdrawn: the server leaves recovery on its own, which is why no caller may start the old
    # primary again once it has seen promotion_requested.
    standby.wait_for("SELECT pg_is_in_recovery()", False, timeout=60)


def test_a_refused_promotion_was_never_requested(lab, modules):
    primary = lab.primary()
    primary.query("CREATE ROLE watcher LOGIN IN ROLE pg_monitor")
    standby = lab.clone(primary, "standby1", modules)
    result = modules.run("pg_promote", standby.login(login_user="watcher"))
    assert_clean_failure(result, r"pg_promote failed: .*permission denied")
    assert result["changed"] is False and result["promotion_requested"] is False
    assert standby.value("SELECT pg_is_in_recovery()") is True


def test_the_delay_is_waited_before_promoting_and_checked_again(lab, modules):
    import threading
    import time

    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules)
    other = lab.clone(primary, "standby2", modules)
    primary.stop()

    # While the module waits (connected, idle), the server is promoted from elsewhere: the module must notice.
    def promote_once_the_module_waits():
        standby.wait_for(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " AND state = 'idle'",
            True,
            timeout=60,
        )
        standby.query("SELECT pg_promote(true, 30)")

    promoted_elsewhere = threading.Thread(target=promote_once_the_module_waits)
    promoted_elsewhere.start()
    result = modules.run("pg_promote", standby.login(delay=8))
    promoted_elsewhere.join()
    assert_clean_failure(result, r"the server left recovery during the 8 s delay: something else promoted it")
    assert result["promoted"] is False and result["promotion_requested"] is False

    started = time.monotonic()
    result = modules.run("pg_promote", other.login(delay=3))
    assert result["promoted"] is True and time.monotonic() - started >= 3
    assert other.value("SELECT pg_is_in_recovery()") is False

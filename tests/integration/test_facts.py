import os

from pglab import BIN_DIR, chown_to_server_user, follow_args

MiB = 1024 * 1024
DATABASES_SIZE = "SELECT sum(pg_database_size(oid))::bigint FROM pg_database"


def facts_of(modules, instance, **extra):
    args = instance.login(bin_dir=BIN_DIR)
    args.update(extra)
    result = modules.run("pg_replication_facts", args)
    assert result.get("failed") is not True, result
    return result["ansible_facts"]["pg_replication"]


def test_primary_and_standby_facts_match_the_database(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules, slot_name="standby1")
    primary.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'standby1'", "streaming")
    primary.query("CREATE TABLE t AS SELECT generate_series(1, 1000) AS id")
    standby.wait_for("SELECT count(*) FROM t", 1000)

    facts = facts_of(modules, primary, data_dir=primary.data_dir)
    assert facts["running"] is True and facts["role"] == "primary"
    assert facts["system_identifier"] == primary.value("SELECT system_identifier::text FROM pg_control_system()")
    assert facts["timeline"] == 1
    assert facts["server_version_num"] == int(primary.value("SHOW server_version_num"))
    assert facts["current_lsn"] is not None and facts["received_lsn"] is None
    [row] = facts["replication"]
    assert row["application_name"] == "standby1" and row["state"] == "streaming" and row["sync_state"] == "async"
    assert row["replay_lag_bytes"] >= 0
    [slot] = facts["slots"]
    assert slot["slot_name"] == "standby1" and slot["active"] is True and slot["wal_status"] == "reserved"
    assert slot["restart_lsn"] == primary.value("SELECT restart_lsn::text FROM pg_replication_slots")
    settings = facts["settings"]
    assert settings["wal_level"] == "replica" and settings["max_wal_senders"] == 10 and settings["hot_standby"] is True
    assert settings["data_checksums"] is True and settings["wal_log_hints"] is False and settings["full_page_writes"] is True
    assert facts["standby_signal"] is False and facts["data_dir"] == primary.data_dir
    # Autovacuum may add a free space or visibility map page between the two readings, hence the tolerance.
    assert isinstance(facts["databases_size_bytes"], int)
    assert abs(facts["databases_size_bytes"] - primary.value(DATABASES_SIZE)) <= MiB
    primary_size = facts["databases_size_bytes"]

    facts = facts_of(modules, standby, data_dir=standby.data_dir)
    assert facts["role"] == "standby" and facts["timeline"] == 1
    assert facts["system_identifier"] == primary.value("SELECT system_identifier::text FROM pg_control_system()")
    assert facts["wal_receiver"]["status"] == "streaming"
    assert facts["wal_receiver"]["sender_port"] == primary.port and facts["wal_receiver"]["slot_name"] == "standby1"
    # By the standby's own clock; a live upstream is heard from at least every half wal_receiver_timeout.
    assert 0 <= facts["wal_receiver"]["last_message_age_seconds"] < 60
    assert facts["received_lsn"] is not None and facts["replayed_lsn"] is not None
    assert facts["replay_lag_bytes"] >= 0 and facts["replay_paused"] is False
    assert facts["current_lsn"] is None and facts["standby_signal"] is True
    assert "passfile=" in facts["settings"]["primary_conninfo"]
    assert abs(facts["databases_size_bytes"] - standby.value(DATABASES_SIZE)) <= MiB

    # A new table of a few MiB shows up in the sum.
    primary.query("CREATE TABLE grown AS SELECT generate_series(1, 100000) AS id")
    grown = facts_of(modules, primary)["databases_size_bytes"]
    assert grown - primary_size >= primary.value("SELECT pg_total_relation_size('grown')") - MiB


def test_password_in_primary_conninfo_is_masked(lab, modules):
    primary = lab.primary()
    standby = lab.clone(primary, "standby1", modules)
    standby.query("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=%d user=replicator password=''repl pass'''" % primary.port)
    standby.query("SELECT pg_reload_conf()")
    standby.wait_for("SELECT current_setting('primary_conninfo') LIKE '%%password%%'", True)
    result = modules.run("pg_replication_facts", standby.login())
    facts = result["ansible_facts"]["pg_replication"]
    assert "repl pass" not in result["_output"] and "repl pass" not in str(facts)
    assert "password='********'" in facts["settings"]["primary_conninfo"]
    primary.wait_for("SELECT state FROM pg_stat_replication", "streaming")
    assert "repl pass" not in str(facts["wal_receiver"])


def test_stopped_server_reports_controldata(lab, modules):
    primary = lab.primary()
    primary.stop()
    facts = facts_of(modules, primary, data_dir=primary.data_dir)
    assert facts["running"] is False and facts["role"] == "stopped"
    control = facts["controldata"]
    assert control["cluster_state"] == "shut down" and control["clean_shutdown"] is True
    assert control["data_checksums"] is True
    assert facts["timeline"] == 1 and facts["standby_signal"] is False
    assert control["system_identifier"] == facts["system_identifier"] and control["checkpoint_lsn"].count("/") == 1
    assert facts["databases_size_bytes"] is None

    primary.start()
    primary.kill()
    facts = facts_of(modules, primary, data_dir=primary.data_dir)
    assert facts["role"] == "stopped" and facts["controldata"]["clean_shutdown"] is False
    assert os.path.exists(os.path.join(primary.data_dir, "postmaster.pid"))


def test_facts_in_check_mode(lab, modules):
    primary = lab.primary()
    result = modules.run("pg_replication_facts", primary.login(), check=True)
    assert result["changed"] is False and result["ansible_facts"]["pg_replication"]["role"] == "primary"


def test_missing_or_empty_data_dir_is_absent(lab, modules):
    instance = lab.instance("fresh")
    facts = facts_of(modules, instance, data_dir=instance.data_dir)
    assert facts["role"] == "absent" and facts["running"] is False and facts["system_identifier"] is None
    os.makedirs(instance.data_dir)
    assert facts_of(modules, instance, data_dir=instance.data_dir)["role"] == "absent"
    assert not os.listdir(instance.data_dir)


def test_pending_restart_lists_settings_waiting_for_a_restart(lab, modules):
    primary = lab.primary()
    assert facts_of(modules, primary)["pending_restart"] == []
    primary.query("ALTER SYSTEM SET max_wal_senders = 12")
    primary.query("ALTER SYSTEM SET work_mem = '8MB'")
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SELECT count(*) FROM pg_settings WHERE pending_restart", 1)
    facts = facts_of(modules, primary)
    assert facts["pending_restart"] == ["max_wal_senders"]
    assert facts["pending_restart_changes"] == {"max_wal_senders": {"running": "10", "wanted": "12"}}
    # What the server runs with, read back from it, not from the module.
    assert primary.value("SHOW max_wal_senders") == "10"


def test_pending_restart_changes_name_the_last_value_the_files_hold_and_none_without_the_right_to_read_them(lab, modules):
    primary = lab.primary()
    assert facts_of(modules, primary)["pending_restart_changes"] == {}
    primary.append_config("shared_buffers = '32MB'", "shared_buffers = '48MB'")
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SELECT count(*) FROM pg_settings WHERE pending_restart", 1)
    running = primary.value("SHOW shared_buffers")
    assert facts_of(modules, primary)["pending_restart_changes"] == {"shared_buffers": {"running": running, "wanted": "48MB"}}
    # The facts need pg_read_all_settings (data_directory and the like); the files' settings stay out of its reach.
    primary.query("CREATE ROLE watcher LOGIN IN ROLE pg_read_all_settings")
    assert facts_of(modules, primary, login_user="watcher")["pending_restart_changes"] == {
        "shared_buffers": {"running": running, "wanted": None}
    }


def test_a_setting_taken_out_of_the_files_waits_for_its_built_in_default(lab, modules):
    primary = lab.primary()
    config = os.path.join(primary.data_dir, "postgresql.conf")
    with open(config) as handle:
        original = handle.read()
    primary.append_config("max_prepared_transactions = 5")
    primary.stop()
    primary.start()
    assert primary.value("SHOW max_prepared_transactions") == "5"
    with open(config, "w") as handle:
        handle.write(original)
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SELECT count(*) FROM pg_settings WHERE pending_restart", 1)
    # initdb's file leaves max_prepared_transactions commented out: the next start runs PostgreSQL's own default, 0.
    assert facts_of(modules, primary)["pending_restart_changes"] == {"max_prepared_transactions": {"running": "5", "wanted": "0"}}


def test_a_standby_whose_primary_is_gone_reports_the_timeline_it_received(lab, modules):
    old = lab.primary("old")
    old.query("CREATE TABLE t (id int)")
    new = lab.clone(old, "new", modules)
    other = lab.clone(old, "other", modules)
    old.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", 2)
    old.stop()
    assert modules.run("pg_promote", dict(new.login(), checkpoint=True))["timeline_after"] == 2
    assert modules.run("pg_follow", follow_args(other, new, wait_timeout=30))["streaming"] is True
    new.query("INSERT INTO t SELECT generate_series(1, 1000)")
    position = new.value("SELECT pg_current_wal_lsn()::text")
    other.wait_for("SELECT pg_last_wal_receive_lsn() >= '%s'::pg_lsn" % position, True)
    # No restartpoint has run on the new timeline yet: the last checkpoint still says timeline 1.
    assert other.value("SELECT timeline_id FROM pg_control_checkpoint()") == 1
    new.stop()
    other.wait_for("SELECT count(*) FROM pg_stat_wal_receiver", 0)

    running = facts_of(modules, other, data_dir=other.data_dir)
    assert running["role"] == "standby" and running["wal_receiver"] is None
    assert running["timeline"] == 2 and running["received_lsn"] == other.value("SELECT pg_last_wal_receive_lsn()::text")
    # Crashed (no restartpoint at shutdown): pg_control is as stale, pg_wal is not.
    other.kill()
    crashed = facts_of(modules, other, data_dir=other.data_dir)
    assert crashed["role"] == "stopped" and crashed["controldata"]["timeline"] == 1
    assert crashed["timeline"] == 2


def restart_archiving(instance, archive_command: str) -> None:
    # archive_mode takes effect only at a start.
    instance.append_config("archive_mode = on", "archive_command = '%s'" % archive_command.replace("'", "''"))
    instance.stop()
    instance.start()


def switch_wal(instance) -> str:
    """Close the current WAL segment, the archiver's next job, and return its name; a write first, since a segment
    with nothing in it since the last switch is not switched."""
    instance.query("CREATE TABLE IF NOT EXISTS switched (id int)")
    instance.query("INSERT INTO switched VALUES (1)")
    return instance.value("SELECT pg_walfile_name(pg_switch_wal())")


def test_archiver_shows_a_failing_archive_command_and_its_recovery(lab, modules):
    primary = lab.primary()
    restart_archiving(primary, "false")
    segment = switch_wal(primary)
    primary.wait_for("SELECT failed_count > 0 FROM pg_stat_archiver", True, timeout=20)

    archiver = facts_of(modules, primary)["archiver"]
    assert archiver["failing"] is True and archiver["failed_count"] > 0 and archiver["archived_count"] == 0
    assert archiver["last_failed_wal"] == segment and archiver["last_archived_wal"] is None
    assert archiver["last_archived_age"] is None and 0 <= archiver["last_failed_age"] < 60

    archive = os.path.join(primary.home, "archive")
    os.mkdir(archive)
    chown_to_server_user(archive)
    primary.query("ALTER SYSTEM SET archive_command = 'cp %%p %s/%%f'" % archive)
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SELECT archived_count >= 1 FROM pg_stat_archiver", True, timeout=20)

    archiver = facts_of(modules, primary)["archiver"]
    # The failures stay counted; a success after them tells they are over.
    assert archiver["failing"] is False and archiver["failed_count"] > 0
    assert archiver["archived_count"] >= 1 and archiver["last_archived_wal"] == segment
    assert os.path.exists(os.path.join(archive, segment))


def test_archiver_of_a_working_archive_command_and_without_archive_mode(lab, modules):
    plain = lab.primary("plain")
    assert facts_of(modules, plain)["archiver"] is None

    primary = lab.primary()
    archive = os.path.join(primary.home, "archive")
    os.mkdir(archive)
    chown_to_server_user(archive)
    restart_archiving(primary, "cp %%p %s/%%f" % archive)
    segment = switch_wal(primary)
    primary.wait_for("SELECT last_archived_wal FROM pg_stat_archiver", segment, timeout=20)

    archiver = facts_of(modules, primary)["archiver"]
    assert archiver["failing"] is False and archiver["failed_count"] == 0 and archiver["last_failed_wal"] is None
    assert archiver["archived_count"] >= 1 and archiver["last_archived_wal"] == segment
    assert 0 <= archiver["last_archived_age"] < 30 and archiver["last_failed_age"] is None


def client_backends(instance) -> int:
    """Client sessions but the one asking."""
    return instance.value("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")


def test_client_sessions_count_the_others_not_the_module_nor_a_standby(lab, modules):
    primary = lab.primary()
    lab.clone(primary, "standby1", modules)
    primary.wait_for("SELECT state FROM pg_stat_replication", "streaming")
    primary.wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'", 1)
    assert facts_of(modules, primary)["client_sessions"] == 0

    with primary.connect() as first, primary.connect() as second:
        first.execute("SELECT 1")
        second.execute("SELECT 1")
        assert facts_of(modules, primary)["client_sessions"] == 2 == client_backends(primary)
        # Other roles' sessions are hidden from a role without pg_read_all_stats: no count rather than a low one.
        primary.query("CREATE ROLE watcher LOGIN IN ROLE pg_read_all_settings")
        primary.query("CREATE ROLE monitor LOGIN IN ROLE pg_monitor")
        assert facts_of(modules, primary, login_user="watcher")["client_sessions"] is None
        assert facts_of(modules, primary, login_user="monitor")["client_sessions"] == 2

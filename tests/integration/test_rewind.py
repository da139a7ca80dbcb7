import os
import shutil

from pglab import BIN_DIR, SUPERUSER_PASSWORD, assert_clean_failure, chown_to_server_user


def diverge(lab, modules, checksums=True, wal_log_hints=False):
    """A primary and its promoted standby that both took writes after the promotion."""
    old = lab.primary("old", checksums=checksums, wal_log_hints=wal_log_hints)
    old.query("CREATE TABLE t (id int, origin text)")
    old.query("INSERT INTO t SELECT g, 'before' FROM generate_series(1, 1000) g")
    new = lab.clone(old, "new", modules)
    new.wait_for("SELECT count(*) FROM t", 1000)
    new.query("SELECT pg_promote(true, 60)")
    new.query("INSERT INTO t SELECT g, 'new primary' FROM generate_series(1001, 1100) g")
    old.query("INSERT INTO t SELECT g, 'lost on old' FROM generate_series(5001, 5050) g")
    new.query("CHECKPOINT")
    return old, new


def rewind_args(old, new, **extra):
    args = new.upstream(
        data_dir=old.data_dir,
        replication_password="repl pass",
        passfile=os.path.join(old.home, "pgpass"),
        application_name="old",
        source_password=SUPERUSER_PASSWORD,
        bin_dir=BIN_DIR,
    )
    args.update(extra)
    return args


def assert_follows(old, new):
    new.wait_for("SELECT state FROM pg_stat_replication WHERE application_name = 'old'", "streaming")
    new.query("INSERT INTO t VALUES (2000, 'after rewind')")
    old.wait_for("SELECT count(*) FROM t WHERE origin IN ('new primary', 'after rewind')", 101)
    assert old.value("SELECT count(*) FROM t WHERE origin = 'lost on old'") == 0
    assert old.value("SELECT pg_is_in_recovery()") is True


def test_rewind_diverged_old_primary(lab, modules):
    old, new = diverge(lab, modules)
    old.append_config("work_mem = '7MB'  # the old primary's own setting")
    old.stop()

    checked = modules.run("pg_rewind", rewind_args(old, new), check=True)
    assert checked["changed"] is True and checked["rewound"] is True
    assert "--dry-run" in checked["command"]
    assert not os.path.exists(os.path.join(old.data_dir, "standby.signal"))

    result = modules.run("pg_rewind", rewind_args(old, new))
    assert result["changed"] is True and result["rewound"] is True and result["rewind_possible"] is True
    assert SUPERUSER_PASSWORD not in " ".join(result["command"]) and SUPERUSER_PASSWORD not in result["_output"]
    with open(os.path.join(old.data_dir, "postgresql.conf")) as config:
        assert "work_mem = '7MB'" in config.read()
    again = modules.run("pg_rewind", rewind_args(old, new))
    assert again["changed"] is False and again["rewound"] is False

    old.start()
    assert old.value("SHOW work_mem") == "7MB"
    assert_follows(old, new)


def test_rewind_after_crash_with_config_outside_data_dir(lab, modules):
    old, new = diverge(lab, modules, checksums=False, wal_log_hints=True)
    # Debian's layout: the configuration lives outside the data directory.
    etc = os.path.join(old.home, "etc")
    os.makedirs(etc)
    chown_to_server_user(etc)
    old.stop()
    for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
        shutil.move(os.path.join(old.data_dir, name), os.path.join(etc, name))
    config_file = os.path.join(etc, "postgresql.conf")
    old.append_config("hba_file = '%s/pg_hba.conf'" % etc, "ident_file = '%s/pg_ident.conf'" % etc, path=config_file)
    old.extra_options = ["-c config_file=%s" % config_file]
    old.start()
    old.query("INSERT INTO t SELECT g, 'lost on old' FROM generate_series(6001, 6010) g")
    old.kill()

    result = modules.run("pg_rewind", rewind_args(old, new, config_file=config_file))
    assert result["changed"] is True and result["rewound"] is True, result
    assert not os.path.exists(os.path.join(old.data_dir, "postgresql.conf"))
    old.start()
    assert_follows(old, new)


def test_rewind_of_a_crashed_member_that_was_fenced(lab, modules):
    # What rejoin.yml meets after a crash: the fence wrote standby.signal into a data directory that was not shut down
    # cleanly. pg_rewind's crash recovery runs a single-user server, which refuses standby mode.
    old, new = diverge(lab, modules)
    old.kill()
    fenced = modules.run("pg_shutdown", dict(data_dir=old.data_dir, fence=True, bin_dir=BIN_DIR))
    assert fenced.get("failed") is not True and os.path.exists(os.path.join(old.data_dir, "standby.signal")), fenced

    result = modules.run("pg_rewind", rewind_args(old, new))
    assert result.get("failed") is not True and result["rewound"] is True, result.get("msg")
    assert os.path.exists(os.path.join(old.data_dir, "standby.signal"))
    old.start()
    assert_follows(old, new)


def test_a_failed_rewind_leaves_the_fence_in_place(lab, modules):
    old, new = diverge(lab, modules)
    old.kill()
    modules.run("pg_shutdown", dict(data_dir=old.data_dir, fence=True, bin_dir=BIN_DIR))
    # The single-user server of the crash recovery cannot start: pg_rewind fails while the fence is set aside.
    old.append_config("shared_preload_libraries = 'pgops_no_such_library'")
    result = modules.run("pg_rewind", rewind_args(old, new))
    assert result["failed"] is True and result["rewound"] is False and "--single" in result["output"], result
    assert sorted(name for name in os.listdir(old.data_dir) if "signal" in name) == ["standby.signal"]


def test_rewind_refuses_to_take_a_newer_timeline_back_to_an_older_one(lab, modules):
    # The old primary, stopped, came back writable on timeline 1 after its standby had been promoted to timeline 2 and
    # committed there: rewinding the promoted member from it would discard that commit.
    old = lab.primary("old")
    old.query("CREATE TABLE t (id int, origin text)")
    new = lab.clone(old, "new", modules)
    new.wait_for("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'", 1)
    old.stop()
    new.query("SELECT pg_promote(true, 60)")
    new.query("INSERT INTO t VALUES (1, 'committed on timeline 2')")
    old.start()
    old.query("INSERT INTO t VALUES (2, 'stale primary')")
    new.stop()
    before = sorted(os.listdir(new.data_dir))

    result = modules.run("pg_rewind", rewind_args(new, old, application_name="new"))
    assert_clean_failure(result, r"is on timeline 2, which the source .* \(timeline 1\) does not descend from")
    # Not "impossible": a re-clone from that source would discard the commit just the same.
    assert result["rewind_possible"] is None and result["rewound"] is False
    assert sorted(os.listdir(new.data_dir)) == before
    new.start()
    assert new.value("SELECT origin FROM t WHERE id = 1") == "committed on timeline 2"


def test_rewind_refused_without_hints_or_checksums(lab, modules):
    old, new = diverge(lab, modules, checksums=False, wal_log_hints=False)
    old.stop()
    before = sorted(os.listdir(old.data_dir))
    result = modules.run("pg_rewind", rewind_args(old, new))
    assert_clean_failure(result, r"target .*: pg_rewind needs data checksums or wal_log_hints=on.*wal_log_hints is off")
    assert result["rewind_possible"] is False
    assert sorted(os.listdir(old.data_dir)) == before


def test_rewind_impossible_when_wal_is_gone(lab, modules):
    old, new = diverge(lab, modules)
    old.stop()
    # Take away the WAL pg_rewind needs to find the last common checkpoint on the target.
    wal_dir = os.path.join(old.data_dir, "pg_wal")
    for name in os.listdir(wal_dir):
        if len(name) == 24:
            os.unlink(os.path.join(wal_dir, name))
    result = modules.run("pg_rewind", rewind_args(old, new))
    assert_clean_failure(result, r"pg_rewind failed")
    assert result["rewind_possible"] is False

    # What rejoin.yml does next: a re-clone of the same cluster, the diverged directory kept aside.
    clone_args = new.upstream(
        data_dir=old.data_dir,
        replication_password="repl pass",
        passfile=os.path.join(old.home, "pgpass"),
        application_name="old",
        bin_dir=BIN_DIR,
    )
    assert modules.run("pg_basebackup", clone_args)["action"] == "unchanged"
    recloned = modules.run("pg_basebackup", dict(clone_args, reclone=True))
    assert recloned["action"] == "replaced" and os.path.isdir(os.path.join(recloned["kept_aside"], "pg_wal")), recloned
    old.start()
    assert_follows(old, new)


def test_rewind_as_the_dedicated_non_superuser_role(lab, modules):
    old, new = diverge(lab, modules)
    created = modules.run("pg_rewind_user", new.login(password="rewind 'pass' ü"))
    assert created["changed"] is True, created
    assert new.value("SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = 'pgops_rewind'") is False
    assert modules.run("pg_rewind_user", new.login(password="rewind 'pass' ü"))["changed"] is False
    new.query("REVOKE EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) FROM pgops_rewind")
    repaired = modules.run("pg_rewind_user", new.login(password="rewind 'pass' ü"))
    assert repaired["changed"] is True and any("pg_stat_file" in query for query in repaired["queries"])
    old.stop()
    result = modules.run("pg_rewind", rewind_args(old, new, source_user="pgops_rewind", source_password="rewind 'pass' ü"))
    assert result["rewound"] is True, result
    old.start()
    assert_follows(old, new)

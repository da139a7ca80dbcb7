import os

import pytest

from ansible_collections.pgops.replication.plugins.module_utils.controldata import (
    ControlDataError,
    is_data_directory,
    parse_controldata,
    read_controldata,
    running_postmaster_pid,
)

# Captured from pg_controldata 15 on Debian 12 (LC_ALL=C), trimmed of unrelated lines.
SAMPLE = """pg_control version number:            1300
Catalog version number:               202209061
Database system identifier:           7311542937438211073
Database cluster state:               shut down in recovery
pg_control last modified:             Mon Nov 23 11:19:31 2026
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's REDO WAL file:    000000020000000000000003
Latest checkpoint's TimeLineID:       2
Latest checkpoint's PrevTimeLineID:   1
Latest checkpoint's full_page_writes: on
Minimum recovery ending location:     0/3000110
Min recovery ending loc's timeline:   2
wal_level setting:                    replica
wal_log_hints setting:                off
max_wal_senders setting:              10
Data page checksum version:           1
Mock authentication nonce:            a5b4
"""


def test_parse_fields():
    parsed = parse_controldata(SAMPLE)
    assert parsed["system_identifier"] == "7311542937438211073"
    assert parsed["cluster_state"] == "shut down in recovery"
    assert parsed["checkpoint_lsn"] == "0/3000060"
    assert parsed["redo_lsn"] == "0/3000028"
    assert parsed["timeline"] == 2
    assert parsed["previous_timeline"] == 1
    assert parsed["min_recovery_lsn"] == "0/3000110"
    assert parsed["wal_log_hints"] is False
    assert parsed["full_page_writes"] is True
    assert parsed["data_checksum_version"] == 1
    assert parsed["data_checksums"] is True
    assert parsed["clean_shutdown"] is True


def test_crashed_server_is_not_clean():
    parsed = parse_controldata(
        SAMPLE.replace("shut down in recovery", "in production").replace("version:           1", "version:           0")
    )
    assert parsed["clean_shutdown"] is False
    assert parsed["data_checksums"] is False


def test_missing_fields_are_reported():
    with pytest.raises(ControlDataError, match="system_identifier"):
        parse_controldata("Database cluster state: in production\n")


def test_non_integer_timeline():
    with pytest.raises(ControlDataError, match="TimeLineID"):
        parse_controldata(SAMPLE.replace("TimeLineID:       2", "TimeLineID:       two"))


class FakeModule:
    def __init__(self, rc=0, out="", err=""):
        self.result = (rc, out, err)
        self.commands = []

    def run_command(self, command, environ_update=None):
        self.commands.append((command, environ_update))
        return self.result

    def fail_json(self, **kwargs):
        raise AssertionError(kwargs["msg"])


def test_read_controldata_runs_in_c_locale():
    module = FakeModule(out=SAMPLE)
    assert read_controldata(module, "/usr/bin/pg_controldata", "/data")["timeline"] == 2
    command, environment = module.commands[0]
    assert command == ["/usr/bin/pg_controldata", "-D", "/data"]
    assert environment["LC_ALL"] == "C"


def test_read_controldata_failure_names_directory():
    with pytest.raises(AssertionError, match="/data.*No such file"):
        read_controldata(FakeModule(rc=1, err="No such file or directory"), "pg_controldata", "/data")


def test_is_data_directory(tmp_path):
    assert not is_data_directory(str(tmp_path))
    (tmp_path / "PG_VERSION").write_text("15\n")
    (tmp_path / "global").mkdir()
    (tmp_path / "global" / "pg_control").write_bytes(b"\0")
    assert is_data_directory(str(tmp_path))


def test_running_postmaster_pid(tmp_path):
    assert running_postmaster_pid(str(tmp_path)) is None
    (tmp_path / "postmaster.pid").write_text("%d\n/data\n" % os.getpid())
    assert running_postmaster_pid(str(tmp_path)) == os.getpid()
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    assert running_postmaster_pid(str(tmp_path)) is None
    (tmp_path / "postmaster.pid").write_text("garbage\n")
    assert running_postmaster_pid(str(tmp_path)) is None

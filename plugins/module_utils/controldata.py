# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a stopped server's state from pg_controldata."""

from __future__ import annotations

import os

# pg_controldata's labels, as printed with LC_ALL=C, mapped to the keys modules report.
_FIELDS = {
    "pg_control version number": "pg_control_version",
    "Database system identifier": "system_identifier",
    "Database cluster state": "cluster_state",
    "Latest checkpoint location": "checkpoint_lsn",
    "Latest checkpoint's REDO location": "redo_lsn",
    "Latest checkpoint's REDO WAL file": "redo_wal_file",
    "Latest checkpoint's TimeLineID": "timeline",
    "Latest checkpoint's PrevTimeLineID": "previous_timeline",
    "Latest checkpoint's full_page_writes": "full_page_writes",
    "Minimum recovery ending location": "min_recovery_lsn",
    "Min recovery ending loc's timeline": "min_recovery_timeline",
    "wal_level setting": "wal_level",
    "wal_log_hints setting": "wal_log_hints",
    "max_wal_senders setting": "max_wal_senders",
    "Data page checksum version": "data_checksum_version",
}
_INTEGER_FIELDS = {
    "pg_control_version",
    "timeline",
    "previous_timeline",
    "min_recovery_timeline",
    "max_wal_senders",
    "data_checksum_version",
}
_BOOLEAN_FIELDS = {"full_page_writes", "wal_log_hints"}

# States in which the server stopped cleanly: no crash recovery will run at the next start.
CLEAN_SHUTDOWN_STATES = ("shut down", "shut down in recovery")


class ControlDataError(ValueError):
    pass


def parse_controldata(text: str) -> dict:
    """Turn pg_controldata output into a dict of the fields replication cares about."""
    parsed: dict = {}
    for line in text.splitlines():
        label, separator, value = line.partition(":")
        if not separator:
            continue
        key = _FIELDS.get(label.strip())
        if key is None:
            continue
        value = value.strip()
        if key in _INTEGER_FIELDS:
            try:
                parsed[key] = int(value)
            except ValueError:
                raise ControlDataError("pg_controldata printed %r for %r, expected an integer" % (value, label.strip())) from None
        elif key in _BOOLEAN_FIELDS:
            parsed[key] = value == "on"
        else:
            parsed[key] = value
    missing = [key for key in ("system_identifier", "cluster_state", "checkpoint_lsn", "timeline") if key not in parsed]
    if missing:
        raise ControlDataError("pg_controldata output lacks %s" % ", ".join(missing))
    parsed["data_checksums"] = parsed.get("data_checksum_version", 0) != 0
    parsed["clean_shutdown"] = parsed["cluster_state"] in CLEAN_SHUTDOWN_STATES
    return parsed


def read_controldata(module, pg_controldata_path: str, data_dir: str) -> dict:
    """Run pg_controldata on `data_dir`; fail the module with pg_controldata's own words if it cannot."""
    rc, out, err = module.run_command(
        [pg_controldata_path, "-D", data_dir],
        environ_update={"LC_ALL": "C", "LANG": "C"},
    )
    if rc != 0:
        module.fail_json(msg="pg_controldata could not read %s: %s" % (data_dir, (err or out).strip()))
    try:
        return parse_controldata(out)
    except ControlDataError as error:
        module.fail_json(msg="pg_controldata on %s: %s" % (data_dir, error))


def is_data_directory(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "PG_VERSION")) and os.path.isfile(os.path.join(path, "global", "pg_control"))


def running_postmaster_pid(data_dir: str) -> int | None:
    """PID of a live postmaster on `data_dir`, from postmaster.pid; None when no server runs there."""
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as pid_file:
            pid = int(pid_file.readline().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return None
    except PermissionError:
        return pid
    return pid


def wal_directory_names(data_dir: str) -> list:
    """Names of the files in the data directory's pg_wal; empty when it cannot be listed."""
    try:
        return os.listdir(os.path.join(data_dir, "pg_wal"))
    except OSError:
        return []

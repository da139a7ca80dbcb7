#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_replication_facts
short_description: Gather the replication state of the PostgreSQL server on this host
version_added: 0.1.0
description:
  - Reports whether the server runs, whether it is a primary or a standby, its system identifier, timeline,
    WAL positions and lag, the WAL receiver, the standbys streaming from it, its replication slots and the
    settings replication depends on.
  - When the server is down it reads C(pg_controldata) from O(data_dir) instead, so a stopped former
    primary can still be compared with the cluster.
  - Passwords in C(primary_conninfo) are masked.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.attributes
  - pgops.replication.attributes.facts
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
  facts:
    support: full
options:
  data_dir:
    description:
      - Data directory of the server. Needed to report on a stopped server; also used to find the
        matching C(pg_controldata) and to report C(standby.signal).
      - A directory that does not exist or is empty, with no server answering, is reported as role C(absent).
    type: path
  bin_dir:
    description: Directory holding C(pg_controldata); found from the installed server packages when unset.
    type: path
notes:
  - Connect as a superuser or a member of C(pg_monitor) to see every column of C(pg_stat_replication).
"""

EXAMPLES = r"""
- name: Gather replication facts from every member
  pgops.replication.pg_replication_facts:
    data_dir: /var/lib/postgresql/15/main
  become: true
  become_user: postgres

- name: Show the role of each host
  ansible.builtin.debug:
    msg: "{{ inventory_hostname }} is {{ ansible_facts.pg_replication.role }} on timeline {{ ansible_facts.pg_replication.timeline }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    pg_replication:
      description: Replication state of this host's server.
      returned: always
      type: dict
      contains:
        running:
          description: Whether a server runs on this host.
          type: bool
        role:
          description:
            - C(primary), C(standby), C(stopped), or C(absent) when O(data_dir) does not exist or is empty
              and no server answers.
          type: str
          sample: standby
        system_identifier:
          description: Identifier shared by every member of one cluster (a string, since it is a 64-bit number).
          type: str
          sample: "7311542937438211073"
        timeline:
          description:
            - Timeline the server writes (primary), or has received WAL on (standby, stopped).
            - For a standby and a stopped server, the newest of the WAL receiver's timeline, the timelines of the WAL
              segments and history files in C(pg_wal), and the last checkpoint's. The checkpoint's alone would be stale
              for minutes after a timeline switch (it moves only at a restartpoint), and a standby whose primary is gone
              has no WAL receiver to ask.
          type: int
        server_version:
          description: Server version string (running only).
          type: str
        server_version_num:
          description: Server version number, for example 150018 (running only).
          type: int
        current_lsn:
          description: WAL insert position of a primary; null on a standby.
          type: str
        received_lsn:
          description: Last WAL position received and flushed by a standby.
          type: str
        replayed_lsn:
          description: Last WAL position replayed by a standby.
          type: str
        replay_lag_bytes:
          description: WAL received but not yet replayed, in bytes (standby).
          type: int
        replay_lag_seconds:
          description: Age of the last replayed transaction when replay is behind reception; 0 when caught up (standby).
          type: float
        replay_paused:
          description: Whether WAL replay is paused (standby).
          type: bool
        wal_receiver:
          description:
            - The standby's row of C(pg_stat_wal_receiver) (status, upstream host and port, slot, timeline, masked conninfo).
            - C(last_message_age_seconds) is how long ago the last message from the upstream arrived, by the standby's own
              clock. On a live link it stays under half of C(wal_receiver_timeout), since the WAL receiver asks for a
              keepalive then.
            - Null when no WAL receiver runs.
          type: dict
        replication:
          description: One entry per C(pg_stat_replication) row with LSNs, lag in bytes and seconds, C(state) and C(sync_state).
          type: list
          elements: dict
        slots:
          description: Replication slots with C(active), C(restart_lsn), C(wal_status) and C(safe_wal_size).
          type: list
          elements: dict
        settings:
          description: Settings replication depends on, C(primary_conninfo) masked.
          type: dict
        archive_ready_files:
          description: WAL files waiting to be archived (C(.ready) files); null when archive_mode is off or the directory cannot be listed.
          type: int
        archiver:
          version_added: 0.3.0
          description:
            - This server's row of C(pg_stat_archiver) (running server); null when C(archive_mode) is off.
            - C(archived_count) and C(failed_count) count the segments C(archive_command) archived and its failures since
              the statistics were last reset; C(last_archived_wal) and C(last_failed_wal) name the last segment of each.
            - C(last_archived_age) and C(last_failed_age) are the seconds since the last success and the last failure, by
              the server's own clock; null when there was none.
            - C(failing) is true when the last failure is newer than the last success, so the failures still go on; a
              failure that was followed by a success has recovered.
            - A standby archives only with C(archive_mode=always); with C(on) its counts do not move.
          type: dict
          sample:
            archived_count: 120
            failed_count: 0
            last_archived_wal: "000000010000000000000078"
            last_failed_wal: null
            last_archived_age: 35.2
            last_failed_age: null
            failing: false
        client_sessions:
          version_added: 0.3.0
          description:
            - Sessions of clients (C(backend_type) C(client backend)) connected to the server, this module's own not
              counted, nor the guard's and the health check's (application names C(pgops-guard), C(pgops-health));
              replication connections are not client sessions (running server).
            - Null when the login role may not see other roles' sessions (neither a superuser nor a member of
              C(pg_read_all_stats), which C(pg_monitor) includes), or the server is stopped.
          type: int
          sample: 3
        oldest_wal_lsn:
          description:
            - Where the oldest WAL segment in C(pg_wal) begins (running server); a standby whose position is older can
              no longer stream from this server and must be re-cloned (unless its WAL comes from an archive).
            - Null when the role may not list C(pg_wal).
          type: str
        conf_load_time:
          description: When the server last read its configuration files; it changes once a reload has been processed.
          type: str
        databases_size_bytes:
          version_added: 0.2.0
          description:
            - Sum of C(pg_database_size) over every database of the server, in bytes (running server); roughly what a
              clone copies, without the WAL and the cluster-wide files.
            - Null when the server is stopped or the login role may not measure every database.
          type: int
          sample: 298844160
        pending_restart:
          description: Settings changed in the configuration that take effect only after a restart.
          type: list
          elements: str
        pending_restart_changes:
          version_added: 0.3.0
          description:
            - Each setting of RV(ansible_facts.pg_replication.pending_restart) with C(running), the value the server
              runs with (as C(SHOW) gives it), and C(wanted), the value its configuration files hold (the last one
              read, as written there), or the built-in default when they no longer set it (in the setting's unit,
              C(8192kB) for 1024 blocks of 8kB). A rolling restart orders its restarts by them.
            - C(wanted) is null when the login role may not read C(pg_file_settings), which by default only superusers
              may. Empty when the server is stopped.
          type: dict
          sample: {"max_connections": {"running": "100", "wanted": "200"}}
        data_dir:
          description: Data directory of the server.
          type: str
        standby_signal:
          description: Whether C(standby.signal) exists in the data directory; null when it cannot be read.
          type: bool
        controldata:
          description: Fields of C(pg_controldata) (cluster state, latest checkpoint LSN, timeline, checksums) when the server is stopped.
          type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import mask_conninfo_password
from ansible_collections.pgops.replication.plugins.module_utils.controldata import (
    is_data_directory,
    read_controldata,
    running_postmaster_pid,
    wal_directory_names,
)
from ansible_collections.pgops.replication.plugins.module_utils.lsn import (
    format_lsn,
    lsn_bytes_between,
    newest_wal_timeline,
    received_timeline,
)
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    ConnectionFailed,
    connection_argument_spec,
    connection_kwargs,
    fetch_all,
    fetch_one,
    find_server_binary,
    psycopg,
    require_psycopg,
    try_connect,
    validate_bin_dir,
    validate_connection_params,
    wal_file_names,
)

REPLICATION_SETTINGS = [
    "wal_level",
    "max_wal_senders",
    "max_replication_slots",
    "hot_standby",
    "synchronous_standby_names",
    "synchronous_commit",
    "wal_log_hints",
    "data_checksums",
    "full_page_writes",
    "wal_keep_size",
    "max_slot_wal_keep_size",
    "archive_mode",
    "primary_conninfo",
    "primary_slot_name",
    "listen_addresses",
    "port",
]

SERVER_QUERY = """
SELECT pg_is_in_recovery() AS in_recovery,
       current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       current_setting('data_directory') AS data_directory,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS checkpoint_timeline,
       pg_conf_load_time()::text AS conf_load_time
"""
PRIMARY_QUERY = "SELECT pg_current_wal_lsn()::text AS current_lsn, pg_walfile_name(pg_current_wal_lsn()) AS wal_file"
STANDBY_QUERY = """
SELECT pg_last_wal_receive_lsn()::text AS received_lsn,
       pg_last_wal_replay_lsn()::text AS replayed_lsn,
       pg_is_wal_replay_paused() AS replay_paused,
       CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS replay_lag_seconds
"""
WAL_RECEIVER_QUERY = """
SELECT status, receive_start_tli, received_tli, written_lsn::text AS written_lsn, flushed_lsn::text AS flushed_lsn,
       latest_end_lsn::text AS latest_end_lsn, slot_name, sender_host, sender_port, conninfo,
       extract(epoch FROM now() - last_msg_receipt_time)::float8 AS last_message_age_seconds
FROM pg_stat_wal_receiver
"""
REPLICATION_QUERY = """
SELECT pid, usename AS user, application_name, client_addr::text AS client_addr, state,
       sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,
       extract(epoch FROM write_lag)::float8 AS write_lag_seconds,
       extract(epoch FROM flush_lag)::float8 AS flush_lag_seconds,
       extract(epoch FROM replay_lag)::float8 AS replay_lag_seconds,
       sync_state, sync_priority
FROM pg_stat_replication ORDER BY application_name, pid
"""
SLOTS_QUERY = """
SELECT slot_name, slot_type, active, active_pid, restart_lsn::text AS restart_lsn, wal_status, safe_wal_size
FROM pg_replication_slots ORDER BY slot_name
"""
PENDING_RESTART_QUERY = "SELECT coalesce(array_agg(name ORDER BY name), '{}') AS names FROM pg_settings WHERE pending_restart"
SETTINGS_QUERY = "SELECT name, setting, vartype, unit, current_setting(name) AS shown FROM pg_settings WHERE name = ANY(%s)"


def typed_setting(row: dict):
    if row["vartype"] == "bool":
        return row["setting"] == "on"
    if row["vartype"] == "integer" and row["unit"] is None:
        return int(row["setting"])
    return row["shown"]


def standby_signal(data_dir: str | None) -> bool | None:
    if not data_dir:
        return None
    try:
        os.listdir(data_dir)
    except OSError:
        return None
    return os.path.exists(os.path.join(data_dir, "standby.signal"))


ARCHIVE_READY_QUERY = "SELECT count(*) AS ready FROM pg_ls_dir('pg_wal/archive_status') AS name WHERE name LIKE '%.ready'"


def archive_ready_files(connection) -> int | None:
    """WAL files waiting for archive_command; None when this role may not list the directory."""
    try:
        return fetch_one(connection, ARCHIVE_READY_QUERY)["ready"]
    except psycopg.Error:
        return None


OLDEST_WAL_QUERY = """
SELECT min(substr(name, 9)) AS oldest, pg_size_bytes(current_setting('wal_segment_size')) AS segment_size
FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'
"""


def oldest_wal_lsn(connection) -> str | None:
    """Start of the oldest WAL segment still in pg_wal (any timeline); None when this role may not list it."""
    try:
        row = fetch_one(connection, OLDEST_WAL_QUERY)
    except psycopg.Error:
        return None
    if not row or not row["oldest"]:
        return None
    log, segment = int(row["oldest"][:8], 16), int(row["oldest"][8:], 16)
    return format_lsn(log * (1 << 32) + segment * row["segment_size"])


PENDING_RESTART_CHANGES_QUERY = """
SELECT s.name, current_setting(s.name) AS running,
       coalesce(
         (SELECT f.setting FROM pg_file_settings f WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1),
         -- Taken out of the files: the next start runs the built-in default, in the setting's unit (8kB blocks: x 8kB;
         -- -1, "computed at start", as it is).
         CASE WHEN s.unit IS NULL OR s.boot_val LIKE '-%' THEN s.boot_val
              WHEN s.unit ~ '^[0-9]' THEN (s.boot_val::numeric * substring(s.unit FROM '^[0-9]+')::numeric)::text
                                          || substring(s.unit FROM '[A-Za-z]+$')
              ELSE s.boot_val || s.unit END) AS wanted
FROM pg_settings s WHERE s.pending_restart ORDER BY s.name
"""


def pending_restart_changes(connection) -> dict:
    """{setting: {"running": value, "wanted": value}} for each setting that waits for a restart; the wanted values are
    None when this role may not read pg_file_settings."""
    try:
        rows = fetch_all(connection, PENDING_RESTART_CHANGES_QUERY)
    except psycopg.Error:
        rows = fetch_all(connection, "SELECT name, current_setting(name) AS running FROM pg_settings WHERE pending_restart ORDER BY name")
        return {row["name"]: {"running": row["running"], "wanted": None} for row in rows}
    return {row["name"]: {"running": row["running"], "wanted": row["wanted"]} for row in rows}


DATABASES_SIZE_QUERY = "SELECT sum(pg_database_size(oid))::bigint AS size FROM pg_database"


def databases_size_bytes(connection) -> int | None:
    """Bytes of all databases together; None when this role lacks CONNECT on one of them (and pg_read_all_stats)."""
    try:
        return fetch_one(connection, DATABASES_SIZE_QUERY)["size"]
    except psycopg.Error:
        return None


ARCHIVER_QUERY = """
SELECT archived_count, failed_count, last_archived_wal, last_failed_wal,
       -- clock_timestamp(), not now(): the statistics are read after the statement began, and an archive that finished in
       -- between would otherwise be a few microseconds in the future.
       extract(epoch FROM clock_timestamp() - last_archived_time)::float8 AS last_archived_age,
       extract(epoch FROM clock_timestamp() - last_failed_time)::float8 AS last_failed_age,
       coalesce(last_failed_time > last_archived_time, last_failed_time IS NOT NULL) AS failing
FROM pg_stat_archiver
"""


# Without pg_read_all_stats, other roles' sessions show no backend_type: a count would look complete and not be. The
# collection's own guard and health check (their application_name) come and go every few seconds: they are no clients.
CLIENT_SESSIONS_QUERY = """
SELECT CASE WHEN pg_has_role('pg_read_all_stats', 'USAGE')
            THEN (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                  AND application_name NOT IN ('pgops-guard', 'pgops-health'))
       END AS sessions
"""


def client_sessions(connection) -> int | None:
    """Client sessions other than this one; None when this role may not see them all."""
    try:
        return fetch_one(connection, CLIENT_SESSIONS_QUERY)["sessions"]
    except psycopg.Error:
        return None


def running_facts(connection, data_dir: str | None) -> dict:
    server = fetch_one(connection, SERVER_QUERY)
    facts = dict(
        running=True,
        role="standby" if server["in_recovery"] else "primary",
        system_identifier=server["system_identifier"],
        server_version=server["server_version"],
        server_version_num=server["server_version_num"],
        data_dir=server["data_directory"] or data_dir,
        conf_load_time=server["conf_load_time"],
        current_lsn=None,
        received_lsn=None,
        replayed_lsn=None,
        replay_lag_bytes=None,
        replay_lag_seconds=None,
        replay_paused=None,
        wal_receiver=None,
        controldata=None,
    )
    if server["in_recovery"]:
        standby = fetch_one(connection, STANDBY_QUERY)
        receiver = fetch_one(connection, WAL_RECEIVER_QUERY) or None
        if receiver:
            receiver["conninfo"] = mask_conninfo_password(receiver["conninfo"])
        lag = lsn_bytes_between(standby["received_lsn"], standby["replayed_lsn"])
        facts.update(
            received_lsn=standby["received_lsn"],
            replayed_lsn=standby["replayed_lsn"],
            replay_paused=standby["replay_paused"],
            replay_lag_bytes=max(lag, 0) if lag is not None else None,
            replay_lag_seconds=standby["replay_lag_seconds"],
            wal_receiver=receiver,
            timeline=received_timeline(
                receiver["received_tli"] if receiver else None,
                newest_wal_timeline(wal_file_names(connection)),
                server["checkpoint_timeline"],
            ),
        )
        reference_lsn = standby["received_lsn"] or standby["replayed_lsn"]
    else:
        primary = fetch_one(connection, PRIMARY_QUERY)
        facts.update(current_lsn=primary["current_lsn"], timeline=int(primary["wal_file"][:8], 16))
        reference_lsn = primary["current_lsn"]
    replication = fetch_all(connection, REPLICATION_QUERY)
    for row in replication:
        row["replay_lag_bytes"] = lsn_bytes_between(reference_lsn, row["replay_lsn"])
    facts["replication"] = replication
    facts["slots"] = fetch_all(connection, SLOTS_QUERY)
    settings = {row["name"]: typed_setting(row) for row in fetch_all(connection, SETTINGS_QUERY, (REPLICATION_SETTINGS,))}
    if "primary_conninfo" in settings:
        settings["primary_conninfo"] = mask_conninfo_password(settings["primary_conninfo"])
    facts["settings"] = settings
    facts["oldest_wal_lsn"] = oldest_wal_lsn(connection)
    facts["databases_size_bytes"] = databases_size_bytes(connection)
    archiving = settings.get("archive_mode") not in (None, "off")
    facts["archive_ready_files"] = archive_ready_files(connection) if archiving else None
    facts["archiver"] = fetch_one(connection, ARCHIVER_QUERY) if archiving else None
    facts["client_sessions"] = client_sessions(connection)
    facts["pending_restart"] = fetch_one(connection, PENDING_RESTART_QUERY)["names"]
    facts["pending_restart_changes"] = pending_restart_changes(connection) if facts["pending_restart"] else {}
    facts["standby_signal"] = standby_signal(facts["data_dir"])
    return facts


def is_absent(data_dir: str) -> bool:
    return not os.path.isdir(data_dir) or not os.listdir(data_dir)


def stopped_facts(module, data_dir: str) -> dict:
    """Facts of a server that does not run: from pg_controldata, or role 'absent' when there is no cluster yet."""
    if is_absent(data_dir):
        controldata = None
    else:
        controldata = read_controldata(module, find_server_binary(module, "pg_controldata", module.params["bin_dir"], data_dir), data_dir)
    return dict(
        running=False,
        role="stopped" if controldata else "absent",
        system_identifier=controldata["system_identifier"] if controldata else None,
        timeline=received_timeline(newest_wal_timeline(wal_directory_names(data_dir)), controldata["timeline"]) if controldata else None,
        server_version=None,
        server_version_num=None,
        data_dir=data_dir,
        current_lsn=None,
        received_lsn=None,
        replayed_lsn=None,
        replay_lag_bytes=None,
        replay_lag_seconds=None,
        replay_paused=None,
        wal_receiver=None,
        replication=[],
        slots=[],
        settings={},
        pending_restart=[],
        pending_restart_changes={},
        conf_load_time=None,
        databases_size_bytes=None,
        archiver=None,
        client_sessions=None,
        standby_signal=standby_signal(data_dir),
        controldata=controldata,
    )


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(data_dir=dict(type="path"), bin_dir=dict(type="path"))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg(module)
    validate_connection_params(module)
    validate_bin_dir(module)
    data_dir = module.params["data_dir"]
    if data_dir is not None and os.path.exists(data_dir) and not os.path.isdir(data_dir):
        module.fail_json(msg="data_dir %s is not a directory" % data_dir)
    if data_dir is not None and not is_absent(data_dir) and not is_data_directory(data_dir):
        module.fail_json(msg="data_dir %s is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)" % data_dir)
    try:
        connection = try_connect(connection_kwargs(module.params))
    except ConnectionFailed as error:
        if data_dir is None:
            module.fail_json(msg="%s; set data_dir to report on a stopped server" % error)
        pid = running_postmaster_pid(data_dir)
        if pid is not None:
            module.fail_json(msg="a server (PID %d) runs on %s but %s" % (pid, data_dir, error))
        facts = stopped_facts(module, data_dir)
    else:
        with connection:
            facts = running_facts(connection, data_dir)
    module.exit_json(changed=False, ansible_facts=dict(pg_replication=facts))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_follow
short_description: Point a standby at a primary, or make it follow none
version_added: 0.1.0
description:
  - Writes C(primary_conninfo), C(primary_slot_name) and C(standby.signal) for a data directory whose server is a
    standby or is stopped, and puts the replication password in the password file.
  - When the standby runs, it reloads its configuration (PostgreSQL 13 and newer apply C(primary_conninfo) on reload,
    restarting only the WAL receiver), and with O(wait_timeout) waits until it streams from the new primary.
  - With O(detach=true) it makes the standby follow no primary instead, see O(detach).
  - A stopped server is only configured; it follows the primary (or none) from its next start.
  - Refuses a running primary. Turning a primary into a standby needs M(pgops.replication.pg_rewind) or a re-clone.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.upstream
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  primary_host:
    description:
      - Host name or address of the primary the standby follows.
      - Required unless O(detach=true), which ignores it.
    type: str
    required: false
  detach:
    description:
      - Make the standby stop following any primary. The module writes C(primary_conninfo = '') and
        C(primary_slot_name = '') to the standby configuration file, keeps C(standby.signal), and reloads a running
        standby. An empty value in C(postgresql.auto.conf), the default file, overrides one set in C(postgresql.conf),
        since PostgreSQL reads C(postgresql.auto.conf) last.
      - With an empty C(primary_conninfo) the standby runs no WAL receiver and does not reconnect to its former primary,
        now or after a restart. It stays in recovery and replays only the WAL it already has, and the WAL its
        C(restore_command) fetches if it has one.
      - Its former primary then no longer counts it in C(pg_stat_replication). Detaching every reachable standby before
        another member is promoted takes the majority away from a primary that cannot be reached.
      - With O(wait_timeout), waits until the standby runs no WAL receiver.
      - A running standby whose WAL receiver still runs is reloaded, and the module reports a change, even when the file
        already holds the empty values.
      - The upstream options (O(primary_host), O(replication_password), O(slot_name) and the others) are not needed and
        are ignored, apart from O(standby_config_file); a O(primary_host) given anyway brings a warning. No password
        file is written.
    type: bool
    default: false
    version_added: 0.2.0
  data_dir:
    description: Data directory of the standby.
    type: path
    required: true
  login_port:
    description: Port of the local server, reached over its Unix socket.
    type: int
    default: 5432
  login_unix_socket:
    description: Directory of the local server's Unix socket; the libpq default when left out.
    type: path
  wait_timeout:
    description:
      - Seconds to wait, after the change, for the WAL receiver to stream from O(primary_host); 0 does not wait.
      - With O(detach=true), seconds to wait until no WAL receiver runs.
    type: int
    default: 0
notes:
  - Run it as the data directory's owner (C(become_user=postgres)).
"""

EXAMPLES = r"""
- name: Follow the new primary after a switchover
  pgops.replication.pg_follow:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db2.example.net
    replication_password: "{{ postgresql_replication_password }}"
    application_name: db3
    slot_name: db3
    wait_timeout: 60
  become: true
  become_user: postgres

- name: Stop following any primary before another member is promoted (no WAL receiver, replay only)
  pgops.replication.pg_follow:
    data_dir: /var/lib/postgresql/15/main
    detach: true
    wait_timeout: 30
  become: true
  become_user: postgres
"""

RETURN = r"""
running:
  description: Whether the server was running.
  returned: always
  type: bool
reloaded:
  description: Whether the server was told to reload its configuration.
  returned: always
  type: bool
streaming:
  description:
    - Whether the WAL receiver streams from O(primary_host) at the end; null when not waited for.
    - With O(detach=true), false once no WAL receiver runs; null when not waited for.
  returned: always
  type: bool
config_file:
  description: File holding C(primary_conninfo).
  returned: always
  type: str
primary_conninfo:
  description:
    - The standby's C(primary_conninfo); it names the password file and holds no password.
    - Empty with O(detach=true).
  returned: always
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.controldata import is_data_directory, running_postmaster_pid
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    ConnectionFailed,
    fetch_one,
    local_connection_kwargs,
    refuse_root,
    require_psycopg,
    try_connect,
    validate_port,
    validate_positive,
)
from ansible_collections.pgops.replication.plugins.module_utils.standby import (
    ensure_passfile,
    primary_conninfo,
    upstream_argument_spec,
    validate_upstream,
    write_standby_config,
)

RECEIVER_QUERY = """
SELECT pg_is_in_recovery() AS in_recovery,
       (SELECT status FROM pg_stat_wal_receiver) AS status,
       (SELECT sender_host FROM pg_stat_wal_receiver) AS sender_host,
       (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port
"""

# Where the server's primary_conninfo comes from, to explain a WAL receiver that keeps running after a detach.
PRIMARY_CONNINFO_SOURCE_QUERY = """
SELECT setting <> '' AS is_set, sourcefile, sourceline FROM pg_settings WHERE name = 'primary_conninfo'
"""

# Empty values rather than removed lines: an empty setting in the file PostgreSQL reads last overrides one made in
# any file read before it, so no WAL receiver starts, now or at the next start.
DETACHED_SETTINGS = {"primary_conninfo": "", "primary_slot_name": ""}


def local_connection(module):
    params = module.params
    try:
        return try_connect(local_connection_kwargs(params["login_port"], params["login_unix_socket"]))
    except ConnectionFailed as error:
        module.fail_json(msg="a server runs on %s but does not answer: %s" % (params["data_dir"], error))


def streams_from_primary(state: dict, params: dict) -> bool:
    return (
        state.get("status") == "streaming"
        and state.get("sender_host") == params["primary_host"]
        and state.get("sender_port") == params["primary_port"]
    )


def runs_no_receiver(state: dict) -> bool:
    return state.get("status") is None


def wait_for_receiver(connection, timeout: int, reached) -> tuple[bool, dict]:
    """Poll the WAL receiver until `reached(state)` or `timeout` seconds pass; whether it was reached, and the last state."""
    deadline = time.monotonic() + timeout
    while True:
        state = fetch_one(connection, RECEIVER_QUERY)
        if reached(state):
            return True, state
        if time.monotonic() > deadline:
            return False, state
        time.sleep(0.2)


def refuse_a_primary(module, connection, data_dir: str, result: dict) -> None:
    params = module.params
    if connection is None or fetch_one(connection, RECEIVER_QUERY)["in_recovery"]:
        return
    if params["detach"]:
        module.fail_json(
            msg="the server on %s runs as a primary: there is no primary for it to stop following (detach is for a standby)" % data_dir,
            **result,
        )
    module.fail_json(
        msg="the server on %s runs as a primary: it cannot simply follow %s. Rejoin it (pg_rewind or a re-clone) "
        "to make it a standby" % (data_dir, params["primary_host"]),
        **result,
    )


def follow_primary(module, connection, data_dir: str, result: dict) -> None:
    params = module.params
    passfile_changed = ensure_passfile(params, module.check_mode)
    standby = write_standby_config(params, data_dir, module.check_mode)
    result.update(config_file=standby["config_file"], diff=standby["diff"], changed=standby["changed"] or passfile_changed)
    if connection is None or module.check_mode:
        return
    with connection:
        if standby["changed"]:
            connection.execute("SELECT pg_reload_conf()")
            result["reloaded"] = True
        if params["wait_timeout"] > 0:
            result["streaming"], state = wait_for_receiver(
                connection, params["wait_timeout"], lambda state: streams_from_primary(state, params)
            )
            if not result["streaming"]:
                module.fail_json(msg=not_streaming_message(params, state), **result)


def not_streaming_message(params: dict, state: dict) -> str:
    """Why following failed, as far as the standby can tell, and where to look: libpq's reason for a refused
    connection is written to the standby's server log, not to any view."""
    target = "%s:%d" % (params["primary_host"], params["primary_port"])
    if state.get("status") and state.get("sender_host"):
        receiver = "its WAL receiver is %s from %s:%s instead" % (state["status"], state["sender_host"], state["sender_port"])
    elif state.get("status"):
        receiver = "its WAL receiver is %s but has not connected yet" % state["status"]
    else:
        receiver = "no WAL receiver runs, so every attempt to connect to %s failed" % target
    return (
        "the standby does not stream from %s after %d seconds: %s. The standby's server log says why each attempt failed; "
        "the usual causes are the primary's pg_hba.conf not admitting this host for replication as %s, a wrong replication "
        "password (passfile %s), or the primary not listening on %s."
        % (target, params["wait_timeout"], receiver, params["replication_user"], params["passfile"], target)
    )


def detach_from_primary(module, connection, data_dir: str, result: dict) -> None:
    params = module.params
    standby = write_standby_config(params, data_dir, module.check_mode, settings=DETACHED_SETTINGS)
    # The file may already say so while the server has not applied it (a reload that never came, a hand edit):
    # what counts is that no WAL receiver runs.
    receiver_runs = connection is not None and not runs_no_receiver(fetch_one(connection, RECEIVER_QUERY))
    result.update(config_file=standby["config_file"], diff=standby["diff"], changed=standby["changed"] or receiver_runs)
    if connection is None or module.check_mode:
        return
    with connection:
        if standby["changed"] or receiver_runs:
            connection.execute("SELECT pg_reload_conf()")
            result["reloaded"] = True
        if params["wait_timeout"] > 0:
            detached, state = wait_for_receiver(connection, params["wait_timeout"], runs_no_receiver)
            result["streaming"] = state["status"] == "streaming"
            if not detached:
                source = fetch_one(connection, PRIMARY_CONNINFO_SOURCE_QUERY)
                reason = ""
                if source.get("is_set"):
                    reason = "; the server still has a primary_conninfo, from %s line %s, instead of the empty one in %s" % (
                        source["sourcefile"] or "a file this user may not read",
                        source["sourceline"],
                        standby["config_file"],
                    )
                module.fail_json(
                    msg="the standby on %s still runs a WAL receiver after %d seconds (%s from %s:%s)%s"
                    % (data_dir, params["wait_timeout"], state["status"], state["sender_host"], state["sender_port"], reason),
                    **result,
                )


def main() -> None:
    argument_spec = upstream_argument_spec()
    # A detached standby follows no primary: only following one needs primary_host.
    argument_spec["primary_host"]["required"] = False
    argument_spec.update(
        detach=dict(type="bool", default=False),
        data_dir=dict(type="path", required=True),
        login_port=dict(type="int", default=5432),
        login_unix_socket=dict(type="path"),
        wait_timeout=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, required_if=[("detach", False, ["primary_host"])], supports_check_mode=True)
    params = module.params
    require_psycopg(module)
    if params["detach"]:
        if params["primary_host"] is not None:
            module.warn("detach=true follows no primary: primary_host %s is ignored" % params["primary_host"])
    else:
        validate_upstream(module)
    validate_port(module, params["login_port"], "login_port")
    validate_positive(module, params["wait_timeout"], "wait_timeout", allow_zero=True)
    data_dir = params["data_dir"].rstrip("/")
    if not is_data_directory(data_dir):
        module.fail_json(msg="data_dir %s is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)" % data_dir)
    refuse_root(module, "pg_follow")

    running = running_postmaster_pid(data_dir) is not None
    connection = local_connection(module) if running else None
    result = dict(
        running=running,
        reloaded=False,
        streaming=None,
        primary_conninfo="" if params["detach"] else primary_conninfo(params),
    )
    refuse_a_primary(module, connection, data_dir, result)
    if params["detach"]:
        detach_from_primary(module, connection, data_dir, result)
    else:
        follow_primary(module, connection, data_dir, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_follow
short_description: Point a standby at a primary
version_added: 0.1.0
description:
  - Writes C(primary_conninfo), C(primary_slot_name) and C(standby.signal) for a data directory whose server is a
    standby or is stopped, and puts the replication password in the password file.
  - When the standby runs, it reloads its configuration (PostgreSQL 13 and newer apply C(primary_conninfo) on reload,
    restarting only the WAL receiver), and with O(wait_timeout) waits until it streams from the new primary.
  - A stopped server is only configured; it follows the primary from its next start.
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
    description: Seconds to wait, after the change, for the WAL receiver to stream from O(primary_host); 0 does not wait.
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
  description: Whether the WAL receiver streams from O(primary_host) at the end; null when not waited for.
  returned: always
  type: bool
config_file:
  description: File holding C(primary_conninfo).
  returned: always
  type: str
primary_conninfo:
  description: The standby's C(primary_conninfo); it names the password file and holds no password.
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


def wait_for_stream(connection, params: dict) -> bool:
    deadline = time.monotonic() + params["wait_timeout"]
    while True:
        if streams_from_primary(fetch_one(connection, RECEIVER_QUERY), params):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def main() -> None:
    argument_spec = upstream_argument_spec()
    argument_spec.update(
        data_dir=dict(type="path", required=True),
        login_port=dict(type="int", default=5432),
        login_unix_socket=dict(type="path"),
        wait_timeout=dict(type="int", default=0),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    require_psycopg(module)
    validate_upstream(module)
    validate_port(module, params["login_port"], "login_port")
    validate_positive(module, params["wait_timeout"], "wait_timeout", allow_zero=True)
    data_dir = params["data_dir"].rstrip("/")
    if not is_data_directory(data_dir):
        module.fail_json(msg="data_dir %s is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)" % data_dir)
    refuse_root(module, "pg_follow")

    running = running_postmaster_pid(data_dir) is not None
    connection = local_connection(module) if running else None
    result = dict(running=running, reloaded=False, streaming=None, primary_conninfo=primary_conninfo(params))
    if connection is not None and not fetch_one(connection, RECEIVER_QUERY)["in_recovery"]:
        module.fail_json(
            msg="the server on %s runs as a primary: it cannot simply follow %s. Rejoin it (pg_rewind or a re-clone) "
            "to make it a standby" % (data_dir, params["primary_host"]),
            **result,
        )
    passfile_changed = ensure_passfile(params, module.check_mode)
    standby = write_standby_config(params, data_dir, module.check_mode)
    result.update(config_file=standby["config_file"], diff=standby["diff"], changed=standby["changed"] or passfile_changed)
    if connection is not None and not module.check_mode:
        with connection:
            if standby["changed"]:
                connection.execute("SELECT pg_reload_conf()")
                result["reloaded"] = True
            if params["wait_timeout"] > 0:
                result["streaming"] = wait_for_stream(connection, params)
                if not result["streaming"]:
                    state = fetch_one(connection, RECEIVER_QUERY)
                    module.fail_json(
                        msg="the standby does not stream from %s:%d after %d seconds (WAL receiver: %s from %s:%s)"
                        % (
                            params["primary_host"],
                            params["primary_port"],
                            params["wait_timeout"],
                            state["status"] or "not running",
                            state["sender_host"],
                            state["sender_port"],
                        ),
                        **result,
                    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

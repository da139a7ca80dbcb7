#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pgbouncer_admin
short_description: Pause PgBouncer's databases within a bound, resume them, or make it read its configuration again
version_added: 0.3.0
description:
  - Talks to PgBouncer's admin console (database C(pgbouncer)) over its Unix socket, as the OS user named in its
    C(admin_users) (peer authentication).
  - O(command=pause) asks PgBouncer to pause the databases in O(databases) (all when empty). PgBouncer lets each running
    transaction end, then closes its server connections; clients stay connected and their next queries wait. When a
    transaction is still running after O(pause_timeout) seconds, the module resumes what it paused and fails, naming
    each client that held a transaction open. Nothing is left paused by a failed pause. With O(on_timeout=keep_pending)
    it leaves the pause pending instead and succeeds, naming those clients; the caller ends their transactions (a fast
    stop of the primary does), and the pause completes then.
  - O(command=resume) resumes the databases that are paused; their waiting clients go on, on new server connections.
  - O(command=reload) makes PgBouncer read its configuration files again, for example a database's new host while it
    is paused.
  - O(command=show) changes nothing and returns each database with the host it sends clients to and whether it is
    paused (RV(databases)), for C(playbooks/status.yml).
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Reports what it would pause, resume or reload, and does none of it.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: Pausing paused databases and resuming running ones change nothing; O(command=reload) always reloads; O(command=show) reads.
options:
  command:
    description: What to do.
    type: str
    required: true
    choices: [pause, resume, reload, show]
  databases:
    description: The databases of PgBouncer's C([databases]) section to pause or resume; every one when empty.
    type: list
    elements: str
    default: []
  pause_timeout:
    description: Seconds a pause waits for running transactions to end before it gives up (more than 0).
    type: float
    default: 30
  on_timeout:
    description:
      - What a pause does when a transaction still runs after O(pause_timeout).
      - V(resume) resumes what it paused and fails, naming the clients that held a transaction open.
      - V(keep_pending) leaves the pause pending and succeeds, naming them in RV(holders) and the databases in
        RV(pending). Their clients' next queries still wait; once those transactions end, the pause is complete.
    type: str
    choices: [resume, keep_pending]
    default: resume
    version_added: 0.3.0
  socket_dir:
    description: Directory of PgBouncer's Unix socket (its C(unix_socket_dir)).
    type: path
    default: /var/run/postgresql
  port:
    description: PgBouncer's port (C(listen_port)), which also names its socket.
    type: int
    default: 6432
  admin_user:
    description: The admin console user, the OS user the module runs as (C(become_user)).
    type: str
    default: postgres
requirements:
  - psycopg >= 3 on the host.
"""

EXAMPLES = r"""
- name: Pause the application's database, waiting at most 10 s for running transactions
  pgops.replication.pgbouncer_admin:
    command: pause
    databases: [appdb]
    pause_timeout: 10
  become: true
  become_user: postgres

- name: Read the new host of appdb and let the waiting clients go on
  pgops.replication.pgbouncer_admin:
    command: "{{ item }}"
    databases: [appdb]
  loop: [reload, resume]
  become: true
  become_user: postgres
"""

RETURN = r"""
paused:
  description: The databases paused after the module ran (every paused database, not only those it paused).
  returned: always
  type: list
  elements: str
acted_on:
  description: The databases this run paused or resumed (or, in check mode, would have).
  returned: always
  type: list
  elements: str
waited_seconds:
  description: How long the pause waited for running transactions to end.
  returned: when O(command=pause)
  type: float
holders:
  description: The clients whose transactions outlasted O(pause_timeout), as C(user@address:port application database).
  returned: when a pause gave up, or was left pending
  type: list
  elements: str
databases:
  description: The databases of O(databases) (every one when empty) as PgBouncer has them now.
  returned: when O(command=show)
  type: list
  elements: dict
  contains:
    name:
      description: The name clients connect to.
      type: str
    host:
      description: The server host it sends them to.
      type: str
    port:
      description: The server port.
      type: int
    database:
      description: The database on that server.
      type: str
    paused:
      description: Whether it is paused (or its pause is pending).
      type: bool
pending:
  description: The databases whose pause was left pending (O(on_timeout=keep_pending)).
  returned: when O(command=pause)
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.postgres import psycopg, require_psycopg, validate_port

ADMIN_DATABASE = "pgbouncer"
POLL_SECONDS = 0.05


def admin_connect(module):
    params = module.params
    kwargs = dict(host=params["socket_dir"], port=params["port"], user=params["admin_user"], dbname=ADMIN_DATABASE, connect_timeout=5)
    try:
        # The admin console speaks only the simple query protocol, which the client-side cursor uses.
        return psycopg.connect(autocommit=True, cursor_factory=psycopg.ClientCursor, **kwargs)
    except psycopg.Error as error:
        module.fail_json(
            msg="could not reach PgBouncer's admin console on %s port %d as %s: %s"
            % (params["socket_dir"], params["port"], params["admin_user"], str(error).strip())
        )


def show(connection, what: str) -> list:
    """The rows of a SHOW command as dictionaries (the columns differ between PgBouncer releases)."""
    cursor = connection.execute("SHOW %s" % what)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def pooled_databases(connection) -> dict:
    """{name: paused} for every database of the [databases] section (not the admin console)."""
    return {row["name"]: bool(row["paused"]) for row in show(connection, "DATABASES") if row["name"] != ADMIN_DATABASE}


def targets(module, databases: dict) -> list:
    wanted = module.params["databases"] or sorted(databases)
    unknown = [name for name in wanted if name not in databases]
    if unknown:
        module.fail_json(
            msg="databases: %s %s not in PgBouncer's [databases] section (it has %s)"
            % (", ".join(unknown), "is" if len(unknown) == 1 else "are", ", ".join(sorted(databases)) or "none")
        )
    return wanted


def quote_name(name: str) -> str:
    return '"%s"' % name.replace('"', '""')


def holders(connection, names: list) -> list:
    """The clients linked to a server connection still running a transaction in one of `names`."""
    servers = {row["link"]: row for row in show(connection, "SERVERS") if row["database"] in names and row["state"] == "active"}
    found = []
    for client in show(connection, "CLIENTS"):
        if client["ptr"] in servers:
            found.append(
                "%s@%s:%s %s %s" % (client["user"], client["addr"], client["port"], client["application_name"] or "-", client["database"])
            )
    return sorted(found)


def pause(module, connection, to_pause: list) -> dict:
    """Pause each database on a connection of its own, since PAUSE answers only once its transactions have ended."""
    timeout = module.params["pause_timeout"]
    started = time.monotonic()
    pausing = {}
    try:
        for name in to_pause:
            pausing[name] = admin_connect(module)
            pausing[name].pgconn.send_query(("PAUSE %s" % quote_name(name)).encode())
            # The connection does not block: what send_query could not write yet goes out here.
            while pausing[name].pgconn.flush():
                time.sleep(POLL_SECONDS)
        waiting = dict(pausing)
        while waiting:
            for name, pending in list(waiting.items()):
                pending.pgconn.consume_input()
                if not pending.pgconn.is_busy():
                    answer = pending.pgconn.get_result()
                    if answer is not None and answer.error_message:
                        raise RuntimeError("PAUSE %s: %s" % (name, answer.error_message.decode(errors="replace").strip()))
                    del waiting[name]
            if waiting and time.monotonic() - started >= timeout:
                held = holders(connection, sorted(waiting))
                if module.params["on_timeout"] == "keep_pending":
                    return dict(waited_seconds=round(time.monotonic() - started, 3), holders=held, pending=sorted(waiting))
                resume(connection, to_pause)
                module.fail_json(
                    msg="PgBouncer could not pause %s within %s s: a transaction was still running (%s). Every database this "
                    "run paused is running again; end those transactions, or give more time (pause_timeout)."
                    % (", ".join(sorted(waiting)), timeout, "; ".join(held) or "its client had gone"),
                    holders=held,
                    waited_seconds=round(time.monotonic() - started, 3),
                    paused=[],
                    acted_on=[],
                )
            if waiting:
                time.sleep(POLL_SECONDS)
    except RuntimeError as error:
        resume(connection, to_pause)
        module.fail_json(msg="%s; every database this run paused is running again" % error)
    finally:
        for pending in pausing.values():
            pending.close()
    return dict(waited_seconds=round(time.monotonic() - started, 3), pending=[])


def resume(connection, names: list) -> None:
    paused = pooled_databases(connection)
    for name in names:
        if paused.get(name):
            connection.execute("RESUME %s" % quote_name(name))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type="str", required=True, choices=["pause", "resume", "reload", "show"]),
            databases=dict(type="list", elements="str", default=[]),
            pause_timeout=dict(type="float", default=30),
            on_timeout=dict(type="str", choices=["resume", "keep_pending"], default="resume"),
            socket_dir=dict(type="path", default="/var/run/postgresql"),
            port=dict(type="int", default=6432),
            admin_user=dict(type="str", default="postgres"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    require_psycopg(module)
    validate_port(module, params["port"], "port")
    if params["pause_timeout"] <= 0:
        module.fail_json(msg="pause_timeout must be more than 0 seconds, got %s" % params["pause_timeout"])
    if any(not name or "\0" in name for name in params["databases"]):
        module.fail_json(msg="databases: a database name must be a non-empty string")
    command = params["command"]
    with admin_connect(module) as connection:
        databases = pooled_databases(connection)
        names = targets(module, databases)
        result = dict(changed=False, acted_on=[])
        if command == "show":
            rows = {row["name"]: row for row in show(connection, "DATABASES")}
            result["databases"] = [
                dict(
                    name=name,
                    host=rows[name]["host"],
                    port=int(rows[name]["port"]),
                    database=rows[name]["database"],
                    paused=bool(rows[name]["paused"]),
                )
                for name in names
            ]
        elif command == "reload":
            result.update(changed=True, acted_on=names)
            if not module.check_mode:
                connection.execute("RELOAD")
        elif command == "pause":
            to_pause = [name for name in names if not databases[name]]
            result.update(changed=bool(to_pause), acted_on=to_pause, waited_seconds=0.0, pending=[])
            if to_pause and not module.check_mode:
                result.update(pause(module, connection, to_pause))
        else:
            to_resume = [name for name in names if databases[name]]
            result.update(changed=bool(to_resume), acted_on=to_resume)
            if to_resume and not module.check_mode:
                resume(connection, to_resume)
        result["paused"] = sorted(name for name, paused in pooled_databases(connection).items() if paused)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

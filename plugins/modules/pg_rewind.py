#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_rewind
short_description: Make a stopped former primary or diverged standby follow the current primary
version_added: 0.1.0
description:
  - Checks the prerequisites first and names the server and setting that fails them (data checksums or
    C(wal_log_hints) on the target, C(full_page_writes) on the source, the same cluster on both sides).
  - Runs C(pg_rewind) against the current primary; a target that was not shut down cleanly is recovered
    first by C(pg_rewind) itself.
  - That crash recovery runs a single-user server, which refuses standby mode, so a fenced target's C(standby.signal)
    (and C(recovery.signal)) waits under the suffix C(.pgops-rewind) while C(pg_rewind) runs and is put back
    afterwards, whether it succeeded or not; a run stopped half-way has it put back by the next run.
  - C(pg_rewind) copies the source's configuration files that live in the data directory; the module puts
    the target's own files back afterwards, so its settings survive. With the Debian layout, give
    O(config_file) so C(pg_rewind) can start the target for crash recovery.
  - Writes C(standby.signal) and C(primary_conninfo) so the server starts as a standby of the primary.
  - When a rewind cannot work (missing WAL, missing prerequisites, another cluster) the module fails with
    RV(rewind_possible=false), which a playbook can branch on to re-clone the standby instead.
  - Must run as the PostgreSQL OS user (C(become_user=postgres)).
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.upstream
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Runs C(pg_rewind --dry-run) when the target was shut down cleanly; otherwise reports what would run.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A target that no longer diverges, or was rewound and not started yet, is not rewound again.
options:
  data_dir:
    description: Data directory of the stopped target server.
    type: path
    required: true
  source_user:
    description:
      - Role C(pg_rewind) logs in as on the primary (O(primary_host)), a superuser or a role granted
        EXECUTE on C(pg_ls_dir), C(pg_stat_file) and C(pg_read_binary_file).
    type: str
    default: postgres
  source_password:
    description: Password of O(source_user); handed to C(pg_rewind) in its environment, never on its command line.
    type: str
  source_dbname:
    description: Database C(pg_rewind) connects to on the primary.
    type: str
    default: postgres
  config_file:
    description:
      - The target's C(postgresql.conf) when it lives outside the data directory, for example
        C(/etc/postgresql/15/main/postgresql.conf) on Debian (C(pg_rewind --config-file)).
    type: path
  restore_target_wal:
    description: Let C(pg_rewind) fetch missing WAL of the target with its C(restore_command) (C(--restore-target-wal)).
    type: bool
    default: false
  allow_older_source:
    description:
      - Rewind even when the source does not descend from the target's timeline (the target is on a newer timeline,
        or on a branch the source never had), which discards what the target wrote on that timeline.
      - Without it the module refuses, with RV(rewind_possible=null) so that a playbook does not re-clone instead (a
        re-clone from that source discards the same writes). The target's timeline is the newest of its last
        checkpoint's and of the files in its C(pg_wal), the source's history is read from its C(pg_wal).
    type: bool
    default: false
    version_added: 0.2.0
  bin_dir:
    description: Directory holding C(pg_rewind) and C(pg_controldata); found from the installed server packages when unset.
    type: path
notes:
  - Requires PostgreSQL 15 or newer.
"""

EXAMPLES = r"""
- name: Rewind the old primary and make it a standby of db2
  pgops.replication.pg_rewind:
    data_dir: /var/lib/postgresql/15/main
    config_file: /etc/postgresql/15/main/postgresql.conf
    primary_host: db2.example.net
    replication_password: "{{ postgresql_replication_password }}"
    slot_name: db1
    application_name: db1
  become: true
  become_user: postgres
  register: rewind
  failed_when: rewind.failed and rewind.rewind_possible is not false

- name: Re-clone when a rewind is impossible
  pgops.replication.pg_basebackup:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db2.example.net
    force: true
  become: true
  become_user: postgres
  when: rewind.rewind_possible is false
"""

RETURN = r"""
rewound:
  description: Whether C(pg_rewind) changed the data directory.
  returned: always
  type: bool
rewind_possible:
  description: False when a rewind cannot work and the target must be re-cloned; null when the cause of a failure is unknown.
  returned: always
  type: bool
reason:
  description: Why no rewind was done or why it failed.
  returned: when no rewind was done
  type: str
standby_config_changed:
  description: Whether C(standby.signal) or C(primary_conninfo) were written.
  returned: always
  type: bool
output:
  description: What C(pg_rewind) printed.
  returned: when it ran
  type: str
command:
  description: The C(pg_rewind) command line (it holds no password).
  returned: when it ran
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import build_conninfo
from ansible_collections.pgops.replication.plugins.module_utils.controldata import (
    is_data_directory,
    read_controldata,
    running_postmaster_pid,
    wal_directory_names,
)
from ansible_collections.pgops.replication.plugins.module_utils.lsn import newest_wal_timeline, received_timeline, timeline_history
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    ConnectionFailed,
    describe_target,
    fetch_one,
    find_server_binary,
    psycopg,
    refuse_root,
    require_psycopg,
    try_connect,
    validate_bin_dir,
)
from ansible_collections.pgops.replication.plugins.module_utils.standby import (
    ensure_passfile,
    upstream_argument_spec,
    validate_upstream,
    write_standby_config,
)

# Configuration files pg_rewind would overwrite with the source's copies when they live in the data directory.
TARGET_OWN_FILES = ("postgresql.conf", "postgresql.auto.conf", "pg_hba.conf", "pg_ident.conf")
# pg_rewind messages that mean it can never succeed for this target: re-clone instead.
IMPOSSIBLE_MARKERS = (
    "could not find previous WAL record",
    "could not open file",
    "could not find common ancestor",
    "source and target clusters are from different systems",
    "clusters are not compatible",
    "target server needs to use either data checksums",
)
SOURCE_QUERY = """
SELECT (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       current_setting('full_page_writes') AS full_page_writes,
       current_setting('server_version_num')::int AS server_version_num,
       CASE WHEN pg_is_in_recovery() THEN (SELECT timeline_id FROM pg_control_checkpoint())
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline
"""
HISTORY_QUERY = "SELECT convert_from(pg_read_binary_file(%s), 'UTF8') AS history"


def source_kwargs(params: dict) -> dict:
    kwargs = dict(
        host=params["primary_host"],
        port=params["primary_port"],
        user=params["source_user"],
        dbname=params["source_dbname"],
        sslmode=params["primary_ssl_mode"],
        sslrootcert=params["primary_ssl_rootcert"],
        connect_timeout=params["connect_timeout"],
    )
    return {key: value for key, value in kwargs.items() if value is not None}


def impossible(module, reason: str, **extra) -> None:
    module.fail_json(msg=reason, rewound=False, rewind_possible=False, reason=reason, standby_config_changed=False, **extra)


def check_target(module, data_dir: str, controldata: dict) -> None:
    if not (controldata["data_checksums"] or controldata.get("wal_log_hints")):
        impossible(
            module,
            "target %s: pg_rewind needs data checksums or wal_log_hints=on, and this cluster has neither "
            "(wal_log_hints is off, data checksums are disabled); re-clone it instead" % data_dir,
        )


def check_source(module, controldata: dict) -> dict:
    params = module.params
    kwargs = source_kwargs(params)
    if params["source_password"] is not None:
        kwargs["password"] = params["source_password"]
    try:
        connection = try_connect(kwargs)
    except ConnectionFailed as error:
        module.fail_json(
            msg="cannot reach the primary for pg_rewind: %s" % error,
            rewound=False,
            rewind_possible=None,
            reason="source unreachable",
            standby_config_changed=False,
        )
    with connection:
        source = fetch_one(connection, SOURCE_QUERY)
        source["history"] = [source["timeline"]]
        if source["timeline"] > 1:
            try:
                text = fetch_one(connection, HISTORY_QUERY, ("pg_wal/%08X.history" % source["timeline"],))["history"]
            except psycopg.Error:
                text = None
            source["history"] = timeline_history(text, source["timeline"]) if text is not None else None
    where = describe_target(kwargs)
    if source["system_identifier"] != controldata["system_identifier"]:
        impossible(
            module,
            "source %s belongs to cluster %s and the target to cluster %s: re-clone instead of rewinding"
            % (where, source["system_identifier"], controldata["system_identifier"]),
        )
    if source["full_page_writes"] != "on":
        impossible(module, "source %s: full_page_writes is off, and pg_rewind needs it on" % where)
    if source["server_version_num"] < 150000:
        module.fail_json(msg="source %s runs PostgreSQL %s; this module needs 15 or newer" % (where, source["server_version_num"]))
    target_timeline = received_timeline(newest_wal_timeline(wal_directory_names(params["data_dir"])), controldata["timeline"])
    # Without the history file (a role that may not read it) only the numbers compare: a newer one cannot descend.
    descends = target_timeline in source["history"] if source["history"] is not None else target_timeline <= source["timeline"]
    if not descends and not params["allow_older_source"]:
        module.fail_json(
            msg="target %s is on timeline %d, which the source %s (timeline %d) does not descend from: rewinding it, or re-cloning "
            "it, would discard what it wrote on timeline %d. The source is probably a former primary started again after a "
            "failover; make the member on the newest timeline the primary, or set allow_older_source=true to discard those writes"
            % (params["data_dir"], target_timeline, where, source["timeline"], target_timeline),
            rewound=False,
            rewind_possible=None,
            reason="the source does not descend from the target's timeline",
            standby_config_changed=False,
        )
    return source


def already_rewound(data_dir: str, controldata: dict) -> bool:
    """pg_rewind leaves the target 'in archive recovery' with a backup_label until it is started."""
    return controldata["cluster_state"] == "in archive recovery" and os.path.exists(os.path.join(data_dir, "backup_label"))


def save_own_files(data_dir: str) -> dict:
    """The target's configuration files in the data directory, and which of them it did not have (None)."""
    saved: dict = {}
    for name in TARGET_OWN_FILES:
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                saved[name] = (handle.read(), os.stat(path).st_mode & 0o777)
        else:
            saved[name] = None
    return saved


def restore_own_files(data_dir: str, saved: dict) -> None:
    """Undo pg_rewind's copies of the source's configuration: the target keeps its own files, and gains none."""
    for name, original in saved.items():
        path = os.path.join(data_dir, name)
        if original is None:
            if os.path.exists(path):
                os.unlink(path)
            continue
        content, mode = original
        with open(path, "wb") as handle:
            handle.write(content)
        os.chmod(path, mode)


# A single-user server, which pg_rewind starts for crash recovery, refuses standby mode: the fence's signal files
# wait under this suffix while it runs, and go back in place whatever happens.
SIGNAL_FILES = ("standby.signal", "recovery.signal")
ASIDE_SUFFIX = ".pgops-rewind"


def put_signals_back(data_dir: str) -> None:
    """Signal files set aside by this module, back in place (also those a run stopped half-way left aside)."""
    for name in SIGNAL_FILES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path + ASIDE_SUFFIX):
            os.replace(path + ASIDE_SUFFIX, path)


def set_signals_aside(data_dir: str) -> None:
    for name in SIGNAL_FILES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            os.replace(path, path + ASIDE_SUFFIX)


def rewind_command(module, pg_rewind: str, data_dir: str, dry_run: bool) -> list:
    params = module.params
    command = [
        pg_rewind,
        "--target-pgdata",
        data_dir,
        "--source-server",
        build_conninfo(source_kwargs(params)),
        "--no-sync" if dry_run else "--progress",
    ]
    if dry_run:
        command.append("--dry-run")
    if params["config_file"]:
        command += ["--config-file", params["config_file"]]
    if params["restore_target_wal"]:
        command.append("--restore-target-wal")
    return command


def run_rewind(module, command: list) -> tuple:
    environment = {"LC_ALL": "C", "LANG": "C"}
    if module.params["source_password"] is not None:
        environment["PGPASSWORD"] = module.params["source_password"]
    rc, out, err = module.run_command(command, environ_update=environment)
    return rc, (out + err).strip()


def main() -> None:
    argument_spec = upstream_argument_spec()
    argument_spec.update(
        data_dir=dict(type="path", required=True),
        source_user=dict(type="str", default="postgres"),
        source_password=dict(type="str", no_log=True),
        source_dbname=dict(type="str", default="postgres"),
        config_file=dict(type="path"),
        restore_target_wal=dict(type="bool", default=False),
        allow_older_source=dict(type="bool", default=False),
        bin_dir=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    require_psycopg(module)
    validate_upstream(module)
    validate_bin_dir(module)
    data_dir = params["data_dir"].rstrip("/")
    if not is_data_directory(data_dir):
        module.fail_json(msg="data_dir %s is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)" % data_dir)
    if params["config_file"] and not os.path.isfile(params["config_file"]):
        module.fail_json(msg="config_file %s does not exist" % params["config_file"])
    refuse_root(module, "pg_rewind")
    pid = running_postmaster_pid(data_dir)
    if pid is not None:
        module.fail_json(msg="a PostgreSQL server (PID %d) is running on %s: stop it before rewinding" % (pid, data_dir))

    put_signals_back(data_dir)
    controldata = read_controldata(module, find_server_binary(module, "pg_controldata", params["bin_dir"], data_dir), data_dir)
    check_target(module, data_dir, controldata)
    check_source(module, controldata)
    pg_rewind = find_server_binary(module, "pg_rewind", params["bin_dir"], data_dir)
    result = dict(rewound=False, rewind_possible=True)

    if already_rewound(data_dir, controldata):
        result["reason"] = "already rewound; the server has not been started since"
    elif module.check_mode and not controldata["clean_shutdown"]:
        result.update(rewound=True, reason="the target was not shut down cleanly: crash recovery, then a rewind would run")
    else:
        command = rewind_command(module, pg_rewind, data_dir, dry_run=module.check_mode)
        saved = {} if module.check_mode else save_own_files(data_dir)
        crash_recovery = not module.check_mode and not controldata["clean_shutdown"]
        if crash_recovery:
            set_signals_aside(data_dir)
        try:
            rc, output = run_rewind(module, command)
        finally:
            if crash_recovery:
                put_signals_back(data_dir)
        if not module.check_mode:
            restore_own_files(data_dir, saved)
        result.update(command=command, output=output)
        if rc != 0:
            possible = None if not any(marker in output for marker in IMPOSSIBLE_MARKERS) else False
            module.fail_json(
                msg="pg_rewind failed: %s" % output.splitlines()[-1] if output else "pg_rewind failed",
                rewound=False,
                rewind_possible=possible,
                reason=output,
                standby_config_changed=False,
                command=command,
                output=output,
            )
        if "no rewind required" in output:
            result["reason"] = "no rewind required: the target has not diverged from the primary"
        else:
            result["rewound"] = True

    passfile_changed = ensure_passfile(params, module.check_mode)
    standby = write_standby_config(params, data_dir, module.check_mode)
    result["standby_config_changed"] = standby["changed"]
    module.exit_json(changed=result["rewound"] or standby["changed"] or passfile_changed, **result)


if __name__ == "__main__":
    main()

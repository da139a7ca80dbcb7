#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_basebackup
short_description: Clone a PostgreSQL standby from its primary
version_added: 0.1.0
description:
  - Runs C(pg_basebackup) with WAL streamed and a fast checkpoint, then writes C(standby.signal) and a
    C(primary_conninfo) that names a password file instead of holding the password.
  - The copy is made in a hidden directory beside O(data_dir) and moved into place only once complete,
    so an interrupted clone never leaves a half-copied data directory behind.
  - A data directory that already belongs to the primary's cluster (same system identifier) is left alone.
  - A non-empty directory that holds something else is refused and nothing is deleted. With O(force=true)
    the new copy replaces it and the old directory is kept aside, renamed, for you to remove.
  - Must run as the PostgreSQL OS user (C(become_user=postgres)), which must be able to write the parent
    directory of O(data_dir).
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.basebackup
  - pgops.replication.upstream
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Connects to the primary to report what would be cloned; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  report_progress:
    description:
      - Clone nothing and connect to nothing, only report in RV(written_bytes) how much a clone of O(data_dir) that runs
        in the background has written so far. The other options are checked as for a clone.
      - M(pgops.replication.pg_clone) uses this while it waits for the clone it started, so that only this module knows
        where a clone writes.
    type: bool
    default: false
    version_added: 0.2.0
notes:
  - Requires PostgreSQL 15 or newer on the primary.
seealso:
  - module: pgops.replication.pg_clone
  - module: pgops.replication.pg_replication_user
  - module: pgops.replication.pg_replication_slot
"""

EXAMPLES = r"""
- name: Clone this host from the primary
  pgops.replication.pg_basebackup:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db1.example.net
    replication_password: "{{ postgresql_replication_password }}"
    slot_name: db2
    application_name: db2
    standby_config_file: /etc/postgresql/15/main/conf.d/standby.conf
  become: true
  become_user: postgres

- name: Rebuild a standby whose data directory belongs to another cluster, keeping the old copy aside
  pgops.replication.pg_basebackup:
    data_dir: /var/lib/postgresql/15/main
    primary_host: db1.example.net
    force: true
  become: true
  become_user: postgres
"""

RETURN = r"""
action:
  description: What the module did or, in check mode, would do.
  returned: unless O(report_progress=true)
  type: str
  sample: cloned
  choices: [cloned, replaced, unchanged]
system_identifier:
  description: System identifier of the primary's cluster, now also the standby's.
  returned: unless O(report_progress=true)
  type: str
  sample: "7311542937438211073"
slot_created:
  description: Whether the module created O(slot_name) on the primary.
  returned: unless O(report_progress=true)
  type: bool
kept_aside:
  description: Where the replaced data directory was moved (O(force=true) only).
  returned: when a directory was replaced
  type: str
  sample: /var/lib/postgresql/15/main.pgops-old-20261123T101500
duration_seconds:
  description: Time the copy took.
  returned: when a copy was made
  type: float
  sample: 4.2
size_bytes:
  description: Size of the new data directory.
  returned: when a copy was made
  type: int
  sample: 31457280
wal_sender_waited_seconds:
  description: Seconds the clone waited for a WAL sender of the primary (O(wal_sender_wait)); 0 when none was refused.
  returned: when a copy was made
  type: float
  sample: 3.5
  version_added: 0.3.0
primary_conninfo:
  description: The connection string written for the standby (it holds no password).
  returned: unless O(report_progress=true)
  type: str
  sample: host=db1.example.net port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass application_name=db2
command:
  description: The pg_basebackup command line that was run.
  returned: when a copy was made
  type: list
  elements: str
written_bytes:
  description:
    - What the clone running in the background has written so far, in bytes; 0 before it has begun and once its copy
      has been moved into place.
  returned: with O(report_progress=true)
  type: int
  sample: 142606336
  version_added: 0.2.0
measured_at:
  description: When RV(written_bytes) was counted, in seconds since the epoch by the host's clock.
  returned: with O(report_progress=true)
  type: float
  sample: 1795951199.52
  version_added: 0.2.0
"""

import contextlib
import os
import re
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.controldata import (
    is_data_directory,
    read_controldata,
    running_postmaster_pid,
)
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    ConnectionFailed,
    find_server_binary,
    refuse_root,
    require_psycopg,
    try_connect,
    validate_bin_dir,
    validate_positive,
)
from ansible_collections.pgops.replication.plugins.module_utils.standby import (
    WalSenderWait,
    ensure_passfile,
    primary_conninfo,
    replication_connection_kwargs,
    upstream_argument_spec,
    validate_upstream,
    write_standby_config,
)

MAX_RATE_PATTERN = re.compile(r"^(\d+)([kKM]?)$")


def max_rate_kilobytes(text: str) -> int | None:
    match = MAX_RATE_PATTERN.match(text.strip())
    if match is None:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return number * 1024 if unit == "M" else number


def validate(module) -> None:
    params = module.params
    validate_upstream(module)
    validate_bin_dir(module)
    data_dir = params["data_dir"]
    if not os.path.isabs(data_dir):
        module.fail_json(msg="data_dir must be an absolute path, got %s" % data_dir)
    if not os.path.isdir(os.path.dirname(data_dir.rstrip("/"))):
        module.fail_json(msg="data_dir %s: parent directory does not exist" % data_dir)
    if os.path.exists(data_dir) and not os.path.isdir(data_dir):
        module.fail_json(msg="data_dir %s exists and is not a directory" % data_dir)
    validate_positive(module, params["wal_sender_wait"], "wal_sender_wait", allow_zero=True)
    if params["max_rate"] is not None:
        kilobytes = max_rate_kilobytes(params["max_rate"])
        if kilobytes is None or not 32 <= kilobytes <= 1024 * 1024:
            module.fail_json(
                msg="max_rate %r is not a rate pg_basebackup accepts: use a number of kilobytes per second with an "
                "optional k or M suffix, between 32k and 1024M" % params["max_rate"]
            )


def connect_to_primary(module, sender_wait: WalSenderWait):
    """A replication connection to the primary, authenticated with the given password or the password file."""
    params = module.params
    kwargs = replication_connection_kwargs(params)
    if params["replication_password"] is not None:
        kwargs["password"] = params["replication_password"]
    while True:
        try:
            return try_connect(kwargs)
        except ConnectionFailed as error:
            if not sender_wait.retry(str(error)):
                module.fail_json(msg="cannot reach the primary for replication: %s" % sender_wait.gave_up(str(error)))


def ensure_slot(module, connection) -> bool:
    """Create the physical slot on the primary when asked and missing; True when created."""
    slot_name = module.params["slot_name"]
    if not slot_name or not module.params["create_slot"]:
        return False
    # slot_name matched SLOT_NAME_PATTERN, which makes it safe inside a replication command.
    slot_type = connection.execute("READ_REPLICATION_SLOT %s" % slot_name).fetchone()[0]
    if slot_type is not None:
        return False
    if not module.check_mode:
        connection.execute("CREATE_REPLICATION_SLOT %s PHYSICAL (RESERVE_WAL)" % slot_name)
    return True


def directory_state(module, data_dir: str, pg_controldata: str) -> tuple:
    """('missing' | 'empty' | 'cluster' | 'foreign', system identifier or None)."""
    if not os.path.isdir(data_dir):
        return "missing", None
    if not os.listdir(data_dir):
        return "empty", None
    if is_data_directory(data_dir):
        return "cluster", read_controldata(module, pg_controldata, data_dir)["system_identifier"]
    return "foreign", None


def staging_directory(data_dir: str) -> str:
    """Where a clone is copied before it is moved into place: beside the data directory, hidden."""
    return os.path.join(os.path.dirname(data_dir), "." + os.path.basename(data_dir) + ".pgops-clone")


def clone_written_bytes(data_dir: str) -> int:
    """What a clone of data_dir running in another process has written so far."""
    staging = staging_directory(data_dir)
    if os.path.isdir(staging):
        return directory_size(staging)
    # An empty mount point is cloned into in place, since it cannot be renamed; anything else has not begun yet, or its
    # copy has just been moved into place.
    if os.path.ismount(data_dir):
        return directory_size(data_dir)
    return 0


def directory_size(path: str) -> int:
    total = 0
    for root, _directories, files in os.walk(path):
        for name in files:
            # A file removed while walking counts for nothing.
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def run_basebackup(module, pg_basebackup: str, target: str, sender_wait: WalSenderWait) -> list:
    params = module.params
    source = primary_conninfo(params)
    command = [pg_basebackup, "--pgdata", target, "--wal-method=stream", "--checkpoint=fast", "--no-password", "--dbname", source]
    if params["slot_name"]:
        command += ["--slot", params["slot_name"]]
    if params["max_rate"]:
        command += ["--max-rate", params["max_rate"].strip()]
    while True:
        rc, out, err = module.run_command(command, environ_update={"LC_ALL": "C", "LANG": "C"})
        if rc == 0:
            return command
        if os.path.isdir(target):
            shutil.rmtree(target, ignore_errors=True)
        # A pg_basebackup killed by a signal prints nothing: say so rather than end the message with a colon.
        reason = (err or out).strip() or ("killed by signal %d" % -rc if rc < 0 else "exit status %d, no message" % rc)
        if not sender_wait.retry(reason):
            module.fail_json(msg="pg_basebackup failed: %s" % sender_wait.gave_up(reason), command=command, rc=rc)


def main() -> None:
    argument_spec = upstream_argument_spec()
    argument_spec.update(
        data_dir=dict(type="path", required=True),
        force=dict(type="bool", default=False),
        reclone=dict(type="bool", default=False),
        create_slot=dict(type="bool", default=True),
        max_rate=dict(type="str"),
        bin_dir=dict(type="path"),
        report_progress=dict(type="bool", default=False),
        wal_sender_wait=dict(type="int", default=600),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    require_psycopg(module)
    validate(module)
    refuse_root(module, "pg_basebackup")
    data_dir = params["data_dir"].rstrip("/")
    if params["report_progress"]:
        module.exit_json(changed=False, written_bytes=clone_written_bytes(data_dir), measured_at=time.time())
    pg_controldata = find_server_binary(module, "pg_controldata", params["bin_dir"], data_dir)
    pg_basebackup = find_server_binary(module, "pg_basebackup", params["bin_dir"], data_dir)

    sender_wait = WalSenderWait(params["wal_sender_wait"])
    connection = connect_to_primary(module, sender_wait)
    with connection:
        system_identifier, _timeline, _position, _database = connection.execute("IDENTIFY_SYSTEM").fetchone()
        system_identifier = system_identifier.decode() if isinstance(system_identifier, bytes) else str(system_identifier)
        state, existing_identifier = directory_state(module, data_dir, pg_controldata)
        result = dict(
            changed=False,
            system_identifier=system_identifier,
            slot_created=False,
            primary_conninfo=primary_conninfo(params),
        )
        if state == "cluster" and existing_identifier == system_identifier and not params["reclone"]:
            result.update(changed=ensure_passfile(params, module.check_mode), action="unchanged")
            module.exit_json(**result)
        if state in ("cluster", "foreign"):
            what = "PostgreSQL cluster %s" % existing_identifier if state == "cluster" else "files that are not a PostgreSQL data directory"
            if not (params["force"] or params["reclone"]):
                module.fail_json(
                    msg="data_dir %s already holds %s, not a copy of the primary's cluster %s; nothing was changed. "
                    "Set force=true to clone beside it and keep the old directory aside." % (data_dir, what, system_identifier),
                    **result,
                )
            pid = running_postmaster_pid(data_dir)
            if pid is not None:
                module.fail_json(
                    msg="a PostgreSQL server (PID %d) is running on %s: stop it before replacing its data directory" % (pid, data_dir),
                    **result,
                )
            if os.path.ismount(data_dir):
                module.fail_json(
                    msg="data_dir %s is a mount point and cannot be renamed aside: empty it by hand first" % data_dir, **result
                )
        result["slot_created"] = ensure_slot(module, connection)
    passfile_changed = ensure_passfile(params, module.check_mode)
    action = "replaced" if state in ("cluster", "foreign") else "cloned"
    result.update(changed=True, action=action)
    if module.check_mode:
        module.exit_json(**result)

    clone_in_place = state == "empty" and os.path.ismount(data_dir)
    staging = data_dir if clone_in_place else staging_directory(data_dir)
    if not clone_in_place and os.path.exists(staging):
        # Only an interrupted earlier clone leaves this directory behind; it never holds anything else.
        shutil.rmtree(staging)
    started = time.monotonic()
    command = run_basebackup(module, pg_basebackup, staging, sender_wait)
    write_standby_config(params, staging, check_mode=False)
    if state in ("cluster", "foreign"):
        kept_aside = "%s.pgops-old-%s" % (data_dir, time.strftime("%Y%m%dT%H%M%S"))
        os.rename(data_dir, kept_aside)
        result["kept_aside"] = kept_aside
    if not clone_in_place:
        os.rename(staging, data_dir)
    os.chmod(data_dir, 0o700)
    result.update(
        command=command,
        duration_seconds=round(time.monotonic() - started, 3),
        size_bytes=directory_size(data_dir),
        passfile_changed=passfile_changed,
        wal_sender_waited_seconds=sender_wait.waited,
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

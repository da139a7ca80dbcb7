#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_shutdown
short_description: Stop a server cleanly and report its shutdown checkpoint
version_added: 0.1.0
description:
  - Stops the PostgreSQL server of a data directory with C(pg_ctl stop) and reads C(pg_controldata) afterwards.
    systemd sees the server exit cleanly and marks its unit inactive, so starting the unit later works as usual.
  - Returns the location of the shutdown checkpoint, the last WAL record a primary writes. A standby that has
    received it has every transaction the primary acknowledged, which is what a switchover waits for before promoting.
  - With O(fence=true) it leaves C(standby.signal) in the data directory, so the server can only start again as a
    read-only standby and never as a second primary.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  data_dir:
    description: Data directory of the server.
    type: path
    required: true
  mode:
    description:
      - Shutdown mode. C(fast) disconnects clients and writes a shutdown checkpoint; C(smart) waits for them to leave.
      - C(immediate) is not offered, since it writes no shutdown checkpoint.
    type: str
    choices: [fast, smart]
    default: fast
  timeout:
    description: Seconds to wait for the server to stop.
    type: int
    default: 60
  fence:
    description:
      - Leave C(standby.signal) in the data directory, so the server starts only as a read-only standby.
      - It is written before the stop (after the CHECKPOINT), so a stop that fails still leaves the fence in place.
    type: bool
    default: false
  checkpoint:
    description:
      - Run a CHECKPOINT before stopping, while the server still takes writes, so the shutdown checkpoint (during
        which it takes none) has little left to write. Connects over the local Unix socket as the current OS user.
    type: bool
    default: false
  login_port:
    description: Port of the server, for O(checkpoint).
    type: int
    default: 5432
  login_unix_socket:
    description: Directory of the server's Unix socket, for O(checkpoint); the libpq default when left out.
    type: path
  bin_dir:
    description: Directory holding C(pg_ctl) and C(pg_controldata); by default the one matching the data directory's version.
    type: path
notes:
  - Run it as the data directory's owner (C(become_user=postgres)); pg_ctl refuses root.
  - Fails when the server it stopped did not end with a clean shutdown checkpoint. A server found already stopped
    after a crash is reported (RV(clean_shutdown=false)), not failed, so it can still be fenced.
"""

EXAMPLES = r"""
- name: Stop the old primary and note where its WAL ends
  pgops.replication.pg_shutdown:
    data_dir: /var/lib/postgresql/15/main
    fence: true
  become: true
  become_user: postgres
  register: old_primary

- name: Promote the standby once it has received everything
  pgops.replication.pg_promote:
    wait_for_lsn: "{{ old_primary.checkpoint_lsn }}"
  delegate_to: db2
  become: true
  become_user: postgres
"""

RETURN = r"""
was_running:
  description: Whether a server ran on the data directory before the module acted.
  returned: always
  type: bool
checkpoint_lsn:
  description: Location of the latest checkpoint; after a clean stop of a primary, its shutdown checkpoint.
  returned: success
  type: str
  sample: 0/5000028
timeline:
  description: Timeline of that checkpoint.
  returned: success
  type: int
cluster_state:
  description: C(Database cluster state) from C(pg_controldata), for example C(shut down) or C(shut down in recovery).
  returned: success
  type: str
clean_shutdown:
  description: Whether the server stopped cleanly; false for a server that crashed and was not started since.
  returned: success
  type: bool
fenced:
  description: Whether C(standby.signal) is in the data directory after the run.
  returned: success
  type: bool
duration_seconds:
  description: Time the stop took.
  returned: when the server was stopped
  type: float
"""

import os
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
    local_connection_kwargs,
    psycopg,
    refuse_root,
    require_psycopg,
    try_connect,
    validate_bin_dir,
    validate_port,
    validate_positive,
)


def validate(module) -> str:
    params = module.params
    data_dir = params["data_dir"].rstrip("/")
    if not is_data_directory(data_dir):
        module.fail_json(msg="data_dir %s is not a PostgreSQL data directory (no PG_VERSION or global/pg_control)" % data_dir)
    validate_positive(module, params["timeout"], "timeout")
    validate_port(module, params["login_port"], "login_port")
    validate_bin_dir(module)
    refuse_root(module, "pg_shutdown")
    return data_dir


def stop(module, data_dir: str) -> None:
    params = module.params
    pg_ctl = find_server_binary(module, "pg_ctl", params["bin_dir"], data_dir)
    command = [pg_ctl, "stop", "-D", data_dir, "-m", params["mode"], "-w", "-t", str(params["timeout"])]
    rc, out, err = module.run_command(command)
    if rc != 0:
        module.fail_json(
            msg="%s failed: %s" % (" ".join(command), (err or out).strip()),
            was_running=True,
            changed=True,
            fenced=os.path.exists(os.path.join(data_dir, "standby.signal")),
        )


def checkpoint(module) -> None:
    params = module.params
    require_psycopg(module)
    try:
        with try_connect(local_connection_kwargs(params["login_port"], params["login_unix_socket"])) as connection:
            connection.execute("CHECKPOINT")
    except (ConnectionFailed, psycopg.Error) as error:
        module.fail_json(msg="CHECKPOINT before the stop failed, nothing was stopped: %s" % str(error).strip(), was_running=True)


def leave_standby_signal(data_dir: str) -> None:
    path = os.path.join(data_dir, "standby.signal")
    with open(path, "w"):
        pass
    os.chmod(path, 0o600)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            data_dir=dict(type="path", required=True),
            mode=dict(type="str", choices=["fast", "smart"], default="fast"),
            timeout=dict(type="int", default=60),
            fence=dict(type="bool", default=False),
            checkpoint=dict(type="bool", default=False),
            login_port=dict(type="int", default=5432),
            login_unix_socket=dict(type="path"),
            bin_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    data_dir = validate(module)
    signal_present = os.path.exists(os.path.join(data_dir, "standby.signal"))
    was_running = running_postmaster_pid(data_dir) is not None
    needs_signal = module.params["fence"] and not signal_present
    result = dict(was_running=was_running, changed=was_running or needs_signal)
    if module.check_mode:
        pg_controldata = find_server_binary(module, "pg_controldata", module.params["bin_dir"], data_dir)
        controldata = read_controldata(module, pg_controldata, data_dir)
        result.update(fenced=signal_present or module.params["fence"], timeline=controldata["timeline"])
        module.exit_json(**result)
    if was_running and module.params["checkpoint"]:
        checkpoint(module)
    # The fence before the stop: a stop that fails half-way (pg_ctl gave up, whether the server stopped or not) still
    # leaves a data directory that can only start as a standby.
    if needs_signal:
        leave_standby_signal(data_dir)
    if was_running:
        started = time.monotonic()
        stop(module, data_dir)
        result["duration_seconds"] = round(time.monotonic() - started, 3)
    pg_controldata = find_server_binary(module, "pg_controldata", module.params["bin_dir"], data_dir)
    controldata = read_controldata(module, pg_controldata, data_dir)
    result.update(
        checkpoint_lsn=controldata["checkpoint_lsn"],
        timeline=controldata["timeline"],
        cluster_state=controldata["cluster_state"],
        clean_shutdown=controldata["clean_shutdown"],
        fenced=os.path.exists(os.path.join(data_dir, "standby.signal")),
    )
    if was_running and not controldata["clean_shutdown"]:
        module.fail_json(
            msg="the server on %s is stopped but its state is %r, not a clean shutdown: its last checkpoint is no "
            "shutdown checkpoint" % (data_dir, controldata["cluster_state"]),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

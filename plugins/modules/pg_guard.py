#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_guard
short_description: Install the guard of one cluster, the majority rule before each start and on a running primary
version_added: 0.2.0
description:
  - Writes the guard program, its configuration for one cluster, the replication password the guard asks the other
    members with, and the systemd units that run it; then leaves the isolation fence timer running and enabled. One
    task instead of one per file, so that a run that changes nothing costs one module run per host.
  - The start guard is a drop-in of the server's unit that runs C(program_path start CONFIG) as O(owner) before every
    start of the server (C(ExecStartPre)).
  - The isolation fence is a service run by a timer every O(isolation_interval) seconds as O(owner),
    C(program_path watch CONFIG); systemd skips it without starting Python while the data directory holds
    C(standby.signal).
  - With O(start_guard=false) the drop-in is removed; with O(isolation_fence=false) the timer is stopped and disabled
    and its units removed. Shell scripts left by releases before the guard program are removed.
  - Runs C(systemctl daemon-reload) when a unit changed. It neither starts nor restarts the server; the drop-in
    counts from the server's next start.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: The program is shown by its size and SHA-256, the password file not at all.
  idempotent:
    support: full
options:
  program:
    description:
      - Text of the guard program (the postgresql role's C(files/pgops_guard.py)).
      - Required when O(start_guard) or O(isolation_fence) is true, or O(health_port) is set.
    type: str
  program_path:
    description: Where the program is installed, root-owned, mode 0644; it is run as C(python3 PATH), never on its own.
    type: path
    default: /usr/local/lib/pgops-guard
  config:
    description:
      - The guard's configuration for this cluster (data directory, peers, timeouts; no secret), written as JSON.
      - Required when O(start_guard) or O(isolation_fence) is true, or O(health_port) is set.
    type: dict
  config_path:
    description: Where the configuration is written, owned by O(owner), mode 0640.
    type: path
    required: true
  cluster:
    description: Version and name of the cluster as in its server's unit, for example C(15-main); it names the fence's units.
    type: str
    required: true
  service:
    description: The server's systemd unit, without C(.service), for example C(postgresql@15-main).
    type: str
    required: true
  data_dir:
    description: Data directory of the cluster (the fence skips its run while it holds C(standby.signal)).
    type: path
    required: true
  start_guard:
    description: Run the guard before every start of the server.
    type: bool
    default: true
  isolation_fence:
    description: Run the guard on a timer, so that a primary left in a minority of the members stops itself.
    type: bool
    default: true
  isolation_interval:
    description: Seconds between two runs of the fence, 2 or more.
    type: int
    default: 2
  replication_user:
    description: Role the guard asks the other members as, over replication connections.
    type: str
    default: replicator
  replication_password:
    description:
      - Its password, written to O(passfile) as one C(*:*:replication:USER:PASSWORD) line; other lines are kept.
      - Required when O(start_guard) or O(isolation_fence) is true (the health check asks no other member).
    type: str
  passfile:
    description: The libpq password file of O(owner), mode 0600.
    type: path
    default: /var/lib/postgresql/.pgpass
  owner:
    description: Operating system user that runs the server and the guard; it owns the configuration and the password file.
    type: str
    default: postgres
  health_port:
    description:
      - TCP port of the health check, which tells a proxy or load balancer what this member is; 0 for none.
      - A socket unit listens on it and runs O(program_path) C(health CONFIG) as O(owner) once per connection, so
        nothing runs between two requests. C(GET /primary) answers 200 only from a running primary that is neither
        fenced (C(standby.signal)) nor in a minority of the members, C(/replica) only from a standby that streams
        (with C(?lag=BYTES), that replays within that many bytes of what its primary last reported), C(/health) from
        any running server; otherwise 503, with the member's state as JSON.
    type: int
    default: 0
  health_address:
    description: Address the health check listens on; by default every address of the host.
    type: str
    default: ""
  unit_dir:
    description: Directory of the systemd units.
    type: path
    default: /etc/systemd/system
notes:
  - Run it as root (C(become=true)).
"""

EXAMPLES = r"""
- name: The guard of cluster 15/main
  pgops.replication.pg_guard:
    program: "{{ lookup('ansible.builtin.file', 'pgops_guard.py') }}"
    config_path: /etc/postgresql/15/main/pgops-guard.json
    config: "{{ lookup('ansible.builtin.template', 'pgops-guard.json.j2') | from_json }}"
    cluster: 15-main
    service: postgresql@15-main
    data_dir: /var/lib/postgresql/15/main
    replication_user: replicator
    replication_password: "{{ postgresql_replication_password }}"
  become: true
"""

RETURN = r"""
changed_files:
  description: Files written or removed (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/pgops-isolation-fence-15-main.timer]
systemctl:
  description: The C(systemctl) commands run (or, in check mode, that would be), in order.
  returned: always
  type: list
  elements: str
  sample: [daemon-reload, enable pgops-isolation-fence-15-main.timer, restart pgops-isolation-fence-15-main.timer]
"""

import hashlib
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import read_text, replace_file, rewrite_passfile_text
from ansible_collections.pgops.replication.plugins.module_utils.guard import (
    WantedFile,
    fence_unit_name,
    health_unit_name,
    is_unit,
    unit_actions,
    wanted_files,
)


def current_text(path: str) -> str | None:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def shown(path: str, text: str | None, program_path: str) -> str:
    if text is None or path != program_path:
        return text or ""
    return "(the guard program: %d bytes, SHA-256 %s)\n" % (len(text), hashlib.sha256(text.encode()).hexdigest())


def write(path: str, text: str) -> None:
    """The file written atomically, private until ensure_ownership gives it its owner and mode."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    replace_file(path, text)


def ensure_file(module, wanted, result: dict) -> bool:
    """The file as wanted (text, owner, mode); True when anything changed."""
    before = current_text(wanted.path)
    changed = before != wanted.text
    if changed:
        result["changed_files"].append(wanted.path)
        if not wanted.secret:
            program_path = module.params["program_path"]
            result["diff"].append(
                dict(
                    before_header=wanted.path,
                    after_header=wanted.path,
                    before=shown(wanted.path, before, program_path),
                    after=shown(wanted.path, wanted.text, program_path),
                )
            )
        if not module.check_mode:
            if wanted.text is None:
                os.unlink(wanted.path)
            else:
                write(wanted.path, wanted.text)
    if wanted.text is None or (module.check_mode and before is None):
        return changed
    attributes_changed = ensure_ownership(module, wanted.path, wanted.owner, wanted.mode)
    if attributes_changed and not changed:
        result["changed_files"].append(wanted.path)
    return changed or attributes_changed


def ensure_ownership(module, path: str, owner: str, mode: int) -> bool:
    """`path` owned by `owner` and its primary group, with `mode`; True when either had to change."""
    account = pwd.getpwnam(owner)
    status = os.stat(path)
    changed = (status.st_uid, status.st_gid) != (account.pw_uid, account.pw_gid) or stat.S_IMODE(status.st_mode) != mode
    if changed and not module.check_mode:
        os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(path, mode)
    return changed


def systemctl(module, result: dict, *arguments: str) -> None:
    result["systemctl"].append(" ".join(arguments))
    if module.check_mode:
        return
    rc, out, err = module.run_command(["systemctl", *arguments])
    if rc != 0:
        module.fail_json(msg="systemctl %s failed: %s" % (" ".join(arguments), (err or out).strip()), **result)


def unit_state(module, verb: str, unit: str) -> bool:
    rc, _out, _err = module.run_command(["systemctl", "--quiet", verb, unit])
    return rc == 0


def validate(module) -> None:
    params = module.params
    guarded = params["start_guard"] or params["isolation_fence"]
    if guarded:
        missing = [name for name in ("program", "config", "replication_password") if not params[name]]
        if missing:
            module.fail_json(msg="%s required when start_guard or isolation_fence is true" % " and ".join(missing))
    if not 0 <= params["health_port"] <= 65535:
        module.fail_json(msg="health_port must be a TCP port between 1 and 65535, or 0 for no health check, got %d" % params["health_port"])
    if params["health_port"]:
        missing = [name for name in ("program", "config") if not params[name]]
        if missing:
            module.fail_json(msg="%s required when health_port is set" % " and ".join(missing))
    address = params["health_address"]
    if address and (address.startswith("[") or any(character.isspace() or character in "/%" for character in address)):
        module.fail_json(msg="health_address must be an IP address or host name (an IPv6 address without brackets), got %r" % address)
    if params["isolation_interval"] < 2:
        module.fail_json(msg="isolation_interval must be 2 or more (seconds), got %d" % params["isolation_interval"])
    for name in ("cluster", "service", "owner", "replication_user"):
        value = params[name]
        if not value or "/" in value or any(character.isspace() or ord(character) < 32 for character in value):
            module.fail_json(msg="%s must be a non-empty name without '/', spaces or control characters, got %r" % (name, value))
    for name in ("program_path", "config_path", "data_dir", "passfile", "unit_dir"):
        if not os.path.isabs(params[name]):
            module.fail_json(msg="%s must be an absolute path, got %r" % (name, params[name]))
    if os.path.isdir(params["passfile"]):
        module.fail_json(msg="passfile %s is a directory" % params["passfile"])
    try:
        pwd.getpwnam(params["owner"])
    except KeyError:
        module.fail_json(msg="owner %s is no user of this host" % params["owner"])
    if params["replication_password"] is not None and ("\n" in params["replication_password"] or "\0" in params["replication_password"]):
        module.fail_json(msg="replication_password must not hold a line break or a NUL character")


def ensure_passfile(module, result: dict) -> bool:
    params = module.params
    path = params["passfile"]
    before = read_text(path)
    text = rewrite_passfile_text(before, "*", "*", "replication", params["replication_user"], params["replication_password"])
    return ensure_file(module, WantedFile(path, text, owner=params["owner"], mode=0o600, secret=True), result)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            program=dict(type="str"),
            program_path=dict(type="path", default="/usr/local/lib/pgops-guard"),
            config=dict(type="dict"),
            config_path=dict(type="path", required=True),
            cluster=dict(type="str", required=True),
            service=dict(type="str", required=True),
            data_dir=dict(type="path", required=True),
            start_guard=dict(type="bool", default=True),
            isolation_fence=dict(type="bool", default=True),
            isolation_interval=dict(type="int", default=2),
            replication_user=dict(type="str", default="replicator"),
            replication_password=dict(type="str", no_log=True),
            passfile=dict(type="path", default="/var/lib/postgresql/.pgpass"),
            owner=dict(type="str", default="postgres"),
            health_port=dict(type="int", default=0),
            health_address=dict(type="str", default=""),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
        ),
        supports_check_mode=True,
    )
    validate(module)
    params = module.params
    result = dict(changed=False, changed_files=[], systemctl=[], diff=[])
    # Each unit systemd keeps running or listening, whether it is wanted, and the unit files whose change restarts it.
    fence_unit, health_unit = fence_unit_name(params["cluster"]), health_unit_name(params["cluster"])
    started_units = [
        (fence_unit + ".timer", params["isolation_fence"], (fence_unit + ".service", fence_unit + ".timer")),
        # A new instance of the service reads its new file; only a new address or port needs the socket again.
        (health_unit + ".socket", bool(params["health_port"]), (health_unit + ".socket",)),
    ]
    states = {unit: (unit_state(module, "is-enabled", unit), unit_state(module, "is-active", unit)) for unit, *_rest in started_units}
    changed = False
    for unit, wanted, _files in started_units:
        if not wanted:
            # Stopped and disabled while systemd still knows the unit, before its files go.
            for action in unit_actions(False, False, *states[unit]):
                systemctl(module, result, action, unit)
                changed = True
    if params["start_guard"] or params["isolation_fence"]:
        changed = ensure_passfile(module, result) or changed
    changed_units = []
    for wanted in wanted_files(params):
        file_changed = ensure_file(module, wanted, result)
        changed = changed or file_changed
        if file_changed and is_unit(wanted.path, params["unit_dir"]):
            changed_units.append(os.path.basename(wanted.path))
    if changed_units:
        systemctl(module, result, "daemon-reload")
    for unit, wanted, unit_files in started_units:
        if wanted:
            for action in unit_actions(True, any(name in changed_units for name in unit_files), *states[unit]):
                systemctl(module, result, action, unit)
                changed = True
    result["changed"] = changed
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()

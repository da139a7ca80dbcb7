#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_replication_slot
short_description: Manage physical replication slots
version_added: 0.1.0
description:
  - Creates or drops a physical replication slot on the server it connects to and reports its state.
  - A slot keeps the WAL its standby still needs; C(max_slot_wal_keep_size) bounds how much.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description: Slot name, 1 to 63 lower-case letters, digits or underscores.
    type: str
    required: true
  state:
    description: Whether the slot should exist.
    type: str
    choices: [present, absent]
    default: present
  immediately_reserve:
    description: Reserve WAL from the moment the slot is created rather than from the first connection.
    type: bool
    default: true
notes:
  - A slot in use by a connected standby cannot be dropped; the module fails and names the process using it.
"""

EXAMPLES = r"""
- name: A slot for each standby
  pgops.replication.pg_replication_slot:
    name: "{{ item }}"
  loop: [db2, db3]
  become: true
  become_user: postgres

- name: Drop the slot of a decommissioned standby
  pgops.replication.pg_replication_slot:
    name: db4
    state: absent
  become: true
  become_user: postgres
"""

RETURN = r"""
slot:
  description: The slot after the run; null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: Slot name.
      type: str
    active:
      description: Whether a standby is streaming from it.
      type: bool
    active_pid:
      description: PID of the WAL sender using it.
      type: int
    restart_lsn:
      description: Oldest WAL position the slot keeps.
      type: str
    wal_status:
      description: C(reserved), C(extended), C(unreserved) or C(lost).
      type: str
  sample: {"name": "db2", "active": true, "active_pid": 4121, "restart_lsn": "0/3000148", "wal_status": "reserved"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    SLOT_NAME_PATTERN,
    connect,
    connection_argument_spec,
    fetch_one,
    psycopg,
    require_psycopg,
)

SLOT_QUERY = """
SELECT slot_name AS name, slot_type AS type, active, active_pid, restart_lsn::text AS restart_lsn, wal_status
FROM pg_replication_slots WHERE slot_name = %s
"""


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        immediately_reserve=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg(module)
    name = module.params["name"]
    if not SLOT_NAME_PATTERN.match(name):
        module.fail_json(msg="name %r is not a valid replication slot name: use 1 to 63 lower-case letters, digits or underscores" % name)
    connection = connect(module)
    with connection:
        slot = fetch_one(connection, SLOT_QUERY, (name,)) or None
        if slot and slot["type"] != "physical":
            module.fail_json(msg="slot %s exists and is a %s slot; this module manages physical slots only" % (name, slot["type"]))
        if module.params["state"] == "present":
            needed, after = (
                slot is None,
                slot or dict(name=name, type="physical", active=False, active_pid=None, restart_lsn=None, wal_status=None),
            )
        else:
            if slot and slot["active"]:
                module.fail_json(
                    msg="slot %s is in use by WAL sender PID %s: stop that standby before dropping its slot" % (name, slot["active_pid"]),
                    slot=slot,
                )
            needed, after = slot is not None, None
        result = dict(changed=needed, slot=after, diff=dict(before={"slot": slot} if slot else {}, after={"slot": after} if after else {}))
        if not needed or module.check_mode:
            module.exit_json(**result)
        try:
            if module.params["state"] == "present":
                connection.execute("SELECT pg_create_physical_replication_slot(%s, %s)", (name, module.params["immediately_reserve"]))
            else:
                connection.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        except psycopg.Error as error:
            module.fail_json(msg="could not %s slot %s: %s" % ("create" if after else "drop", name, str(error).strip()))
        result["slot"] = fetch_one(connection, SLOT_QUERY, (name,)) or None
    module.exit_json(**result)


if __name__ == "__main__":
    main()

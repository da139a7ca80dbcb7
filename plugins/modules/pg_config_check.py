#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_config_check
short_description: Ask PostgreSQL whether it accepts configuration files just written, and put the previous ones back if not
version_added: 0.2.0
description:
  - Runs the server program with C(-C data_directory), which reads every configuration file (C(postgresql.conf) and
    what it includes) exactly as a start would and stops at the first value, name or syntax it rejects. This works
    whether the server runs or not, and changes nothing.
  - When the server answers, also reads C(pg_hba_file_rules), where it reports each line of C(pg_hba.conf) it
    rejects. A server that does not run cannot judge C(pg_hba.conf) (the postgresql role checks its own rules before
    writing them).
  - When PostgreSQL rejects a file, puts back the previous version of each file in O(restore) (or removes a file
    that did not exist before), then fails with the server's own messages. When it accepts them, removes the copies.
  - Run it as the PostgreSQL OS user (C(become_user)); the server program refuses root.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.config_check
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Checks the files and reports what it would put back; restores and removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  restore:
    description: The files just written, each with a copy of what it held before.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file written.
        type: path
        required: true
      backup:
        description: The copy of its previous content, for example the C(backup_file) that C(ansible.builtin.template)
          returns with C(backup=true). Omitted when the file did not exist before.
        type: path
"""

EXAMPLES = r"""
- name: Client authentication, keeping a copy of the previous file
  ansible.builtin.template:
    src: pg_hba.conf.j2
    dest: /etc/postgresql/15/main/pg_hba.conf
    owner: postgres
    group: postgres
    mode: "0640"
    backup: true
  register: hba_file

- name: Put the previous file back unless PostgreSQL accepts the new one
  pgops.replication.pg_config_check:
    config_dir: /etc/postgresql/15/main
    login_port: 5432
    restore:
      - path: /etc/postgresql/15/main/pg_hba.conf
        backup: "{{ hba_file.backup_file | default(omit) }}"
  when: hba_file is changed
  become: true
  become_user: postgres
"""

RETURN = r"""
errors:
  description: What PostgreSQL rejected, in its own words; empty when it accepts every file.
  returned: always
  type: list
  elements: str
  sample: ['pg_hba.conf line 99: invalid authentication method "10.0.0.0/8"']
hba_checked:
  description: Whether the running server read C(pg_hba.conf) (false when it does not answer or O(hba=false)).
  returned: always
  type: bool
restored:
  description: The files put back to their previous content (or removed, when new), after PostgreSQL rejected them.
  returned: always
  type: list
  elements: str
"""

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.config_check import (
    config_check_argument_spec,
    config_errors,
    prepare_check,
    rejection_message,
)


def check_restore_list(module) -> list:
    entries = module.params["restore"]
    for entry in entries:
        if not os.path.isfile(entry["path"]):
            module.fail_json(msg="restore: %s is not a file (give the files just written)" % entry["path"])
        if entry.get("backup") and not os.path.isfile(entry["backup"]):
            module.fail_json(msg="restore: the copy %s of %s is not a file" % (entry["backup"], entry["path"]))
    return entries


def main() -> None:
    argument_spec = config_check_argument_spec(
        restore=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(path=dict(type="path", required=True), backup=dict(type="path")),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    postgres = prepare_check(module, "the configuration check (the server program)")
    entries = check_restore_list(module)

    errors, hba_checked = config_errors(module, postgres)
    result = dict(changed=False, errors=errors, hba_checked=hba_checked, restored=[])
    if not errors:
        if not module.check_mode:
            for entry in entries:
                if entry.get("backup"):
                    os.remove(entry["backup"])
        module.exit_json(**result)

    result["restored"] = [entry["path"] for entry in entries]
    result["changed"] = bool(entries)
    if not module.check_mode:
        for entry in entries:
            if entry.get("backup"):
                shutil.copy2(entry["backup"], entry["path"])
                os.remove(entry["backup"])
            else:
                os.remove(entry["path"])
    module.fail_json(msg=rejection_message(errors, result["restored"], module.check_mode), **result)


if __name__ == "__main__":
    main()

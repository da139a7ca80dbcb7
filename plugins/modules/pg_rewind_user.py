#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_rewind_user
short_description: Manage the role pg_rewind reads the new primary's files as
version_added: 0.1.0
description:
  - Creates, updates or drops a LOGIN role that is neither a superuser nor a replication role, and grants it
    EXECUTE on exactly the four file-access functions pg_rewind calls on its source server
    (C(pg_ls_dir), C(pg_stat_file) and both forms of C(pg_read_binary_file)).
  - pg_rewind needs a regular (not replication) connection to the source, so the replication role cannot be used
    for it; a superuser would work but would be far more than the rewind needs.
  - The password is stored as a SCRAM-SHA-256 secret computed by the module, as with M(pgops.replication.pg_replication_user).
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
    description: Name of the role.
    type: str
    default: pgops_rewind
  password:
    description: Password of the role. Required to create it; when left out for an existing role its password is not touched.
    type: str
  state:
    description: Whether the role should exist.
    type: str
    choices: [present, absent]
    default: present
  conn_limit:
    description: Maximum concurrent connections of the role; -1 means no limit.
    type: int
    default: -1
seealso:
  - module: pgops.replication.pg_rewind
notes:
  - Refuses to touch a role that is a superuser.
  - Give pg_hba.conf a rule for this role to the C(postgres) database from the members' addresses.
"""

EXAMPLES = r"""
- name: Role the old primary rewinds from
  pgops.replication.pg_rewind_user:
    password: "{{ postgresql_rewind_password }}"
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: Statements run (or, in check mode, that would run), with the password secret masked.
  returned: always
  type: list
  elements: str
  sample: ["GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO \"pgops_rewind\""]
password_changed:
  description: Whether a new password secret was stored.
  returned: always
  type: bool
role:
  description: Attributes of the role after the run (null when absent).
  returned: always
  type: dict
  sample: {"name": "pgops_rewind", "login": true, "replication": false, "superuser": false, "conn_limit": -1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.login_role import converge_login_role, login_role_argument_spec

# What pg_rewind calls on its source server (PostgreSQL documentation, pg_rewind, "Notes").
REWIND_FUNCTIONS = (
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
)


def main() -> None:
    module = AnsibleModule(argument_spec=login_role_argument_spec("pgops_rewind"), supports_check_mode=True)
    converge_login_role(module, replication=False, function_grants=REWIND_FUNCTIONS)


if __name__ == "__main__":
    main()

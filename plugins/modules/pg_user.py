#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_user
short_description: Manage an application's login role
version_added: 0.1.0
description:
  - Creates, updates or drops a LOGIN role without SUPERUSER or REPLICATION, for an application.
  - As with M(pgops.replication.pg_replication_user), the SCRAM-SHA-256 secret is computed by the module, so the
    plain password never reaches the server, and a stored secret that matches is left alone.
  - Run it on the primary; standbys receive the role through replication.
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
    description: Role name.
    type: str
    required: true
  password:
    description: Password. Required to create the role; when left out for an existing role its password is not touched.
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
notes:
  - Refuses to touch a role that is a superuser. Dropping a role that owns objects fails with PostgreSQL's message.
"""

EXAMPLES = r"""
- name: Login role of the billing application
  pgops.replication.pg_user:
    name: billing
    password: "{{ vault_billing_password }}"
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: Statements run (or, in check mode, that would run), with the password secret masked.
  returned: always
  type: list
  elements: str
password_changed:
  description: Whether a new password secret was stored.
  returned: always
  type: bool
role:
  description: Attributes of the role after the run (null when absent).
  returned: always
  type: dict
  sample: {"name": "billing", "login": true, "replication": false, "superuser": false, "conn_limit": -1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.login_role import converge_login_role, login_role_argument_spec


def main() -> None:
    module = AnsibleModule(argument_spec=login_role_argument_spec(None), supports_check_mode=True)
    converge_login_role(module, replication=False)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_replication_user
short_description: Manage the role standbys use to stream from the primary
version_added: 0.1.0
description:
  - Creates, updates or drops a LOGIN REPLICATION role that is never a superuser.
  - The password is stored as a SCRAM-SHA-256 secret computed by the module, so the plain password is
    never sent to the server (and cannot reach its log). An existing secret is verified against the
    given password and left alone when it matches, so the password is not rewritten on every run.
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
    description: Name of the replication role.
    type: str
    default: replicator
  password:
    description:
      - Password of the role. Required to create it; when left out for an existing role its password is not touched.
      - A role whose stored password is not a SCRAM-SHA-256 secret (for example md5) gets a new SCRAM secret.
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
  - Refuses to touch a role that is a superuser, rather than silently taking that right away.
"""

EXAMPLES = r"""
- name: Replication role for the standbys
  pgops.replication.pg_replication_user:
    name: replicator
    password: "{{ postgresql_replication_password }}"
    conn_limit: 10
  become: true
  become_user: postgres

- name: Remove a replication role no standby uses any more
  pgops.replication.pg_replication_user:
    name: old_replicator
    state: absent
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: Statements run (or, in check mode, that would run), with the password secret masked.
  returned: always
  type: list
  elements: str
  sample: ["CREATE ROLE \"replicator\" WITH LOGIN REPLICATION NOSUPERUSER CONNECTION LIMIT -1 PASSWORD '********'"]
password_changed:
  description: Whether a new password secret was stored.
  returned: always
  type: bool
role:
  description: Attributes of the role after the run (null when absent).
  returned: always
  type: dict
  sample: {"name": "replicator", "login": true, "replication": true, "superuser": false, "conn_limit": -1}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.login_role import converge_login_role, login_role_argument_spec


def main() -> None:
    module = AnsibleModule(argument_spec=login_role_argument_spec("replicator"), supports_check_mode=True)
    converge_login_role(module, replication=True)


if __name__ == "__main__":
    main()

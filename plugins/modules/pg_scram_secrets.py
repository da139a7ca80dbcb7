#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_scram_secrets
short_description: Read the SCRAM secrets of login roles, for a connection pooler's list of users
version_added: 0.3.0
description:
  - Reads the stored SCRAM-SHA-256 secret (never a password) of each role in O(roles) from C(pg_authid), which only a
    superuser may read.
  - A pooler that holds the very secret the server stores can check a client's SCRAM proof and log in to the server
    with it on the client's behalf, so that no password is written anywhere. The C(pgbouncer) role writes these
    secrets to PgBouncer's C(auth_file).
  - Fails, naming the role, when a role does not exist, cannot log in, has no password, or has an MD5 one.
  - Secrets are credentials for the pooler's side of the exchange; give the task C(no_log=true).
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Only reads; the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  roles:
    description: Names of the login roles whose secrets are read (at least one).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read the application roles' SCRAM secrets on the primary
  pgops.replication.pg_scram_secrets:
    roles: [billing, reporting]
  become: true
  become_user: postgres
  register: secrets
  no_log: true
"""

RETURN = r"""
secrets:
  description: Each role's stored secret, C(SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>).
  returned: success
  type: dict
  sample: {"billing": "SCRAM-SHA-256$4096:...$...:..."}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    connect,
    connection_argument_spec,
    fetch_all,
    psycopg,
    require_psycopg,
)

SECRETS_QUERY = "SELECT rolname, rolcanlogin, rolpassword FROM pg_authid WHERE rolname = ANY(%s)"
SCRAM_PREFIX = "SCRAM-SHA-256$"


def secret_problems(wanted: list, rows: list) -> list:
    """Why a role's secret cannot serve a pooler, one line per role, in the order asked."""
    found = {row["rolname"]: row for row in rows}
    problems = []
    for name in wanted:
        row = found.get(name)
        if row is None:
            problems.append("role %s does not exist" % name)
        elif not row["rolcanlogin"]:
            problems.append("role %s cannot log in (NOLOGIN)" % name)
        elif not row["rolpassword"]:
            problems.append("role %s has no password" % name)
        elif not row["rolpassword"].startswith(SCRAM_PREFIX):
            problems.append("role %s has an MD5 password: set it again with password_encryption = scram-sha-256" % name)
    return problems


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(roles=dict(type="list", elements="str", required=True))
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg(module)
    wanted = module.params["roles"]
    if not wanted or any(not name for name in wanted):
        module.fail_json(msg="roles must name at least one role, and no name may be empty: got %r" % (wanted,))
    with connect(module) as connection:
        try:
            rows = fetch_all(connection, SECRETS_QUERY, (list(wanted),))
        except psycopg.Error as error:
            # pg_authid is for superusers only.
            module.fail_json(msg="could not read the roles' secrets from pg_authid: %s" % str(error).strip())
    problems = secret_problems(wanted, rows)
    if problems:
        module.fail_json(msg="no SCRAM secret to give a pooler: %s" % "; ".join(problems))
    module.exit_json(changed=False, secrets={row["rolname"]: row["rolpassword"] for row in rows})


if __name__ == "__main__":
    main()

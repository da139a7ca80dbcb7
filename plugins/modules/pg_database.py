#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_database
short_description: Manage an application's database
version_added: 0.1.0
description:
  - Creates a database with an owner, or changes its owner.
  - Dropping a database destroys its data, so O(state=absent) also needs O(allow_drop=true).
  - Run it on the primary; standbys receive the database through replication.
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
    description: Database name.
    type: str
    required: true
  owner:
    description: Role that owns the database; the connecting role when unset. It must exist.
    type: str
  state:
    description: Whether the database should exist.
    type: str
    choices: [present, absent]
    default: present
  allow_drop:
    description: Confirm that O(state=absent) may drop the database and its data.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Database of the billing application
  pgops.replication.pg_database:
    name: billing
    owner: billing
  become: true
  become_user: postgres
"""

RETURN = r"""
queries:
  description: Statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
owner:
  description: Owner of the database after the run (null when absent).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    connect,
    connection_argument_spec,
    fetch_one,
    psycopg,
    require_psycopg,
    sql,
)

DATABASE_QUERY = "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = %s"
ROLE_EXISTS_QUERY = "SELECT count(*) AS found FROM pg_roles WHERE rolname = %s"
MAX_NAME_LENGTH = 63


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        owner=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        allow_drop=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg(module)
    params = module.params
    name = params["name"]
    if not name or len(name.encode("utf-8")) > MAX_NAME_LENGTH:
        module.fail_json(msg="name must be 1 to %d bytes long, got %r" % (MAX_NAME_LENGTH, name))
    if name in ("postgres", "template0", "template1"):
        module.fail_json(msg="database %s belongs to PostgreSQL itself; this module does not manage it" % name)
    if params["state"] == "absent" and not params["allow_drop"]:
        module.fail_json(msg="state=absent drops database %s and all its data: set allow_drop=true to confirm" % name)
    connection = connect(module)
    with connection:
        # As for roles: a synchronous primary without standbys must not block the build.
        connection.execute("SET synchronous_commit = local")
        existing = fetch_one(connection, DATABASE_QUERY, (name,)) or None
        owner = params["owner"] or params["login_user"]
        statements = []
        if params["state"] == "absent":
            if existing:
                statements.append(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
            after = None
        else:
            if not fetch_one(connection, ROLE_EXISTS_QUERY, (owner,))["found"]:
                module.fail_json(msg="owner %s of database %s does not exist: create the role first" % (owner, name))
            if existing is None:
                statements.append(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
            elif existing["owner"] != owner:
                statements.append(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner)))
            after = owner
        queries = [statement.as_string(connection) for statement in statements]
        result = dict(
            changed=bool(statements),
            queries=queries,
            owner=after,
            diff=dict(before={"owner": existing["owner"]} if existing else {}, after={"owner": after} if after else {}),
        )
        if module.check_mode or not statements:
            module.exit_json(**result)
        for statement, shown in zip(statements, queries):
            try:
                connection.execute(statement)
            except psycopg.Error as error:
                module.fail_json(msg="%s failed: %s" % (shown, str(error).strip()), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

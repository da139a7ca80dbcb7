# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""LOGIN roles that are never superusers: the replication role and application users share this logic."""

from __future__ import annotations

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import MASK
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    MAX_INT4,
    connect,
    connection_argument_spec,
    fetch_one,
    psycopg,
    require_psycopg,
    sql,
)
from ansible_collections.pgops.replication.plugins.module_utils.scram import scram_secret, scram_secret_matches

ROLE_QUERY = """
SELECT rolname AS name, rolcanlogin AS login, rolreplication AS replication, rolsuper AS superuser,
       rolconnlimit AS conn_limit, rolpassword AS secret, oid = 10 AS bootstrap
FROM pg_authid WHERE rolname = %s
"""
MAX_NAME_LENGTH = 63


def public_view(role: dict | None) -> dict | None:
    if not role:
        return None
    return {key: role[key] for key in ("name", "login", "replication", "superuser", "conn_limit")}


def validate(module) -> None:
    params = module.params
    name = params["name"]
    if not name or len(name.encode("utf-8")) > MAX_NAME_LENGTH:
        module.fail_json(msg="name must be 1 to %d bytes long, got %r" % (MAX_NAME_LENGTH, name))
    if name.startswith("pg_"):
        module.fail_json(msg="name %r is reserved: role names starting with pg_ belong to PostgreSQL" % name)
    if not -1 <= params["conn_limit"] <= MAX_INT4:
        module.fail_json(
            msg="conn_limit must be -1 (no limit) or a number of connections up to %d, got %d" % (MAX_INT4, params["conn_limit"])
        )
    if params["password"] is not None and params["password"] == "":
        module.fail_json(msg="password must not be empty")
    # libpq ends every string at a NUL: a role given such a password could never log in with it.
    if params["password"] is not None and "\x00" in params["password"]:
        module.fail_json(msg="password must not contain a NUL character (no client can send it)")
    if params["state"] == "absent" and params["password"] is not None:
        module.fail_json(msg="password makes no sense with state=absent")


def statement(connection, template: str, name: str, secret: str | None = None) -> tuple:
    """The statement to run, and its text with the secret masked for reporting."""
    composed = sql.SQL(template).format(
        role=sql.Identifier(name),
        secret=sql.Literal(secret) if secret is not None else sql.SQL(""),
    )
    shown = sql.SQL(template).format(role=sql.Identifier(name), secret=sql.Literal(MASK) if secret is not None else sql.SQL(""))
    return composed, shown.as_string(connection)


def login_role_argument_spec(default_name: str | None) -> dict:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True) if default_name is None else dict(type="str", default=default_name),
        password=dict(type="str", no_log=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        conn_limit=dict(type="int", default=-1),
    )
    return argument_spec


def missing_function_grants(connection, name: str, functions: tuple) -> list:
    return [
        function
        for function in functions
        if not fetch_one(connection, "SELECT has_function_privilege(%s, %s, 'EXECUTE') AS granted", (name, function))["granted"]
    ]


def converge_login_role(module, replication: bool, function_grants: tuple = ()) -> None:
    """Create, alter or drop a LOGIN NOSUPERUSER role with (or without) REPLICATION; exits the module.

    `function_grants` lists function signatures the role must be able to EXECUTE (for example pg_rewind's file access).
    """
    require_psycopg(module)
    validate(module)
    params = module.params
    name = params["name"]
    connection = connect(module)
    with connection:
        # On a primary with synchronous_standby_names set and no standby yet (a cluster being built), a commit would
        # wait forever for confirmation: role changes only need to be durable here.
        connection.execute("SET synchronous_commit = local")
        existing = fetch_one(connection, ROLE_QUERY, (name,)) or None
        if existing and existing["superuser"]:
            module.fail_json(
                msg="role %s exists and is a superuser; this module never manages one. Use another name "
                "or remove SUPERUSER from it yourself" % name
            )
        statements = []
        password_changed = False
        replication_clause = "REPLICATION" if replication else "NOREPLICATION"
        if params["state"] == "absent":
            if existing:
                statements.append(statement(connection, "DROP ROLE {role}", name))
            desired = None
        else:
            if existing is None:
                if params["password"] is None:
                    module.fail_json(msg="password is required to create role %s" % name)
                statements.append(
                    statement(
                        connection,
                        "CREATE ROLE {role} WITH LOGIN %s NOSUPERUSER CONNECTION LIMIT %d PASSWORD {secret}"
                        % (replication_clause, params["conn_limit"]),
                        name,
                        scram_secret(params["password"]),
                    )
                )
                password_changed = True
            else:
                clauses = []
                if not existing["login"]:
                    clauses.append("LOGIN")
                if existing["replication"] != replication:
                    clauses.append(replication_clause)
                if existing["conn_limit"] != params["conn_limit"]:
                    clauses.append("CONNECTION LIMIT %d" % params["conn_limit"])
                secret = None
                if params["password"] is not None and not scram_secret_matches(params["password"], existing["secret"]):
                    secret = scram_secret(params["password"])
                    clauses.append("PASSWORD {secret}")
                    password_changed = True
                if clauses:
                    statements.append(statement(connection, "ALTER ROLE {role} WITH " + " ".join(clauses), name, secret))
            grants = list(function_grants) if existing is None else missing_function_grants(connection, name, function_grants)
            for function in grants:
                # The signatures are constants of the calling module, never user input.
                statements.append(statement(connection, "GRANT EXECUTE ON FUNCTION %s TO {role}" % function, name))
            desired = dict(name=name, login=True, replication=replication, superuser=False, conn_limit=params["conn_limit"])
        result = dict(
            changed=bool(statements),
            queries=[shown for _composed, shown in statements],
            password_changed=password_changed,
            role=desired,
            diff=dict(before=public_view(existing) or {}, after=desired or {}),
        )
        if module.check_mode or not statements:
            module.exit_json(**result)
        for composed, shown in statements:
            try:
                connection.execute(composed)
            except psycopg.Error as error:
                module.fail_json(msg="%s failed: %s" % (shown, str(error).strip()), **result)
        result["role"] = public_view(fetch_one(connection, ROLE_QUERY, (name,)))
    module.exit_json(**result)

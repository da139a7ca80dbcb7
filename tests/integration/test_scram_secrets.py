"""pg_scram_secrets against a server on loopback: the secrets it returns are the ones the server stores, and each role
that cannot give a pooler a SCRAM secret is named."""

from __future__ import annotations

import pytest
from pglab import assert_clean_failure


@pytest.fixture
def primary(lab):
    server = lab.primary("a")
    server.query("SET password_encryption = 'scram-sha-256'")
    for statement in (
        "CREATE ROLE app LOGIN PASSWORD 'app secret'",
        "CREATE ROLE report LOGIN PASSWORD 'report secret'",
        "CREATE ROLE owner_only NOLOGIN PASSWORD 'x'",
        "CREATE ROLE no_password LOGIN",
        "CREATE ROLE weak LOGIN",
        "CREATE ROLE plain_user LOGIN PASSWORD 'plain secret'",
    ):
        server.query(statement)
    server.query("SET password_encryption = 'md5'; ALTER ROLE weak PASSWORD 'weak secret'")
    return server


def test_reads_the_stored_secrets(modules, primary):
    result = modules.run("pg_scram_secrets", dict(roles=["app", "report"], **primary.login()), check=True)
    assert result["failed"] is False and result["changed"] is False
    stored = dict(primary.query("SELECT rolname, rolpassword FROM pg_authid WHERE rolname IN ('app', 'report')"))
    assert result["secrets"] == stored
    assert all(secret.startswith("SCRAM-SHA-256$") for secret in stored.values())


@pytest.mark.parametrize(
    "role, message",
    [
        ("missing", "role missing does not exist"),
        ("owner_only", r"role owner_only cannot log in \(NOLOGIN\)"),
        ("no_password", "role no_password has no password"),
        ("weak", "role weak has an MD5 password"),
    ],
)
def test_a_role_that_cannot_serve_a_pooler_is_named(modules, primary, role, message):
    result = modules.run("pg_scram_secrets", dict(roles=["app", role], **primary.login()))
    assert_clean_failure(result, "no SCRAM secret to give a pooler: " + message)


def test_an_empty_list_and_a_reader_that_is_not_a_superuser_are_refused(modules, primary):
    assert_clean_failure(modules.run("pg_scram_secrets", dict(roles=[], **primary.login())), "roles must name at least one role")
    not_superuser = modules.run(
        "pg_scram_secrets",
        dict(roles=["app"], login_user="plain_user", login_password="plain secret", login_db="postgres", **primary.login()),
    )
    assert_clean_failure(not_superuser, "could not read the roles' secrets from pg_authid: .*permission denied")

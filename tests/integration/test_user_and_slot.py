import psycopg
import pytest
from pglab import assert_clean_failure


def can_login(instance, user, password):
    try:
        with psycopg.connect(host="127.0.0.1", port=instance.port, user=user, password=password, dbname="postgres", connect_timeout=5):
            return True
    except psycopg.OperationalError:
        return False


def role(instance, name):
    rows = instance.query(
        "SELECT rolcanlogin, rolreplication, rolsuper, rolconnlimit, rolpassword FROM pg_authid WHERE rolname = %s", (name,)
    )
    return rows[0] if rows else None


AWKWARD = "pä ss'wö\"rd \\ $HOME %x"


def test_user_lifecycle(lab, modules):
    primary = lab.primary()
    args = primary.login(name="streamer", password=AWKWARD, conn_limit=5)

    checked = modules.run("pg_replication_user", args, check=True)
    assert checked["changed"] is True and role(primary, "streamer") is None

    created = modules.run("pg_replication_user", args)
    assert created["changed"] is True and created["password_changed"] is True
    login, replication, superuser, limit, secret = role(primary, "streamer")
    assert (login, replication, superuser, limit) == (True, True, False, 5)
    assert secret.startswith("SCRAM-SHA-256$")
    assert can_login(primary, "streamer", AWKWARD)
    assert all(AWKWARD not in query for query in created["queries"]) and "********" in created["queries"][0]
    assert AWKWARD not in created["_output"]

    again = modules.run("pg_replication_user", args)
    assert again["changed"] is False and again["queries"] == []
    assert role(primary, "streamer")[4] == secret

    changed = modules.run("pg_replication_user", dict(args, password="new one", conn_limit=-1), diff=True)
    assert changed["changed"] is True and changed["password_changed"] is True
    assert can_login(primary, "streamer", "new one") and not can_login(primary, "streamer", AWKWARD)
    assert role(primary, "streamer")[3] == -1

    removed = modules.run("pg_replication_user", primary.login(name="streamer", state="absent"))
    assert removed["changed"] is True and role(primary, "streamer") is None
    assert modules.run("pg_replication_user", primary.login(name="streamer", state="absent"))["changed"] is False


def test_md5_password_is_replaced_by_scram(lab, modules):
    primary = lab.primary()
    primary.query("SET password_encryption = 'md5'; CREATE ROLE legacy LOGIN REPLICATION PASSWORD 'pw'")
    assert role(primary, "legacy")[4].startswith("md5")
    result = modules.run("pg_replication_user", primary.login(name="legacy", password="pw"))
    assert result["changed"] is True and role(primary, "legacy")[4].startswith("SCRAM-SHA-256$")


def test_superuser_role_is_refused(lab, modules):
    primary = lab.primary()
    result = modules.run("pg_replication_user", primary.login(name="postgres", password="not used here"))
    assert_clean_failure(result, r"role postgres exists and is a superuser")
    assert role(primary, "postgres")[2] is True


def test_slot_lifecycle(lab, modules):
    primary = lab.primary()
    checked = modules.run("pg_replication_slot", primary.login(name="standby9"), check=True)
    assert checked["changed"] is True and primary.query("SELECT * FROM pg_replication_slots") == []

    created = modules.run("pg_replication_slot", primary.login(name="standby9"))
    assert created["changed"] is True
    restart_lsn, wal_status, active = primary.query(
        "SELECT restart_lsn::text, wal_status, active FROM pg_replication_slots WHERE slot_name = 'standby9'"
    )[0]
    assert restart_lsn is not None and wal_status == "reserved" and active is False
    assert created["slot"]["restart_lsn"] == restart_lsn

    assert modules.run("pg_replication_slot", primary.login(name="standby9"))["changed"] is False

    checked = modules.run("pg_replication_slot", primary.login(name="standby9", state="absent"), check=True)
    assert checked["changed"] is True and primary.value("SELECT count(*) FROM pg_replication_slots") == 1
    dropped = modules.run("pg_replication_slot", primary.login(name="standby9", state="absent"))
    assert dropped["changed"] is True and primary.value("SELECT count(*) FROM pg_replication_slots") == 0
    assert modules.run("pg_replication_slot", primary.login(name="standby9", state="absent"))["changed"] is False


def test_active_slot_is_not_dropped(lab, modules):
    primary = lab.primary()
    lab.clone(primary, "standby1", modules, slot_name="standby1")
    primary.wait_for("SELECT active FROM pg_replication_slots WHERE slot_name = 'standby1'", True)
    result = modules.run("pg_replication_slot", primary.login(name="standby1", state="absent"))
    assert_clean_failure(result, r"slot standby1 is in use by WAL sender PID \d+")
    assert primary.value("SELECT count(*) FROM pg_replication_slots") == 1


@pytest.mark.parametrize("bad_name", ["Upper", "has-dash", "x" * 64])
def test_slot_name_validation(lab, modules, bad_name):
    primary = lab.primary()
    assert_clean_failure(modules.run("pg_replication_slot", primary.login(name=bad_name)), r"is not a valid replication slot name")


def test_user_is_created_on_a_synchronous_primary_without_standbys(lab, modules):
    primary = lab.primary()
    primary.query("ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (nobody)'")
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SHOW synchronous_standby_names", "ANY 1 (nobody)")
    result = modules.run("pg_replication_user", primary.login(name="early", password="early password"))
    assert result["changed"] is True and role(primary, "early")[1] is True


def test_application_user_and_database(lab, modules):
    primary = lab.primary()
    created = modules.run("pg_user", primary.login(name="billing", password=AWKWARD))
    assert created["changed"] is True and role(primary, "billing")[:3] == (True, False, False)
    assert modules.run("pg_user", primary.login(name="billing", password=AWKWARD))["changed"] is False

    checked = modules.run("pg_database", primary.login(name="billing", owner="billing"), check=True)
    assert checked["changed"] is True and primary.query("SELECT 1 FROM pg_database WHERE datname = 'billing'") == []
    assert modules.run("pg_database", primary.login(name="billing", owner="billing"))["changed"] is True
    assert primary.value("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'billing'") == "billing"
    assert modules.run("pg_database", primary.login(name="billing", owner="billing"))["changed"] is False
    with psycopg.connect(host="127.0.0.1", port=primary.port, user="billing", password=AWKWARD, dbname="billing") as connection:
        assert connection.execute("SELECT current_database()").fetchone()[0] == "billing"

    refused = modules.run("pg_database", primary.login(name="billing", state="absent"))
    assert_clean_failure(refused, r"drops database billing and all its data: set allow_drop=true")
    assert primary.value("SELECT count(*) FROM pg_database WHERE datname = 'billing'") == 1
    assert_clean_failure(
        modules.run("pg_database", primary.login(name="other", owner="nobody")), r"owner nobody of database other does not exist"
    )
    assert modules.run("pg_database", primary.login(name="billing", state="absent", allow_drop=True))["changed"] is True
    assert primary.value("SELECT count(*) FROM pg_database WHERE datname = 'billing'") == 0


def test_existing_replication_role_used_as_application_user_loses_replication(lab, modules):
    primary = lab.primary()
    primary.query("CREATE ROLE app LOGIN REPLICATION PASSWORD 'app password'")
    result = modules.run("pg_user", primary.login(name="app", password="app password"))
    assert result["changed"] is True and result["password_changed"] is False
    assert role(primary, "app")[1] is False

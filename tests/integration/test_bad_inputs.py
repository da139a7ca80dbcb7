"""Each bad input fails through fail_json with a message naming the input, before anything changes."""

import os

import pytest
from pglab import BIN_DIR, assert_clean_failure

NOT_A_DATA_DIR = "/etc"


def cases(primary, base):
    upstream = dict(
        primary_host="127.0.0.1",
        primary_port=primary.port,
        replication_password="repl pass",
        passfile=os.path.join(base, "pgpass"),
        bin_dir=BIN_DIR,
    )
    data_dir = os.path.join(base, "standby")
    follow = {key: value for key, value in upstream.items() if key != "bin_dir"}
    return [
        ("pg_basebackup", dict(upstream, data_dir="relative/path"), r"data_dir must be an absolute path"),
        ("pg_basebackup", dict(upstream, data_dir="/nonexistent/parent/data"), r"data_dir .*: parent directory does not exist"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, max_rate="fast"), r"max_rate 'fast' is not a rate"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, max_rate="10"), r"max_rate '10' is not a rate .*between 32k"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, slot_name="Bad-Slot"), r"slot_name 'Bad-Slot' is not a valid"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, primary_port=70000), r"primary_port must be a TCP port"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, application_name="has space"), r"application_name 'has space' must be"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, primary_host=" "), r"primary_host must name the primary"),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, bin_dir="/nonexistent"), r"bin_dir /nonexistent is not a directory"),
        (
            "pg_basebackup",
            dict(upstream, data_dir=data_dir, replication_password=None, passfile=os.path.join(base, "none")),
            r"replication_password is not set and passfile .* does not exist",
        ),
        (
            "pg_basebackup",
            dict(upstream, data_dir=data_dir, replication_password="wrong password"),
            r"cannot reach the primary for replication: .*password authentication failed",
        ),
        (
            "pg_basebackup",
            dict(upstream, data_dir=data_dir, primary_port=primary.port + 1 if primary.port < 65535 else 1),
            r"cannot reach the primary for replication: could not connect to 127.0.0.1",
        ),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, connect_timeout=0), r"connect_timeout must be greater than zero"),
        ("pg_promote", dict(primary.login(), wait_for_lsn="not-an-lsn"), r"wait_for_lsn: 'not-an-lsn' is not an LSN"),
        ("pg_promote", dict(primary.login(), lsn_timeout=-5), r"lsn_timeout must be zero or more"),
        ("pg_promote", dict(primary.login(), promote_timeout=0), r"promote_timeout must be greater than zero"),
        ("pg_promote", dict(primary.login(), login_port=0), r"login_port must be a TCP port"),
        ("pg_replication_facts", dict(primary.login(), data_dir=NOT_A_DATA_DIR), r"data_dir /etc is not a PostgreSQL data directory"),
        ("pg_replication_facts", dict(login_host="127.0.0.1", login_port=primary.port, login_unix_socket="/tmp"), r"mutually exclusive"),
        (
            "pg_replication_facts",
            dict(login_host="127.0.0.1", login_port=primary.port, login_user="nobody_here", login_password="x1y2z3"),
            r"could not connect to 127.0.0.1 port \d+ as nobody_here.*set data_dir",
        ),
        (
            "pg_replication_facts",
            dict(primary.login(), ssl_rootcert="/nonexistent/ca.crt"),
            r"ssl_rootcert /nonexistent/ca.crt does not exist",
        ),
        ("pg_replication_user", dict(primary.login(), name="pg_monitor_me", password="long enough"), r"name 'pg_monitor_me' is reserved"),
        ("pg_replication_user", dict(primary.login(), name="x" * 64, password="long enough"), r"name must be 1 to 63 bytes"),
        ("pg_replication_user", dict(primary.login(), name="newrole"), r"password is required to create role newrole"),
        ("pg_replication_user", dict(primary.login(), conn_limit=-2, password="long enough"), r"conn_limit must be -1"),
        (
            "pg_replication_user",
            dict(primary.login(), state="absent", password="long enough"),
            r"password makes no sense with state=absent",
        ),
        ("pg_replication_user", dict(primary.login(), password=""), r"password must not be empty"),
        ("pg_replication_slot", dict(primary.login(), name=""), r"'' is not a valid replication slot name"),
        ("pg_rewind", dict(upstream, data_dir=NOT_A_DATA_DIR), r"data_dir /etc is not a PostgreSQL data directory"),
        (
            "pg_rewind",
            dict(upstream, data_dir=primary.data_dir),
            r"a PostgreSQL server \(PID \d+\) is running on .*stop it before rewinding",
        ),
        (
            "pg_rewind",
            dict(upstream, data_dir=primary.data_dir, config_file="/nonexistent.conf"),
            r"config_file /nonexistent.conf does not exist",
        ),
        ("pg_basebackup", dict(upstream, data_dir=data_dir, state="present"), r"Unsupported parameters .*state"),
        ("pg_follow", dict(follow, data_dir=NOT_A_DATA_DIR), r"data_dir /etc is not a PostgreSQL data directory"),
        ("pg_follow", dict(follow, data_dir=primary.data_dir, **primary.login()), r"runs as a primary: it cannot simply follow"),
        ("pg_follow", dict(follow, data_dir=primary.data_dir, wait_timeout=-1), r"wait_timeout must be zero or more"),
        ("pg_follow", dict(follow, data_dir=primary.data_dir, login_port=0), r"login_port must be a TCP port"),
        ("pg_follow", dict(follow, data_dir=primary.data_dir, slot_name="Bad"), r"slot_name 'Bad' is not a valid"),
        ("pg_rewind_user", dict(primary.login(), name="pg_rewinder", password="long enough"), r"name 'pg_rewinder' is reserved"),
        ("pg_rewind_user", dict(primary.login(), conn_limit=-2, password="long enough"), r"conn_limit must be -1"),
        ("pg_rewind_user", dict(primary.login(), name="rewinder"), r"password is required to create role rewinder"),
        ("pg_promote", dict(primary.login(), lsn_timeout="soon"), r"lsn_timeout.*'soon'.*int"),
    ]


@pytest.fixture(scope="module")
def shared_lab(base_dir):
    from pglab import Lab, chown_to_server_user

    directory = os.path.join(base_dir, "bad_inputs")
    os.makedirs(directory)
    chown_to_server_user(directory)
    lab = Lab(directory)
    primary = lab.primary()
    yield lab, primary
    lab.close()


def test_there_are_enough_cases(shared_lab):
    lab, primary = shared_lab
    assert len(cases(primary, lab.base)) == 41


@pytest.mark.parametrize("index", range(41))
def test_bad_input(shared_lab, modules, index):
    lab, primary = shared_lab
    module, args, pattern = cases(primary, lab.base)[index]
    roles_before = primary.value("SELECT count(*) FROM pg_roles")
    slots_before = primary.value("SELECT count(*) FROM pg_replication_slots")
    entries_before = sorted(os.listdir(lab.base))
    result = modules.run(module, args)
    assert_clean_failure(result, pattern)
    assert primary.value("SELECT count(*) FROM pg_roles") == roles_before
    assert primary.value("SELECT count(*) FROM pg_replication_slots") == slots_before
    assert sorted(os.listdir(lab.base)) == entries_before
    assert primary.value("SELECT pg_is_in_recovery()") is False

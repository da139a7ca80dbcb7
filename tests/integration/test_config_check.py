"""pg_config_check against servers on loopback: each kind of file PostgreSQL rejects (a pg_hba.conf line, a setting's
value, a setting's name, a syntax error; with the server running and stopped) is put back as it was, with the
server's own message; files it accepts keep their new content and the copies go."""

from __future__ import annotations

import os

import pytest
from pglab import assert_clean_failure, chown_to_server_user


def write(path: str, text: str) -> str:
    with open(path, "w") as handle:
        handle.write(text)
    chown_to_server_user(path)
    return path


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def args(instance, *restore, **extra) -> dict:
    options = instance.login(config_dir=instance.data_dir, restore=list(restore))
    options.update(extra)
    return options


def replace_with_copy(instance, name: str, new_text: str) -> dict:
    """Write `new_text` over a file of the data directory as the template task does with backup=true: the previous
    content kept in a copy beside it. Returns the restore entry."""
    path = os.path.join(instance.data_dir, name)
    backup = write(path + ".1234.backup~", read(path))
    write(path, new_text)
    return dict(path=path, backup=backup)


def test_accepted_files_stay_and_their_copies_go(lab, modules):
    primary = lab.primary()
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    entry = replace_with_copy(primary, "pg_hba.conf", read(hba) + 'host "billing app" "o\'brien" 10.0.1.0/24 scram-sha-256\n')
    result = modules.run("pg_config_check", args(primary, entry))
    assert result["failed"] is False and result["changed"] is False, result
    assert result["errors"] == [] and result["hba_checked"] is True and result["restored"] == []
    assert not os.path.exists(entry["backup"]) and '"billing app"' in read(hba)
    # What the server made of the quoted names: the rule, not an error.
    assert primary.value("SELECT database FROM pg_hba_file_rules WHERE 'o''brien' = ANY(user_name)") == ["billing app"]


def test_a_pg_hba_line_the_running_server_rejects_is_put_back(lab, modules):
    primary = lab.primary()
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    before = read(hba)
    # The names unquoted: PostgreSQL reads "app" as the address and the address as the method.
    entry = replace_with_copy(primary, "pg_hba.conf", before + "host billing my app 10.0.1.0/24 scram-sha-256\n")
    result = modules.run("pg_config_check", args(primary, entry))
    assert_clean_failure(result, r'PostgreSQL rejects the configuration: pg_hba.conf line \d+: invalid authentication method "10.0.1.0/24"')
    assert "The previous files are back in place (%s)" % hba in result["msg"]
    assert result["changed"] is True and result["restored"] == [hba] and result["hba_checked"] is True
    assert read(hba) == before and not os.path.exists(entry["backup"])
    assert primary.value("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == 0


@pytest.mark.parametrize(
    "line, message",
    [
        ("shared_buffers = banana\n", r'invalid value for parameter "shared_buffers": "banana"'),
        ("shared_bufers = 128MB\n", r'unrecognized configuration parameter "shared_bufers"'),
        ("work_mem = '4MB\n", r"syntax error in file .*postgresql.conf"),
    ],
    ids=["value", "name", "syntax"],
)
@pytest.mark.parametrize("running", [True, False], ids=["up", "down"])
def test_settings_the_server_rejects_are_put_back(lab, modules, line, message, running):
    primary = lab.primary()
    if not running:
        primary.stop()
    config = os.path.join(primary.data_dir, "postgresql.conf")
    before = read(config)
    entry = replace_with_copy(primary, "postgresql.conf", before + line)
    result = modules.run("pg_config_check", args(primary, entry))
    assert_clean_failure(result, "PostgreSQL rejects the configuration: .*" + message)
    assert result["restored"] == [config] and result["hba_checked"] is running
    assert read(config) == before and not os.path.exists(entry["backup"])
    if not running:
        primary.start()
    assert primary.value("SHOW shared_buffers") == "128MB"


def test_a_new_file_the_server_rejects_is_removed(lab, modules):
    primary = lab.primary()
    conf_d = os.path.join(primary.data_dir, "conf.d")
    os.makedirs(conf_d)
    chown_to_server_user(conf_d)
    primary.append_config("include_dir = 'conf.d'")
    drop_in = write(os.path.join(conf_d, "pgops.conf"), "max_connections = many\n")
    result = modules.run("pg_config_check", args(primary, dict(path=drop_in)))
    assert_clean_failure(result, r'invalid value for parameter "max_connections": "many"')
    assert not os.path.exists(drop_in)


def test_check_mode_reports_and_puts_nothing_back(lab, modules):
    primary = lab.primary()
    config = os.path.join(primary.data_dir, "postgresql.conf")
    entry = replace_with_copy(primary, "postgresql.conf", read(config) + "shared_buffers = banana\n")
    result = modules.run("pg_config_check", args(primary, entry), check=True)
    assert_clean_failure(result, r"banana.*Check mode: %s would be put back" % config)
    assert read(config).endswith("shared_buffers = banana\n") and os.path.exists(entry["backup"])


def test_hba_false_and_a_stopped_server_skip_the_pg_hba_question(lab, modules):
    primary = lab.primary()
    assert modules.run("pg_config_check", args(primary, hba=False))["hba_checked"] is False
    primary.stop()
    result = modules.run("pg_config_check", args(primary))
    assert result["failed"] is False and result["hba_checked"] is False and result["errors"] == []

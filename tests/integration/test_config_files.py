"""pg_config_files against servers on loopback: the files it writes, what it leaves alone, what PostgreSQL rejects put
back as it was (or removed when new), check mode and diff, and a second run that changes nothing."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from pglab import assert_clean_failure, chown_to_server_user


def read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def drop_in_dir(instance) -> str:
    conf_d = os.path.join(instance.data_dir, "conf.d")
    if not os.path.isdir(conf_d):
        os.makedirs(conf_d)
        chown_to_server_user(conf_d)
        instance.append_config("include_dir = 'conf.d'")
    return conf_d


def args(instance, *files, **extra) -> dict:
    options = instance.login(config_dir=instance.data_dir, files=list(files))
    options.update(extra)
    return options


def test_writes_changed_files_keeps_them_and_a_second_run_changes_nothing(lab, modules):
    primary = lab.primary()
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    new_hba = read(hba) + 'host "billing app" "o\'brien" 10.0.1.0/24 scram-sha-256\n'
    files = (dict(path=drop_in, content="work_mem = '8MB'\n"), dict(path=hba, content=new_hba, mode="0600"))
    result = modules.run("pg_config_files", args(primary, *files))
    assert result["failed"] is False and result["changed"] is True, result
    assert result["changed_files"] == [drop_in, hba] and result["errors"] == [] and result["hba_checked"] is True
    assert read(drop_in) == "work_mem = '8MB'\n" and read(hba) == new_hba
    assert mode_of(drop_in) == 0o640 and mode_of(hba) == 0o600
    # No copy and no temporary file beside them.
    assert sorted(os.listdir(os.path.dirname(drop_in))) == ["pgops.conf"]
    assert not [name for name in os.listdir(primary.data_dir) if name.startswith(".pg_hba.conf")]
    primary.query("SELECT pg_reload_conf()")
    assert primary.value("SELECT database FROM pg_hba_file_rules WHERE 'o''brien' = ANY(user_name)") == ["billing app"]

    again = modules.run("pg_config_files", args(primary, *files))
    assert again["failed"] is False and again["changed"] is False and again["changed_files"] == [], again
    # Nothing changed, so nothing was asked: the server was not read again.
    assert again["hba_checked"] is False


def test_a_mode_alone_is_a_change(lab, modules):
    primary = lab.primary()
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    content = read(hba)
    result = modules.run("pg_config_files", args(primary, dict(path=hba, content=content, mode="0604")))
    assert result["changed"] is True and result["changed_files"] == [hba], result
    assert mode_of(hba) == 0o604 and read(hba) == content


def test_a_pg_hba_line_the_running_server_rejects_is_put_back(lab, modules):
    primary = lab.primary()
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    before, before_mode = read(hba), mode_of(hba)
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    # The names unquoted: PostgreSQL reads "app" as the address and the address as the method.
    rejected = before + "host billing my app 10.0.1.0/24 scram-sha-256\n"
    files = (dict(path=drop_in, content="work_mem = '8MB'\n"), dict(path=hba, content=rejected))
    result = modules.run("pg_config_files", args(primary, *files))
    assert_clean_failure(result, r'PostgreSQL rejects the configuration: pg_hba.conf line \d+: invalid authentication method "10.0.1.0/24"')
    assert "The previous files are back in place (%s, %s)" % (drop_in, hba) in result["msg"]
    assert result["changed"] is False and result["restored"] == [drop_in, hba] and result["changed_files"] == []
    # The file that was new is gone; the one that was there holds what it held, with its mode.
    assert not os.path.exists(drop_in) and read(hba) == before and mode_of(hba) == before_mode
    assert primary.value("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == 0


@pytest.mark.parametrize(
    "line, message",
    [
        ("shared_buffers = banana\n", r'invalid value for parameter "shared_buffers": "banana"'),
        ("shared_bufers = 128MB\n", r'unrecognized configuration parameter "shared_bufers"'),
        ("work_mem = '4MB\n", r"syntax error in file .*pgops.conf"),
    ],
    ids=["value", "name", "syntax"],
)
@pytest.mark.parametrize("running", [True, False], ids=["up", "down"])
def test_settings_the_server_rejects_are_put_back(lab, modules, line, message, running):
    primary = lab.primary()
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    with open(drop_in, "w") as handle:
        handle.write("work_mem = '6MB'\n")
    chown_to_server_user(drop_in)
    if not running:
        primary.stop()
    result = modules.run("pg_config_files", args(primary, dict(path=drop_in, content=line)))
    assert_clean_failure(result, "PostgreSQL rejects the configuration: .*" + message)
    assert result["restored"] == [drop_in] and result["hba_checked"] is running
    assert read(drop_in) == "work_mem = '6MB'\n"
    if not running:
        primary.start()
    assert primary.value("SHOW shared_buffers") == "128MB"


def test_check_mode_reports_the_diff_and_writes_nothing(lab, modules):
    primary = lab.primary()
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    before = read(hba)
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    files = (dict(path=drop_in, content="shared_buffers = banana\n"), dict(path=hba, content=before + "# added\n"))
    result = modules.run("pg_config_files", args(primary, *files), check=True, diff=True)
    assert result["failed"] is False and result["changed"] is True and result["changed_files"] == [drop_in, hba], result
    assert not os.path.exists(drop_in) and read(hba) == before
    # The diff is printed (and left out of the stored result): each file's header and its new lines are in the output.
    output = result["_output"]
    assert "+shared_buffers = banana" in output and "+# added" in output, output
    assert ("after: %s" % drop_in) in output and ("after: %s" % hba) in output, output


def test_hba_false_skips_the_pg_hba_question(lab, modules):
    primary = lab.primary()
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    result = modules.run("pg_config_files", args(primary, dict(path=drop_in, content="work_mem = '8MB'\n"), hba=False))
    assert result["failed"] is False and result["changed"] is True and result["hba_checked"] is False, result


def test_tls_turned_on_in_a_running_server_passes_its_hostssl_lines(lab, modules):
    """The running server, ssl off, calls each hostssl line unmatchable; settings that turn ssl on are read at the same
    reload as pg_hba.conf, so those lines pass when the files turn it on, and only then."""
    primary = lab.primary()
    key, cert = os.path.join(primary.data_dir, "server.key"), os.path.join(primary.data_dir, "server.crt")
    subprocess.run(
        ["openssl", "req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "2", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    for path in (key, cert):
        os.chmod(path, 0o600)
        chown_to_server_user(path)
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    hba = os.path.join(primary.data_dir, "pg_hba.conf")
    with_hostssl = read(hba) + "hostssl all all 10.0.1.0/24 scram-sha-256\n"
    assert primary.value("SHOW ssl") == "off"

    ssl_untouched = dict(path=drop_in, content="work_mem = '8MB'\n")
    still_off = modules.run("pg_config_files", args(primary, ssl_untouched, dict(path=hba, content=with_hostssl)))
    assert_clean_failure(still_off, r"pg_hba.conf line \d+: hostssl record cannot match because SSL is disabled")

    tls_on = "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" % (cert, key)
    result = modules.run("pg_config_files", args(primary, dict(path=drop_in, content=tls_on), dict(path=hba, content=with_hostssl)))
    assert result["failed"] is False and result["changed"] is True and result["hba_checked"] is True, result
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SHOW ssl", "on")
    assert primary.value("SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL") == 0


def test_restart_changes_name_the_settings_only_a_restart_applies_in_check_mode_too(lab, modules):
    primary = lab.primary()
    drop_in = os.path.join(drop_in_dir(primary), "pgops.conf")
    files = (dict(path=drop_in, content="max_connections = 130\nshared_buffers = '48MB'\nwork_mem = '8MB'\n"),)
    # A reload-only setting (work_mem) is no restart change; shared_buffers is shown as SHOW shows it.
    expected = {
        "max_connections": {"running": "100", "wanted": "130"},
        "shared_buffers": {"running": primary.value("SHOW shared_buffers"), "wanted": "48MB"},
    }
    checked = modules.run("pg_config_files", args(primary, *files), check=True)
    assert checked["failed"] is False and checked["restart_changes"] == expected, checked
    assert not os.path.exists(drop_in)
    written = modules.run("pg_config_files", args(primary, *files))
    assert written["failed"] is False and written["restart_changes"] == expected, written
    # What the server itself reports once it has read them: the same settings wait for a restart.
    primary.query("SELECT pg_reload_conf()")
    primary.wait_for("SELECT count(*) FROM pg_settings WHERE pending_restart", 2)
    again = modules.run("pg_config_files", args(primary, *files))
    assert again["changed"] is False and again["restart_changes"] == {}, again

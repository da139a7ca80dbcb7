"""What pg_guard installs: the files for each combination of the start guard and the fence, their text as systemd reads
it (quoting included), and the systemctl commands that leave the timer as wanted."""

import json
import shlex

import pytest

from ansible_collections.pgops.replication.plugins.module_utils.guard import (
    config_text,
    is_unit,
    systemd_quote,
    unit_actions,
    wanted_files,
)

PARAMS = dict(
    program="print('guard')",
    program_path="/usr/local/lib/pgops-guard",
    config={"port": 5432, "peers": [{"name": "db2", "host": "db2", "port": 5432}]},
    config_path="/etc/postgresql/15/main/pgops-guard.json",
    cluster="15-main",
    service="postgresql@15-main",
    data_dir="/var/lib/postgresql/15/main",
    start_guard=True,
    isolation_fence=True,
    isolation_interval=2,
    health_port=0,
    health_address="",
    owner="postgres",
    unit_dir="/etc/systemd/system",
)
DROPIN = "/etc/systemd/system/postgresql@15-main.service.d/pgops-start-guard.conf"
SERVICE = "/etc/systemd/system/pgops-isolation-fence-15-main.service"
TIMER = "/etc/systemd/system/pgops-isolation-fence-15-main.timer"
HEALTH_SERVICE = "/etc/systemd/system/pgops-health-15-main@.service"
HEALTH_SOCKET = "/etc/systemd/system/pgops-health-15-main.socket"
LEGACY = ["/usr/local/lib/pgops-start-guard-15-main", "/usr/local/lib/pgops-isolation-fence-15-main"]


def files(**changes):
    return {wanted.path: wanted for wanted in wanted_files(dict(PARAMS, **changes))}


def exec_line(text, key):
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "="))


def test_everything_on():
    found = files()
    assert list(found) == [PARAMS["program_path"], PARAMS["config_path"], DROPIN, SERVICE, TIMER, HEALTH_SERVICE, HEALTH_SOCKET, *LEGACY]
    assert found[PARAMS["program_path"]].text == "print('guard')\n"
    assert (found[PARAMS["program_path"]].owner, found[PARAMS["program_path"]].mode) == ("root", 0o644)
    config = found[PARAMS["config_path"]]
    assert json.loads(config.text) == PARAMS["config"] and (config.owner, config.mode) == ("postgres", 0o640)
    assert "OnUnitActiveSec=2\n" in found[TIMER].text and "WantedBy=timers.target" in found[TIMER].text
    assert "ConditionPathExists=!/var/lib/postgresql/15/main/standby.signal\n" in found[SERVICE].text
    assert "User=postgres\n" in found[SERVICE].text and "Type=simple\n" in found[SERVICE].text
    assert "AccuracySec=100ms\n" in found[TIMER].text
    assert all(found[path].text is None for path in LEGACY)
    # No health port: no health check.
    assert found[HEALTH_SERVICE].text is None and found[HEALTH_SOCKET].text is None


@pytest.mark.parametrize(
    "address, listen",
    [("", "ListenStream=8008\n"), ("10.0.0.5", "ListenStream=10.0.0.5:8008\n"), ("fd00::5", "ListenStream=[fd00::5]:8008\n")],
    ids=["every address", "IPv4", "IPv6"],
)
def test_the_health_check_listens_and_runs_the_program_once_per_connection(address, listen):
    found = files(health_port=8008, health_address=address)
    socket, service = found[HEALTH_SOCKET].text, found[HEALTH_SERVICE].text
    assert listen in socket and "Accept=yes\n" in socket and "WantedBy=sockets.target\n" in socket
    assert shlex.split(exec_line(service, "ExecStart")) == [
        "/usr/bin/python3",
        "-I",
        "-S",
        PARAMS["program_path"],
        "health",
        PARAMS["config_path"],
    ]
    assert "User=postgres\n" in service and "StandardInput=socket\n" in service and "StandardOutput=socket\n" in service
    assert "RuntimeMaxSec=15\n" in service


def test_the_health_check_alone_installs_the_program_and_its_configuration():
    found = files(start_guard=False, isolation_fence=False, health_port=8008)
    assert found[PARAMS["program_path"]].text == "print('guard')\n" and found[PARAMS["config_path"]].text is not None
    assert found[DROPIN].text is None and found[TIMER].text is None and found[HEALTH_SOCKET].text is not None


def test_the_fence_off_removes_its_units_and_keeps_the_start_guard():
    found = files(isolation_fence=False)
    assert found[SERVICE].text is None and found[TIMER].text is None
    assert found[DROPIN].text is not None


def test_the_start_guard_off_removes_the_dropin():
    found = files(start_guard=False)
    assert found[DROPIN].text is None and found[TIMER].text is not None


def test_both_off_writes_nothing_and_removes_every_unit():
    found = files(start_guard=False, isolation_fence=False, program=None, config=None)
    assert PARAMS["program_path"] not in found and PARAMS["config_path"] not in found
    assert all(wanted.text is None for wanted in found.values())


def test_exec_lines_keep_paths_with_spaces_and_specifiers_literal():
    found = files(config_path='/etc/pg conf/15%i/$HOME"x".json')
    start = exec_line(found[DROPIN].text, "ExecStartPre")
    # systemd splits like a shell for quotes and backslashes, and expands % and $: doubled to stay literal.
    assert shlex.split(start.replace("%%", "%").replace("$$", "$")) == [
        "/usr/sbin/runuser",
        "-u",
        "postgres",
        "--",
        "/usr/bin/python3",
        "/usr/local/lib/pgops-guard",
        "start",
        '/etc/pg conf/15%i/$HOME"x".json',
    ]
    watch = exec_line(found[SERVICE].text, "ExecStart")
    # -I -S: the fence's runs skip site-packages (tests/integration/test_guard.py runs it so, peers asked included).
    assert shlex.split(watch.replace("%%", "%").replace("$$", "$")) == [
        "/usr/bin/python3",
        "-I",
        "-S",
        "/usr/local/lib/pgops-guard",
        "watch",
        '/etc/pg conf/15%i/$HOME"x".json',
    ]


def test_systemd_quote():
    assert systemd_quote("/usr/bin/python3") == "/usr/bin/python3"
    assert systemd_quote("a b") == '"a b"'
    assert systemd_quote("50%") == '"50%%"'
    assert systemd_quote("$X") == '"$$X"'
    assert systemd_quote("") == '""'
    assert systemd_quote('a"b\\c') == '"a\\"b\\\\c"'


def test_config_text_is_stable():
    assert config_text({"b": 1, "a": [2]}) == config_text({"a": [2], "b": 1})
    assert config_text({"a": 1}).endswith("}\n")


def test_units_are_told_from_other_files():
    assert is_unit(TIMER, "/etc/systemd/system")
    assert is_unit(DROPIN, "/etc/systemd/system/")
    assert not is_unit(PARAMS["program_path"], "/etc/systemd/system")
    assert not is_unit(PARAMS["config_path"], "/etc/systemd/system")


@pytest.mark.parametrize(
    "fence, units_changed, enabled, active, expected",
    [
        (True, False, True, True, []),
        (True, True, True, True, ["restart"]),
        (True, True, False, False, ["enable", "start"]),
        (True, False, False, True, ["enable"]),
        (True, False, True, False, ["start"]),
        (False, False, True, True, ["stop", "disable"]),
        (False, True, False, True, ["stop"]),
        (False, False, False, False, []),
    ],
)
def test_unit_actions(fence, units_changed, enabled, active, expected):
    assert unit_actions(fence, units_changed, enabled, active) == expected

"""The haproxy role's configuration (roles/haproxy/templates/haproxy.cfg.j2), rendered as the template module renders
it for a cluster of three members: what each backend checks, on which port, what ends a member's sessions, and the
file HAProxy itself accepts (`haproxy -c`, the check the role's template task runs before it replaces the file)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import to_bool

ROLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles", "haproxy")
# db1 and db2 name their address, port and health port; the third is reached by its inventory name, an address
# here so that `haproxy -c` resolves it without DNS.
HOSTVARS = {
    "db1": {"postgresql_connect_host": "192.0.2.11"},
    "db2": {"postgresql_connect_host": "192.0.2.12", "postgresql_port": 5433, "postgresql_health_port": 9008},
    "192.0.2.13": {},
}
SERVERS = {"db1": ("192.0.2.11:5432", 8008), "db2": ("192.0.2.12:5433", 9008), "192.0.2.13": ("192.0.2.13:5432", 8008)}


def role_file(*parts: str) -> str:
    with open(os.path.join(ROLE, *parts)) as handle:
        return handle.read()


def environment() -> jinja2.Environment:
    # The template module's settings (no HTML escaping: a configuration file); the template needs only Jinja2's own
    # filters and Ansible's bool.
    env = jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(os.path.join(ROLE, "templates")),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["bool"] = to_bool
    return env


def role_variables(**overrides) -> dict:
    """The role's defaults, each templated as Ansible would (postgresql_group left out), under the overrides."""
    env = environment()
    variables = {"groups": {"postgres": list(HOSTVARS)}, "hostvars": HOSTVARS}
    for name, value in yaml.safe_load(role_file("defaults", "main.yml")).items():
        variables[name] = env.from_string(value).render(variables) if isinstance(value, str) and "{{" in value else value
    variables.update(overrides)
    return variables


def render(**overrides) -> str:
    return environment().get_template("haproxy.cfg.j2").render(role_variables(**overrides))


def sections(text: str) -> dict:
    """Each section ("backend postgresql_write", ...) with its lines, stripped, comments left out."""
    found, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = found.setdefault(line.strip(), [])
        else:
            current.append(line.strip())
    return found


def servers(lines: list) -> list:
    return [line for line in lines if line.startswith("server ")]


def test_first_line_says_the_role_writes_the_file():
    first = render().splitlines()[0]
    assert first.startswith("# ") and "haproxy role" in first and "overwritten" in first


def test_debian_global_essentials_are_kept():
    config = sections(render())
    for line in [
        "log /dev/log local0",
        "chroot /var/lib/haproxy",
        "stats socket /run/haproxy/admin.sock mode 660 level admin",
        "user haproxy",
        "group haproxy",
        "daemon",
        "maxconn 1000",
    ]:
        assert line in config["global"]
    assert {"mode tcp", "timeout connect 4s", "timeout client 30m", "timeout server 30m"} <= set(config["defaults"])


def test_write_port_sends_to_the_member_that_answers_primary():
    config = sections(render())
    assert config["frontend postgresql_write"] == ["bind *:5000", "default_backend postgresql_write"]
    backend = config["backend postgresql_write"]
    assert "option httpchk GET /primary" in backend and "http-check expect status 200" in backend
    assert "default-server inter 3s fall 2 rise 1 on-marked-down shutdown-sessions" in backend
    assert servers(backend) == ["server %s %s check port %d" % (name, address, port) for name, (address, port) in SERVERS.items()]


def test_read_port_takes_the_streaming_standbys_in_turn():
    config = sections(render())
    assert config["frontend postgresql_read"] == ["bind *:5001", "default_backend postgresql_read"]
    backend = config["backend postgresql_read"]
    assert "balance roundrobin" in backend and "http-check expect status 200" in backend
    assert [line for line in backend if "httpchk" in line] == ["option httpchk GET /replica"]
    assert "default-server inter 3s fall 2 rise 1 on-marked-down shutdown-sessions" in backend
    assert servers(backend) == ["server %s %s check port %d" % (name, address, port) for name, (address, port) in SERVERS.items()]


@pytest.mark.parametrize("bound, path", [(1048576, "/replica?lag=1048576"), ("65536", "/replica?lag=65536"), (0, "/replica?lag=0")])
def test_lag_bound_goes_into_the_read_check(bound, path):
    # 0 is a bound (a standby that has replayed everything), not "no bound".
    backend = sections(render(haproxy_read_max_lag_bytes=bound))["backend postgresql_read"]
    assert "option httpchk GET %s" % path in backend
    assert "option httpchk GET /primary" in sections(render(haproxy_read_max_lag_bytes=bound))["backend postgresql_write"]


def test_ports_address_and_check_timing_follow_the_variables():
    config = sections(
        render(
            haproxy_listen_address="10.1.0.5",
            haproxy_write_port=6432,
            haproxy_read_port=6433,
            haproxy_check_interval="500ms",
            haproxy_check_fall=3,
            haproxy_check_rise=2,
            haproxy_timeout_client="1h",
            haproxy_maxconn=200,
        )
    )
    assert "bind 10.1.0.5:6432" in config["frontend postgresql_write"]
    assert "bind 10.1.0.5:6433" in config["frontend postgresql_read"]
    for backend in ("backend postgresql_write", "backend postgresql_read"):
        assert "default-server inter 500ms fall 3 rise 2 on-marked-down shutdown-sessions" in config[backend]
    assert "timeout client 1h" in config["defaults"] and "maxconn 200" in config["global"]


def test_members_come_from_the_named_group():
    config = sections(render(haproxy_postgres_group="other", groups={"other": ["db2"], "postgres": list(HOSTVARS)}))
    assert servers(config["backend postgresql_write"]) == ["server db2 192.0.2.12:5433 check port 9008"]


def test_group_defaults_to_postgresql_group():
    variables = role_variables()
    assert variables["haproxy_postgres_group"] == "postgres"
    default = yaml.safe_load(role_file("defaults", "main.yml"))["haproxy_postgres_group"]
    assert environment().from_string(default).render(postgresql_group="pg") == "pg"


def test_no_stats_listener_unless_a_port_is_given():
    assert not any(name.startswith("listen") for name in sections(render()))
    listener = sections(render(haproxy_stats_port=8404))["listen stats"]
    assert "bind 127.0.0.1:8404" in listener and "stats enable" in listener and "mode http" in listener
    assert "bind 192.0.2.1:9000" in sections(render(haproxy_stats_port=9000, haproxy_stats_address="192.0.2.1"))["listen stats"]


def test_primary_takes_reads_only_as_a_backup_that_follows_the_write_check():
    assert not [line for line in servers(sections(render())["backend postgresql_read"]) if "backup" in line]
    backend = sections(render(haproxy_read_includes_primary=True))["backend postgresql_read"]
    backups = [line for line in servers(backend) if "backup" in line]
    assert backups == [
        "server %s_primary %s backup track postgresql_write/%s" % (name, address, name) for name, (address, _port) in SERVERS.items()
    ]
    # Ansible hands a boolean given as -e text to the template as text.
    as_text = sections(render(haproxy_read_includes_primary="false"))["backend postgresql_read"]
    assert as_text == sections(render())["backend postgresql_read"]


def test_role_validates_the_file_before_it_replaces_it():
    tasks = yaml.safe_load(role_file("tasks", "main.yml"))
    assert "ansible.builtin.assert" in tasks[0]
    (template,) = [task["ansible.builtin.template"] for task in tasks if "ansible.builtin.template" in task]
    assert template["src"] == "haproxy.cfg.j2" and template["dest"] == "/etc/haproxy/haproxy.cfg"
    assert template["validate"] == "haproxy -c -f %s" and template["mode"] == "0644" and template["owner"] == "root"


VARIANTS = {
    "defaults": {},
    "everything on": dict(haproxy_read_max_lag_bytes=1048576, haproxy_read_includes_primary=True, haproxy_stats_port=8404),
    "IPv6 member, loopback listener": dict(
        haproxy_listen_address="127.0.0.1",
        hostvars=dict(HOSTVARS, db1={"postgresql_connect_host": "2001:db8::11"}),
        haproxy_check_interval="750ms",
        haproxy_timeout_connect="1s",
    ),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_haproxy_accepts_the_file(name, tmp_path):
    # The lab's host packages include haproxy (lab/host-packages): a machine without it misses a check, it is not a pass.
    haproxy = shutil.which("haproxy") or next((path for path in ("/usr/sbin/haproxy",) if os.access(path, os.X_OK)), None)
    assert haproxy, "haproxy is not installed: run lab/host-packages (make host-packages) first"
    path = tmp_path / "haproxy.cfg"
    path.write_text(render(**VARIANTS[name]))
    completed = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Warnings would mean a setting HAProxy ignores or reads otherwise than the template means it.
    assert not re.search(r"\[WARNING\]|\[ALERT\]", completed.stdout + completed.stderr), completed.stdout + completed.stderr

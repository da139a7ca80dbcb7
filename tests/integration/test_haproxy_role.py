"""The haproxy role run by ansible-playbook in check mode against local stand-in hosts with valid variables: they pass
its first task, and the file the template module would write is the one tests/unit/roles/test_haproxy_config.py
checks. Its bad inputs are cases of tests/integration/test_role_bad_inputs.py, with the other roles'."""

from __future__ import annotations

import json
import os
import subprocess

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import to_bool
from pglab import ANSIBLE, CHECKOUT, MODULE_PYTHON, ansible_environment

CHECK_TASK = "Check the proxy's variables before any change"
MEMBERS = {
    "db1": {"postgresql_connect_host": "192.0.2.11"},
    "db2": {"postgresql_connect_host": "192.0.2.12", "postgresql_port": 5433, "postgresql_health_port": 9008},
    "192.0.2.13": {},
}
# Valid variables: the first task passes and the template task shows the file it would write.
GOOD = {
    "good": {},
    "good_options": dict(haproxy_read_max_lag_bytes="1048576", haproxy_read_includes_primary=True, haproxy_stats_port=8404),
    # A proxy on a member, its ports clear of the member's.
    "good_member": dict(_member_of="proxymember", haproxy_postgres_group="proxymember"),
}


def inventory() -> dict:
    groups = {"postgres": {"hosts": dict(MEMBERS)}, "proxy": {"hosts": {}}}
    for host, given in GOOD.items():
        variables = dict(ansible_connection="local", ansible_python_interpreter=MODULE_PYTHON)
        variables.update({key: value for key, value in given.items() if not key.startswith("_")})
        groups["proxy"]["hosts"][host] = variables
        if "_member_of" in given:
            groups.setdefault(given["_member_of"], {"hosts": {"db1": {}}})["hosts"][host] = {}
    return {"all": {"children": groups}}


@pytest.fixture(scope="module")
def run(base_dir):
    """Each host's first failed task, and each host's results by task."""
    directory = os.path.join(base_dir, "haproxy_role")
    os.makedirs(directory)
    with open(os.path.join(directory, "inventory.json"), "w") as file:
        json.dump(inventory(), file)
    play = {
        "hosts": "proxy",
        "gather_facts": False,
        "tasks": [{"name": "Run the role", "ansible.builtin.include_role": {"name": "pgops.replication.haproxy"}}],
    }
    with open(os.path.join(directory, "haproxy.json"), "w") as file:
        json.dump([play], file)
    command = [ANSIBLE + "-playbook", "--check", "--diff", "-i", "inventory.json", "haproxy.json"]
    completed = subprocess.run(
        command, capture_output=True, text=True, env=ansible_environment(ANSIBLE_FORKS="10"), cwd=directory, check=False
    )
    try:
        report = json.loads(completed.stdout)
    except ValueError as error:
        raise AssertionError(
            "ansible-playbook gave no JSON report: %s %s" % (completed.stdout[-2000:], completed.stderr[-2000:])
        ) from error
    failures, results = {}, {}
    for task in report["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            results.setdefault(host, {})[task["task"]["name"]] = result
            if result.get("failed") and host not in failures:
                failures[host] = (task["task"]["name"], result)
    return failures, results


def expected_file(host: str) -> str:
    """The file as tests/unit/roles/test_haproxy_config.py renders it, for this host's variables."""
    role = os.path.join(CHECKOUT, "roles", "haproxy")
    with open(os.path.join(role, "defaults", "main.yml")) as handle:
        variables = yaml.safe_load(handle)
    variables.update({key: value for key, value in GOOD[host].items() if not key.startswith("_")})
    group = variables["haproxy_postgres_group"] = GOOD[host].get("haproxy_postgres_group", "postgres")
    members = list(MEMBERS) if group == "postgres" else ["db1", host]
    variables.update(groups={group: members}, hostvars={**MEMBERS, host: {}})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(role, "templates")), trim_blocks=True, keep_trailing_newline=True)  # noqa: S701
    env.filters["bool"] = to_bool
    return env.get_template("haproxy.cfg.j2").render(variables)


@pytest.mark.parametrize("host", sorted(GOOD))
def test_valid_input_passes_the_check_and_renders_the_file_the_unit_test_checks(run, host):
    failures, results = run
    tasks = results[host]
    (check,) = [result for name, result in tasks.items() if CHECK_TASK in name]
    assert not check.get("failed"), check.get("msg")
    (written,) = [result for name, result in tasks.items() if "Write HAProxy's configuration" in name]
    assert not written.get("failed"), written.get("msg")
    diffs = written["diff"] if isinstance(written["diff"], list) else [written["diff"]]
    assert [diff["after"] for diff in diffs if "after" in diff] == [expected_file(host)]
    # A service this machine cannot start (no systemd) may fail the run after the template; nothing before it may.
    assert host not in failures or "Start HAProxy" in failures[host][0], failures.get(host)

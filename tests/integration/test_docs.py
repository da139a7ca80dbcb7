import importlib
import inspect
import json
import os
import re
import subprocess

import pytest
import yaml
from pglab import CHECKOUT, COLLECTIONS_PATH

MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(CHECKOUT, "plugins", "modules")) if name.endswith(".py"))


def test_all_modules_exist():
    assert MODULES == [
        "haproxy_servers",
        "pg_basebackup",
        "pg_clone",
        "pg_config_check",
        "pg_config_files",
        "pg_database",
        "pg_follow",
        "pg_guard",
        "pg_promote",
        "pg_replication_facts",
        "pg_replication_slot",
        "pg_replication_user",
        "pg_rewind",
        "pg_rewind_user",
        "pg_scram_secrets",
        "pg_shutdown",
        "pg_user",
        "pgbouncer_admin",
    ]


@pytest.mark.parametrize("module", MODULES)
def test_ansible_doc_renders(module):
    completed = subprocess.run(
        [os.path.join(CHECKOUT, ".venv", "bin", "ansible-doc"), "-t", "module", "pgops.replication." + module],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1"),
    )
    assert completed.returncode == 0, completed.stderr
    assert "pgops.replication.%s" % module in completed.stdout
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES"):
        assert section in completed.stdout, section
    assert "WARNING" not in completed.stderr and "ERROR" not in completed.stderr, completed.stderr


ROLES = sorted(os.listdir(os.path.join(CHECKOUT, "roles")))


def test_all_six_roles_exist():
    assert ROLES == ["haproxy", "pgbackrest", "pgbouncer", "postgresql", "primary", "standby"]


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_role_argument_specs(role):
    completed = subprocess.run(
        [os.path.join(CHECKOUT, ".venv", "bin", "ansible-doc"), "-t", "role", "pgops.replication." + role],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1"),
    )
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"ENTRY POINT: \W*main", completed.stdout) and "Options" in completed.stdout
    assert "ERROR" not in completed.stderr, completed.stderr
    with open(os.path.join(CHECKOUT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8") as stream:
        entry_points = yaml.safe_load(stream)["argument_specs"]
    for entry_point, spec in entry_points.items():
        assert spec.get("short_description") and spec.get("description"), "%s: %s lacks a description" % (role, entry_point)
        heading = re.search(r"^ENTRY POINT: \W*%s\W* - (.*)$" % re.escape(entry_point), completed.stdout, re.MULTILINE)
        assert heading and heading.group(1) == spec["short_description"], entry_point
        for option in spec.get("options") or {}:
            assert re.search(r"^[=-] +%s\b" % re.escape(option), completed.stdout, re.MULTILINE), (entry_point, option)


FILTER_DIR = os.path.join(CHECKOUT, "plugins", "filter")


def _filter_functions() -> dict:
    """Every filter the collection's FilterModule classes declare, by name, as Ansible loads them."""
    functions = {}
    for file_name in sorted(os.listdir(FILTER_DIR)):
        if not file_name.endswith(".py") or file_name.startswith("_"):
            continue
        plugin = importlib.import_module("ansible_collections.pgops.replication.plugins.filter." + file_name[:-3])
        for name, function in plugin.FilterModule().filters().items():
            assert name not in functions, "filter %s is declared twice" % name
            functions[name] = function
    return functions


FILTERS = _filter_functions()


def _sidecar(name: str) -> dict:
    with open(os.path.join(FILTER_DIR, name + ".yml"), encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def _ansible_doc(*args):
    return subprocess.run(
        [os.path.join(CHECKOUT, ".venv", "bin", "ansible-doc"), *args],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1"),
    )


def test_all_filters_exist():
    assert sorted(FILTERS) == [
        "backup_plan",
        "certificate_renewal",
        "cluster_status",
        "endpoints_status",
        "failover_choice",
        "failover_plan",
        "hba_lines",
        "hba_problems",
        "input_check",
        "member_name",
        "needed_wal_gone",
        "newest_release",
        "pgpass_line",
        "rejoin_plan",
        "release_packages",
        "remove_plan",
        "replication_capacity",
        "restart_plan",
        "restore_plan",
        "site_plan",
        "switchover_abort_plan",
        "switchover_checks",
        "switchover_plan",
        "synchronous_standby_names",
        "update_plan",
    ]


def test_every_filter_has_a_doc_and_every_doc_a_filter():
    docs = sorted(name[:-4] for name in os.listdir(FILTER_DIR) if name.endswith(".yml"))
    assert sorted(FILTERS) == docs, "filters without a doc: %s; docs without a filter: %s" % (
        sorted(set(FILTERS) - set(docs)),
        sorted(set(docs) - set(FILTERS)),
    )
    completed = _ansible_doc("-t", "filter", "-l", "pgops.replication")
    assert completed.returncode == 0, completed.stderr
    listed = dict(line.split(None, 1) for line in completed.stdout.splitlines() if line.strip())
    assert sorted(listed) == ["pgops.replication." + name for name in sorted(FILTERS)], completed.stdout
    assert not [name for name, summary in listed.items() if summary.strip() == "UNDOCUMENTED"], completed.stdout


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filter_doc_matches_the_code(name):
    """The documented options are the function's parameters: the input, then the positional arguments in order."""
    doc = _sidecar(name)["DOCUMENTATION"]
    # 0.1.0 is released: a filter it did not have arrives with the next release.
    assert doc["name"] == name and doc["version_added"] in ("0.1.0", "0.2.0", "0.3.0")
    parameters = list(inspect.signature(FILTERS[name]).parameters.values())
    assert sorted(doc["options"]) == sorted(["_input"] + [parameter.name for parameter in parameters[1:]])
    # A filter that takes nothing but its input documents no positional arguments.
    positional = [part.strip() for part in doc.get("positional", "").split(",") if part.strip()]
    assert positional == [parameter.name for parameter in parameters[1:]]
    for parameter in parameters[1:]:
        option = doc["options"][parameter.name]
        assert option.get("type"), parameter.name
        if parameter.default is inspect.Parameter.empty:
            assert option.get("required") is True, parameter.name
        elif parameter.default is not None:
            assert option.get("default") == parameter.default, parameter.name
    assert doc["options"]["_input"].get("required") is True


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_ansible_doc_renders_filter(name):
    doc = _sidecar(name)["DOCUMENTATION"]
    completed = _ansible_doc("-t", "filter", "pgops.replication." + name)
    assert completed.returncode == 0, completed.stderr
    assert "WARNING" not in completed.stderr and "ERROR" not in completed.stderr, completed.stderr
    text = completed.stdout
    assert text.startswith("> FILTER pgops.replication.%s " % name), text[:200]
    # ansible-doc wraps a long POSITIONAL line.
    flat = " ".join(text.split())
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES") + (("POSITIONAL: " + doc["positional"],) if "positional" in doc else ()):
        assert section in flat, section
    for option in doc["options"]:
        assert re.search(r"^[=-] +%s\b" % re.escape(option), text, re.MULTILINE), option
    assert re.search(r"^- _value\b", text, re.MULTILINE)
    assert re.search(r"\| *pgops\.replication\.%s\b" % name, text), "the examples use the filter by its full name"

    # The text output leaves the short description out: read it back from ansible-doc's JSON rendering.
    completed = _ansible_doc("-t", "filter", "--json", "pgops.replication." + name)
    assert completed.returncode == 0, completed.stderr
    rendered = json.loads(completed.stdout)["pgops.replication." + name]
    assert rendered["doc"]["short_description"] == doc["short_description"]
    assert rendered["doc"]["description"] and sorted(rendered["doc"]["options"]) == sorted(doc["options"])
    assert rendered["examples"].strip() and rendered["return"]["_value"]["type"]

"""The login options' aliases, as every module finally declares them, and the module_defaults groups of
meta/runtime.yml: a name must never mean two options in one module, and a group's defaults must suit every module in it."""

import importlib
import os

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pgops.replication.plugins.doc_fragments.connection import ModuleDocFragment
from ansible_collections.pgops.replication.plugins.module_utils.postgres import connection_argument_spec, validate_connection_params

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(CHECKOUT, "plugins", "modules")) if name.endswith(".py"))
ALIASES = dict(login_host=["host"], login_port=["port"], login_db=["db"], ssl_rootcert=["ca_cert"])


class Built(Exception):
    pass


def load(name: str):
    return importlib.import_module("ansible_collections.pgops.replication.plugins.modules." + name)


def final_spec(name: str, monkeypatch) -> dict:
    """The argument spec the module hands to AnsibleModule when it runs, whatever helpers built it."""
    module = load(name)

    def capture(argument_spec, **_):
        raise Built(argument_spec)

    monkeypatch.setattr(module, "AnsibleModule", capture)
    with pytest.raises(Built) as built:
        module.main()
    return built.value.args[0]


def module_documentation(name: str) -> dict:
    return yaml.safe_load(load(name).DOCUMENTATION)


def documented_options(name: str) -> dict:
    """The options ansible-doc shows: the module's own and its doc fragments'."""
    documentation = module_documentation(name)
    options = dict(documentation.get("options") or {})
    for fragment in documentation.get("extends_documentation_fragment", []):
        plugin, *variant = fragment.split(".")[2:]
        fragments = importlib.import_module("ansible_collections.pgops.replication.plugins.doc_fragments." + plugin).ModuleDocFragment
        options.update(yaml.safe_load(getattr(fragments, variant[0].upper() if variant else "DOCUMENTATION")).get("options") or {})
    return options


def declared_options(name: str, monkeypatch) -> dict:
    """The module's final argument spec; for a module file that only documents an action plugin, its documentation."""
    if hasattr(load(name), "main"):
        return final_spec(name, monkeypatch)
    return documented_options(name)


def runtime_groups() -> dict:
    with open(os.path.join(CHECKOUT, "meta", "runtime.yml"), encoding="utf-8") as stream:
        return yaml.safe_load(stream)["action_groups"]


def test_connection_options_take_the_other_modules_names():
    spec = connection_argument_spec()
    assert {option: spec[option].get("aliases") for option in ALIASES} == ALIASES
    assert [option for option in spec if spec[option].get("aliases") and option not in ALIASES] == []


def test_doc_fragment_documents_the_same_aliases():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    spec = connection_argument_spec()
    assert sorted(options) == sorted(spec)
    assert {option: options[option].get("aliases") for option in options} == {option: spec[option].get("aliases") for option in spec}


@pytest.mark.parametrize("name", MODULES)
def test_no_name_means_two_options(name, monkeypatch):
    spec = declared_options(name, monkeypatch)
    names = []
    for option, settings in spec.items():
        names.append(option)
        names.extend(settings.get("aliases") or [])
    assert sorted(set(names)) == sorted(names), sorted({n for n in names if names.count(n) > 1})


def test_every_connecting_module_takes_the_aliases(monkeypatch):
    connecting = [
        name for name in MODULES if "pgops.replication.connection" in module_documentation(name).get("extends_documentation_fragment", [])
    ]
    assert connecting, "no module extends the connection doc fragment"
    for name in connecting:
        spec = declared_options(name, monkeypatch)
        assert {option: spec[option].get("aliases") for option in ALIASES} == ALIASES, name


def test_aliases_reach_the_options_the_module_reads(tmp_path):
    """What the module code sees after Ansible has mapped the aliases: the login_* names, validated as usual."""
    ca_cert = tmp_path / "ca.crt"
    ca_cert.write_text("")
    given = dict(host="db1.example.net", port=6432, db="app", ca_cert=str(ca_cert), ssl_mode="verify-full")
    result = ArgumentSpecValidator(connection_argument_spec()).validate(given)
    assert result.error_messages == []
    params = result.validated_parameters
    assert (params["login_host"], params["login_port"], params["login_db"], params["ssl_rootcert"]) == (
        "db1.example.net",
        6432,
        "app",
        str(ca_cert),
    )

    class Module:
        def __init__(self, params):
            self.params = params

        def fail_json(self, **kwargs):
            raise AssertionError(kwargs["msg"])

    validate_connection_params(Module(params))
    missing = ArgumentSpecValidator(connection_argument_spec()).validate(dict(ca_cert=str(tmp_path / "absent.crt"))).validated_parameters
    with pytest.raises(AssertionError, match=r"ssl_rootcert .*absent\.crt does not exist"):
        validate_connection_params(Module(missing))


def test_an_alias_wins_over_its_option_with_a_warning():
    """What the doc fragment's note tells users who mix both names (in module_defaults and a task)."""
    result = ArgumentSpecValidator(connection_argument_spec()).validate(dict(login_port=5432, port=5433))
    assert result.error_messages == []
    assert result.validated_parameters["login_port"] == 5433
    assert result._warnings == [dict(option="login_port", alias="port")]


def test_group_all_lists_every_module():
    assert sorted(runtime_groups()["all"]) == MODULES


def test_group_login_lists_exactly_the_modules_that_take_every_login_option(monkeypatch):
    """module_defaults of a group reach every module in it, and a module fails on an option it does not take."""
    login_options = set(connection_argument_spec())
    taking = [name for name in MODULES if login_options <= set(declared_options(name, monkeypatch))]
    assert sorted(runtime_groups()["login"]) == taking
    assert set(taking) < set(MODULES)

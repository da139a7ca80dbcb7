import os

import pytest

from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    connection_argument_spec,
    connection_kwargs,
    describe_target,
    find_server_binary,
    validate_connection_params,
    validate_port,
    validate_positive,
)


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self, params=None, path=None):
        self.params = params or {}
        self.path = path

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])

    def get_bin_path(self, name):
        return self.path


def defaults(**overrides):
    params = {name: spec.get("default") for name, spec in connection_argument_spec().items()}
    params.update(overrides)
    return params


def test_login_password_is_no_log():
    assert connection_argument_spec()["login_password"]["no_log"] is True


def test_kwargs_use_socket_without_host_and_drop_unset():
    kwargs = connection_kwargs(defaults(login_unix_socket="/run/postgresql"))
    assert kwargs == {
        "host": "/run/postgresql",
        "port": 5432,
        "user": "postgres",
        "dbname": "postgres",
        "connect_timeout": 10,
        "application_name": "pgops.replication",
    }


def test_kwargs_tls():
    kwargs = connection_kwargs(defaults(login_host="db1", ssl_mode="verify-full", ssl_rootcert="/ca.crt", login_password="p"))
    assert (kwargs["host"], kwargs["sslmode"], kwargs["sslrootcert"], kwargs["password"]) == ("db1", "verify-full", "/ca.crt", "p")


def test_describe_target_never_shows_password():
    assert describe_target({"host": "db1", "port": 5433, "user": "u", "password": "p"}) == "db1 port 5433 as u"


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_bad_ports(port):
    with pytest.raises(Failed, match="primary_port must be a TCP port"):
        validate_port(FakeModule(), port, "primary_port")


def test_positive():
    validate_positive(FakeModule(), 0, "lsn_timeout", allow_zero=True)
    with pytest.raises(Failed, match="lsn_timeout must be zero or more"):
        validate_positive(FakeModule(), -1, "lsn_timeout", allow_zero=True)
    with pytest.raises(Failed, match="connect_timeout must be greater than zero"):
        validate_positive(FakeModule(), 0, "connect_timeout")


def test_host_and_socket_are_exclusive():
    with pytest.raises(Failed, match="mutually exclusive"):
        validate_connection_params(FakeModule(defaults(login_host="db1", login_unix_socket="/run/postgresql")))


def test_missing_rootcert():
    with pytest.raises(Failed, match="ssl_rootcert /nonexistent"):
        validate_connection_params(FakeModule(defaults(ssl_rootcert="/nonexistent")))


def make_binary(directory, name):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_find_binary_prefers_bin_dir(tmp_path):
    binary = make_binary(tmp_path / "bin", "pg_rewind")
    assert find_server_binary(FakeModule(), "pg_rewind", bin_dir=str(tmp_path / "bin")) == binary


def test_find_binary_matches_data_directory_version(tmp_path, monkeypatch):
    from ansible_collections.pgops.replication.plugins.module_utils import postgres

    root = tmp_path / "lib"
    make_binary(root / "17" / "bin", "pg_rewind")
    fifteen = make_binary(root / "15" / "bin", "pg_rewind")
    data = tmp_path / "data"
    data.mkdir()
    (data / "PG_VERSION").write_text("15\n")
    monkeypatch.setattr(postgres, "SERVER_BINARY_ROOT", str(root))
    assert find_server_binary(FakeModule(), "pg_rewind", data_dir=str(data)) == fifteen
    assert find_server_binary(FakeModule(), "pg_rewind") == os.path.join(str(root), "17", "bin", "pg_rewind")


def test_find_binary_missing_names_it(tmp_path, monkeypatch):
    from ansible_collections.pgops.replication.plugins.module_utils import postgres

    monkeypatch.setattr(postgres, "SERVER_BINARY_ROOT", str(tmp_path))
    with pytest.raises(Failed, match="pg_rewind not found"):
        find_server_binary(FakeModule(), "pg_rewind")

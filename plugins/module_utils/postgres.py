# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One way for every module to reach PostgreSQL: options, connection, server binaries."""

from __future__ import annotations

import glob
import os
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg
    from psycopg import sql  # noqa: F401  # pylint: disable=unused-import  # re-exported for the modules
except ImportError:
    psycopg = None
    sql = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
# PostgreSQL's own rule for replication slot names; it also keeps them safe in replication commands.
SLOT_NAME_PATTERN = re.compile(r"^[a-z0-9_]{1,63}$")
APPLICATION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
SERVER_BINARY_ROOT = "/usr/lib/postgresql"


def connection_argument_spec() -> dict:
    """The login options shared by every module that connects (documented in the `connection` doc fragment).

    The aliases are the names other PostgreSQL modules give these options, so tasks and module_defaults written for
    them work here unchanged; Ansible maps an alias to its option before the module reads its parameters.
    """
    return dict(
        login_host=dict(type="str", aliases=["host"]),
        login_port=dict(type="int", default=5432, aliases=["port"]),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", no_log=True),
        login_db=dict(type="str", default="postgres", aliases=["db"]),
        login_unix_socket=dict(type="path"),
        ssl_mode=dict(type="str", choices=SSL_MODES),
        ssl_rootcert=dict(type="path", aliases=["ca_cert"]),
        connect_timeout=dict(type="int", default=10),
    )


def require_psycopg(module) -> None:
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg (version 3)"), exception=PSYCOPG_IMPORT_ERROR)


def validate_port(module, value, option: str) -> None:
    if value is not None and not 1 <= value <= 65535:
        module.fail_json(msg="%s must be a TCP port between 1 and 65535, got %s" % (option, value))


# The largest value of PostgreSQL's int4 and of the C int its tools parse their numeric options into.
MAX_INT4 = 2147483647


def validate_positive(module, value, option: str, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        module.fail_json(msg="%s must be %s, got %s" % (option, "zero or more" if allow_zero else "greater than zero", value))
    if value > MAX_INT4:
        module.fail_json(msg="%s must be at most %d, got %s" % (option, MAX_INT4, value))


def validate_connection_params(module) -> None:
    params = module.params
    validate_port(module, params["login_port"], "login_port")
    validate_positive(module, params["connect_timeout"], "connect_timeout")
    if params["login_host"] is not None and params["login_unix_socket"] is not None:
        module.fail_json(msg="login_host and login_unix_socket are mutually exclusive: give one way to reach the server")
    if params["ssl_rootcert"] and not os.path.isfile(params["ssl_rootcert"]):
        module.fail_json(msg="ssl_rootcert %s does not exist or is not a file" % params["ssl_rootcert"])


def connection_kwargs(params: dict) -> dict:
    """psycopg keyword arguments from the login options; a Unix socket when no host is given."""
    kwargs = dict(
        host=params["login_host"] or params["login_unix_socket"],
        port=params["login_port"],
        user=params["login_user"],
        password=params["login_password"],
        dbname=params["login_db"],
        sslmode=params["ssl_mode"],
        sslrootcert=params["ssl_rootcert"],
        connect_timeout=params["connect_timeout"],
        application_name="pgops.replication",
    )
    return {key: value for key, value in kwargs.items() if value is not None}


def local_connection_kwargs(port: int, unix_socket: str | None) -> dict:
    """psycopg keyword arguments for the local server over its Unix socket, as the current OS user (peer)."""
    kwargs = dict(port=port, dbname="postgres", application_name="pgops.replication", connect_timeout=10)
    if unix_socket:
        kwargs["host"] = unix_socket
    return kwargs


def describe_target(kwargs: dict) -> str:
    host = kwargs.get("host") or "the default Unix socket"
    return "%s port %s as %s" % (host, kwargs.get("port", 5432), kwargs.get("user", "the current user"))


class ConnectionFailed(Exception):
    pass


def try_connect(kwargs: dict, autocommit: bool = True):
    """Open a connection or raise ConnectionFailed with libpq's reason and where it tried."""
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as error:
        raise ConnectionFailed("could not connect to %s: %s" % (describe_target(kwargs), str(error).strip())) from error


def connect(module, autocommit: bool = True):
    """Connect with the module's login options, failing the module with a clear message when it cannot."""
    require_psycopg(module)
    validate_connection_params(module)
    try:
        return try_connect(connection_kwargs(module.params), autocommit=autocommit)
    except ConnectionFailed as error:
        module.fail_json(msg=str(error))


def fetch_one(connection, query, params=None) -> dict:
    """First row as a dict (column name -> value), or an empty dict."""
    cursor = connection.execute(query, params)
    row = cursor.fetchone()
    if row is None:
        return {}
    return {column.name: value for column, value in zip(cursor.description, row)}


WAL_NAMES_QUERY = "SELECT coalesce(array_agg(name), '{}') AS names FROM pg_ls_waldir()"


def wal_file_names(connection) -> list:
    """Names of the files in the server's pg_wal; empty when this role may not list the directory."""
    try:
        return fetch_one(connection, WAL_NAMES_QUERY)["names"]
    except psycopg.Error:
        return []


def fetch_all(connection, query, params=None) -> list:
    cursor = connection.execute(query, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _major_from_data_dir(data_dir: str | None) -> str | None:
    if not data_dir:
        return None
    try:
        with open(os.path.join(data_dir, "PG_VERSION")) as version_file:
            return version_file.read().strip()
    except OSError:
        return None


def find_server_binary(module, name: str, bin_dir: str | None = None, data_dir: str | None = None) -> str:
    """Path of a PostgreSQL program: `bin_dir` if given, else the version matching `data_dir`, else the newest installed."""
    candidates = []
    if bin_dir:
        candidates.append(os.path.join(bin_dir, name))
    else:
        major = _major_from_data_dir(data_dir)
        if major:
            candidates.append(os.path.join(SERVER_BINARY_ROOT, major, "bin", name))
        installed = glob.glob(os.path.join(SERVER_BINARY_ROOT, "*", "bin", name))
        installed.sort(key=lambda path: [int(part) for part in re.findall(r"\d+", path.split(os.sep)[-3])], reverse=True)
        candidates.extend(installed)
        on_path = module.get_bin_path(name)
        if on_path:
            candidates.append(on_path)
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    where = bin_dir if bin_dir else "%s/*/bin or PATH" % SERVER_BINARY_ROOT
    module.fail_json(msg="%s not found in %s: install the PostgreSQL server package or set bin_dir" % (name, where))


def validate_bin_dir(module) -> None:
    bin_dir = module.params.get("bin_dir")
    if bin_dir and not os.path.isdir(bin_dir):
        module.fail_json(msg="bin_dir %s is not a directory" % bin_dir)


def refuse_root(module, action: str) -> None:
    """Data directories must belong to the PostgreSQL OS user, so programs that write them must run as that user."""
    if os.geteuid() == 0:
        module.fail_json(msg="%s must run as the PostgreSQL OS user, not root: use become_user (for example postgres)" % action)

# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What PostgreSQL makes of its configuration files: the server program for the settings, the running server for
pg_hba.conf. Shared by the modules that check files and those that write them."""

from __future__ import annotations

import os
import re

from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    ConnectionFailed,
    connection_argument_spec,
    connection_kwargs,
    fetch_all,
    find_server_binary,
    psycopg,
    refuse_root,
    require_psycopg,
    try_connect,
    validate_bin_dir,
    validate_connection_params,
)

HBA_ERRORS = "SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL ORDER BY line_number"
# What the running server says of a hostssl line while its ssl setting is off: a settings file that turns ssl on is
# read at the same reload as pg_hba.conf, so the line matches from then on (TLS turned on in a running cluster).
SSL_OFF_HBA_ERROR = "hostssl record cannot match because SSL is disabled"
# The server program's own lines, without the timestamp and process prefix its log lines start with.
LOG_PREFIX = re.compile(r"^.*?\b(LOG|FATAL|ERROR|DETAIL|HINT):\s+")


def config_check_argument_spec(**extra) -> dict:
    """The options of the `config_check` doc fragment and the login options, with a module's own."""
    spec = connection_argument_spec()
    spec.update(config_dir=dict(type="path", required=True), bin_dir=dict(type="path"), hba=dict(type="bool", default=True))
    spec.update(extra)
    return spec


def prepare_check(module, action: str) -> str:
    """Refuse what cannot be checked, before anything is written; returns the server program."""
    refuse_root(module, action)
    validate_bin_dir(module)
    validate_config_dir(module, module.params["config_dir"])
    if module.params["hba"]:
        require_psycopg(module)
        validate_connection_params(module)
    return find_server_binary(module, "postgres", module.params["bin_dir"])


def config_errors(module, postgres: str) -> tuple:
    """(what PostgreSQL rejects in the files as they are now, whether the running server read pg_hba.conf)."""
    errors = settings_errors(module, postgres, module.params["config_dir"])
    hba_checked = False
    if module.params["hba"]:
        found, hba_checked = hba_errors(module)
        if found and not errors and setting_in_files(module, postgres, module.params["config_dir"], "ssl") == "on":
            found = [error for error in found if not error.endswith(SSL_OFF_HBA_ERROR)]
        errors += found
    return errors, hba_checked


def setting_in_files(module, postgres: str, config_dir: str, name: str) -> str | None:
    """The value the configuration files give `name`, as the server program reads them at a start or a reload."""
    rc, out, _err = module.run_command([postgres, "-D", config_dir, "-C", name])
    return out.strip() if rc == 0 else None


def validate_config_dir(module, config_dir: str) -> None:
    if not os.path.isfile(os.path.join(config_dir, "postgresql.conf")):
        module.fail_json(msg="config_dir %s holds no postgresql.conf (give the directory the server is started with as -D)" % config_dir)


def settings_errors(module, postgres: str, config_dir: str) -> list:
    """What the server program rejects when it reads every configuration file as a start would (it changes nothing)."""
    rc, out, err = module.run_command([postgres, "-D", config_dir, "-C", "data_directory"])
    if rc == 0:
        return []
    lines = [LOG_PREFIX.sub("", line).strip() for line in (err or out).splitlines() if line.strip()]
    return lines or ["%s -D %s -C data_directory failed with exit status %d and said nothing" % (postgres, config_dir, rc)]


def hba_errors(module) -> tuple:
    """The lines of pg_hba.conf the running server rejects, and whether it answered at all."""
    try:
        connection = try_connect(connection_kwargs(module.params))
    except ConnectionFailed:
        return [], False
    with connection:
        try:
            rows = fetch_all(connection, HBA_ERRORS)
        except psycopg.Error as error:
            module.fail_json(msg="could not read pg_hba_file_rules (the login role needs to be a superuser): %s" % str(error).strip())
    return ["pg_hba.conf line %d: %s" % (row["line_number"], row["error"]) for row in rows], True


def rejection_message(errors: list, restored: list, check_mode: bool) -> str:
    if not restored:
        after = "Nothing was put back (no file was given to restore)."
    elif check_mode:
        after = "Check mode: %s would be put back." % ", ".join(restored)
    else:
        after = "The previous files are back in place (%s); fix the variables and run again." % ", ".join(restored)
    return "PostgreSQL rejects the configuration: %s. %s" % ("; ".join(errors), after)


# A setting's name at the start of a line of a configuration file (comments start with #).
SETTING_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|\s)", re.MULTILINE)
RESTART_ONLY_SETTINGS = "SELECT name, setting, unit, current_setting(name) AS running FROM pg_settings WHERE context = 'postmaster'"
MEMORY_UNITS = (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024), ("B", 1))
TIME_UNITS = (("d", 86400000), ("h", 3600000), ("min", 60000), ("s", 1000), ("ms", 1))


def setting_names(*texts: str | None) -> set:
    """The settings named in configuration files' text, in lower case as PostgreSQL compares them."""
    return {match.group(1).lower() for text in texts if text for match in SETTING_NAME.finditer(text)}


def shown_value(setting: str, unit: str | None) -> str:
    """A value as `postgres -C` and pg_settings.setting give it (a count of the setting's unit), as SHOW gives it: in
    the largest unit it divides into evenly (6144 of 8kB is 48MB)."""
    match = re.match(r"^(\d*)(B|kB|MB|GB|TB|ms|s|min|h|d)$", unit or "")
    if not match or not re.match(r"^\d+$", setting or ""):
        return setting
    count = int(setting) * int(match.group(1) or 1)
    units = MEMORY_UNITS if match.group(2) in dict(MEMORY_UNITS) else TIME_UNITS
    base = dict(units)[match.group(2)]
    total = count * base
    if total == 0:
        return "0"
    # SHOW never goes below the setting's own unit (kB for a setting counted in 8kB blocks).
    for name, size in units:
        if size >= base and total % size == 0:
            return "%d%s" % (total // size, name)
    return "%d%s" % (count, match.group(2))


def restart_changes(module, postgres: str, config_dir: str, names: set) -> dict:
    """{setting: {"running": value, "wanted": value}} for the settings of `names` that only a restart applies and whose
    value in the files of `config_dir` (read by the server program) differs from what the running server runs. Empty
    when the server does not answer."""
    try:
        connection = try_connect(connection_kwargs(module.params))
    except ConnectionFailed:
        return {}
    with connection:
        rows = {row["name"]: row for row in fetch_all(connection, RESTART_ONLY_SETTINGS) if row["name"] in names}
    changes = {}
    for name, row in sorted(rows.items()):
        wanted = setting_in_files(module, postgres, config_dir, name)
        if wanted is not None and wanted != row["setting"]:
            changes[name] = dict(running=row["running"], wanted=shown_value(wanted, row["unit"]))
    return changes

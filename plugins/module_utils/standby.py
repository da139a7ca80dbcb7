# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a standby needs to follow its primary: the upstream options, the password file, the standby configuration."""

from __future__ import annotations

import os
import socket
import time

from ansible_collections.pgops.replication.plugins.module_utils.conninfo import (
    build_conninfo,
    mask_config_passwords,
    read_text,
    rewrite_config_text,
    rewrite_passfile_text,
    write_private_file,
)
from ansible_collections.pgops.replication.plugins.module_utils.postgres import (
    APPLICATION_NAME_PATTERN,
    SLOT_NAME_PATTERN,
    SSL_MODES,
    validate_port,
    validate_positive,
)

REPLICATION_DATABASE = "replication"


def upstream_argument_spec() -> dict:
    """Options that say how a standby reaches its primary (documented in the `upstream` doc fragment)."""
    return dict(
        primary_host=dict(type="str", required=True),
        primary_port=dict(type="int", default=5432),
        replication_user=dict(type="str", default="replicator"),
        replication_password=dict(type="str", no_log=True),
        passfile=dict(type="path", default="~/.pgpass", no_log=False),
        application_name=dict(type="str"),
        slot_name=dict(type="str"),
        primary_ssl_mode=dict(type="str", choices=SSL_MODES),
        primary_ssl_rootcert=dict(type="path"),
        standby_config_file=dict(type="path"),
        connect_timeout=dict(type="int", default=10),
    )


def default_application_name() -> str:
    short_name = socket.gethostname().split(".")[0]
    cleaned = "".join(character if character.isalnum() or character in "_-" else "_" for character in short_name)
    return cleaned[:63] or "standby"


def validate_upstream(module) -> None:
    params = module.params
    if not params["primary_host"] or not params["primary_host"].strip():
        module.fail_json(msg="primary_host must name the primary server, got an empty value")
    validate_port(module, params["primary_port"], "primary_port")
    validate_positive(module, params["connect_timeout"], "connect_timeout")
    if not params["replication_user"]:
        module.fail_json(msg="replication_user must not be empty")
    if params["slot_name"] is not None and not SLOT_NAME_PATTERN.match(params["slot_name"]):
        module.fail_json(
            msg="slot_name %r is not a valid replication slot name: use 1 to 63 lower-case letters, digits or underscores"
            % params["slot_name"]
        )
    if params["application_name"] is not None and not APPLICATION_NAME_PATTERN.match(params["application_name"]):
        module.fail_json(
            msg="application_name %r must be 1 to 63 letters, digits, '_', '-' or '.' (it is matched by synchronous_standby_names)"
            % params["application_name"]
        )
    if params["primary_ssl_rootcert"] and not os.path.isfile(params["primary_ssl_rootcert"]):
        module.fail_json(msg="primary_ssl_rootcert %s does not exist or is not a file" % params["primary_ssl_rootcert"])
    passfile_directory = os.path.dirname(os.path.abspath(params["passfile"]))
    if not os.path.isdir(passfile_directory):
        module.fail_json(msg="passfile %s: directory %s does not exist" % (params["passfile"], passfile_directory))
    if os.path.isdir(params["passfile"]):
        module.fail_json(msg="passfile %s is a directory, not a file" % params["passfile"])
    # The file is replaced through a new file beside it: the directory itself must be writable.
    if params["replication_password"] is not None and not os.access(passfile_directory, os.W_OK | os.X_OK):
        module.fail_json(msg="passfile %s: directory %s is not writable by this user" % (params["passfile"], passfile_directory))
    if params["replication_password"] is None and not os.path.isfile(params["passfile"]):
        module.fail_json(
            msg="replication_password is not set and passfile %s does not exist: give the replication password" % params["passfile"]
        )


def application_name(params: dict) -> str:
    return params["application_name"] or default_application_name()


def primary_conninfo(params: dict) -> str:
    """The standby's primary_conninfo: it names the passfile and never carries the password itself."""
    return build_conninfo(
        {
            "host": params["primary_host"],
            "port": params["primary_port"],
            "user": params["replication_user"],
            "passfile": params["passfile"],
            "application_name": application_name(params),
            "sslmode": params["primary_ssl_mode"],
            "sslrootcert": params["primary_ssl_rootcert"],
            "connect_timeout": params["connect_timeout"],
        }
    )


def replication_connection_kwargs(params: dict) -> dict:
    """psycopg keyword arguments for a physical replication connection to the primary."""
    kwargs = dict(
        host=params["primary_host"],
        port=params["primary_port"],
        user=params["replication_user"],
        passfile=params["passfile"],
        dbname=REPLICATION_DATABASE,
        replication="true",
        application_name="pgops.replication",
        sslmode=params["primary_ssl_mode"],
        sslrootcert=params["primary_ssl_rootcert"],
        connect_timeout=params["connect_timeout"],
    )
    return {key: value for key, value in kwargs.items() if value is not None}


def ensure_passfile(params: dict, check_mode: bool) -> bool:
    """Put the replication password in the password file (mode 0600); True when the file changed."""
    if params["replication_password"] is None:
        return False
    text = rewrite_passfile_text(
        read_text(params["passfile"]),
        params["primary_host"],
        params["primary_port"],
        REPLICATION_DATABASE,
        params["replication_user"],
        params["replication_password"],
    )
    return write_private_file(params["passfile"], text, check_mode)


def standby_config_path(params: dict, data_dir: str) -> str:
    return params["standby_config_file"] or os.path.join(data_dir, "postgresql.auto.conf")


def write_standby_config(params: dict, data_dir: str, check_mode: bool, settings: dict | None = None) -> dict:
    """Make `data_dir` start as a standby of the primary in `params`, or with `settings` in its standby configuration
    instead (an empty primary_conninfo follows no primary); returns what changed and a diff."""
    config_path = standby_config_path(params, data_dir)
    before = read_text(config_path)
    if settings is None:
        settings = {"primary_conninfo": primary_conninfo(params), "primary_slot_name": params["slot_name"]}
    after = rewrite_config_text(before, settings)
    config_changed = write_private_file(config_path, after, check_mode) if before != after else False
    signal_path = os.path.join(data_dir, "standby.signal")
    signal_created = not os.path.exists(signal_path)
    if signal_created and not check_mode:
        with open(signal_path, "w"):
            pass
        os.chmod(signal_path, 0o600)
    return {
        "changed": config_changed or signal_created,
        "config_file": config_path,
        # A primary_conninfo written by hand may hold a password: the diff never shows it.
        "diff": {
            "before": mask_config_passwords(before),
            "after": mask_config_passwords(after),
            "before_header": config_path,
            "after_header": config_path,
        },
    }


# What the primary answers a replication connection when every WAL sender is taken (PostgreSQL's own wording).
WAL_SENDER_SHORTAGE = "number of requested standby connections exceeds max_wal_senders"


class WalSenderWait:
    """Retries a connection refused because every WAL sender of the primary is taken (clones and standbys that free
    them soon), for at most `limit` seconds in all; anything else fails at once."""

    def __init__(self, limit: float, clock=time.monotonic, sleep=time.sleep, longest_pause: float = 5.0) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._longest_pause = longest_pause
        self._started = clock()
        self.refusals = 0

    @property
    def waited(self) -> float:
        return round(self._clock() - self._started, 3) if self.refusals else 0.0

    def retry(self, message: str) -> bool:
        """True after a pause when `message` is a WAL sender shortage and time is left; False when the caller fails."""
        if WAL_SENDER_SHORTAGE not in message:
            return False
        left = self.limit - (self._clock() - self._started)
        if left <= 0:
            return False
        self.refusals += 1
        # 0.5 s, 1 s, 2 s, ... up to longest_pause: a sender frees as soon as a clone ends or a standby reconnects.
        self._sleep(min(0.5 * 2 ** (self.refusals - 1), self._longest_pause, left))
        return True

    def gave_up(self, message: str) -> str:
        """The failure message once retry() returned False after refusals for lack of a WAL sender."""
        if WAL_SENDER_SHORTAGE not in message or not self.refusals:
            return message
        return (
            "%s (still refused after %d tries in %.0f s, wal_sender_wait %s s: raise max_wal_senders on the primary, or "
            "clone fewer standbys at once)" % (message, self.refusals + 1, self._clock() - self._started, self.limit)
        )

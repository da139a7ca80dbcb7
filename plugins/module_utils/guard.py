# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pg_guard installs for one cluster: the files with their text and ownership, decided without touching the host."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

# Shell scripts that releases before the guard program installed for each cluster.
LEGACY_SCRIPTS = ("pgops-start-guard-%s", "pgops-isolation-fence-%s")


# Characters that need no quoting in a systemd Exec line.
PLAIN = re.compile(r"[A-Za-z0-9/._+:,=@-]+")


@dataclass(frozen=True)
class WantedFile:
    path: str
    text: str | None  # None: the file must not exist
    owner: str = "root"
    mode: int = 0o644
    secret: bool = False


def systemd_quote(argument: str) -> str:
    """One argument of a systemd Exec line as itself: double-quoted unless it is plain, with systemd's specifiers (%)
    and variables ($) kept literal."""
    argument = str(argument).replace("%", "%%").replace("$", "$$")
    if argument and PLAIN.fullmatch(argument):
        return argument
    return '"%s"' % argument.replace("\\", "\\\\").replace('"', '\\"')


def systemd_path(path: str) -> str:
    """A path in a unit's [Unit] conditions: specifiers kept literal."""
    return str(path).replace("%", "%%")


def fence_unit_name(cluster: str) -> str:
    return "pgops-isolation-fence-%s" % cluster


def start_guard_dropin(params: dict) -> str:
    command = [
        "/usr/sbin/runuser",
        "-u",
        params["owner"],
        "--",
        "/usr/bin/python3",
        params["program_path"],
        "start",
        params["config_path"],
    ]
    return (
        "# Managed by pgops.replication: never start as a second primary, nor as a primary without a majority.\n"
        "[Service]\n"
        "ExecStartPre=%s\n" % " ".join(systemd_quote(part) for part in command)
    )


def fence_service(params: dict) -> str:
    # -I -S as for the health check: a primary runs this every few seconds, and only a run that finds it in a minority
    # asks its peers, with psycopg from site-packages, which the program adds then.
    command = ["/usr/bin/python3", "-I", "-S", params["program_path"], "watch", params["config_path"]]
    return (
        "# Managed by pgops.replication: a primary left in a minority of the members stops itself.\n"
        "[Unit]\n"
        "Description=pgops isolation fence for PostgreSQL %s\n"
        "# A standby has nothing to fence: systemd skips the run without starting Python.\n"
        "ConditionPathExists=!%s\n"
        "[Service]\n"
        "# simple, not oneshot: the timer counts its interval from each run's start, however long the run looks.\n"
        "Type=simple\n"
        "User=%s\n"
        "# Only what the guard says (on stderr, as a warning) reaches the journal, not a start line every few seconds.\n"
        "SyslogLevel=warning\n"
        "LogLevelMax=warning\n"
        "ExecStart=%s\n"
        % (
            params["cluster"],
            systemd_path(os.path.join(params["data_dir"], "standby.signal")),
            params["owner"],
            " ".join(systemd_quote(part) for part in command),
        )
    )


def fence_timer(params: dict) -> str:
    interval = params["isolation_interval"]
    return (
        "# Managed by pgops.replication.\n"
        "[Unit]\n"
        "Description=pgops isolation fence for PostgreSQL %s, every %d s\n"
        "[Timer]\n"
        "OnActiveSec=%d\n"
        "OnUnitActiveSec=%d\n"
        "AccuracySec=100ms\n"
        "[Install]\n"
        "WantedBy=timers.target\n" % (params["cluster"], interval, interval, interval)
    )


def health_unit_name(cluster: str) -> str:
    return "pgops-health-%s" % cluster


def health_socket(params: dict) -> str:
    address = params["health_address"]
    listen = "%s:%d" % ("[%s]" % address if ":" in address else address, params["health_port"]) if address else str(params["health_port"])
    return (
        "# Managed by pgops.replication: the health check answers each connection with one run of the guard program, so\n"
        "# nothing runs between two requests.\n"
        "[Unit]\n"
        "Description=pgops health check for PostgreSQL %s\n"
        "[Socket]\n"
        "ListenStream=%s\n"
        "Accept=yes\n"
        "# A proxy checks each member every second or two; more at once than this is no proxy's check.\n"
        "MaxConnections=32\n"
        "[Install]\n"
        "WantedBy=sockets.target\n" % (params["cluster"], listen)
    )


def health_service(params: dict) -> str:
    # -S: answering a check needs nothing from site-packages, and skipping them is a few milliseconds less of each
    # request's CPU; -I: no environment variable or user directory changes what runs.
    command = ["/usr/bin/python3", "-I", "-S", params["program_path"], "health", params["config_path"]]
    return (
        "# Managed by pgops.replication: one health check request, answered on the accepted connection.\n"
        "[Unit]\n"
        "Description=pgops health check for PostgreSQL %s, one request\n"
        "CollectMode=inactive-or-failed\n"
        "[Service]\n"
        "Type=simple\n"
        "User=%s\n"
        "StandardInput=socket\n"
        "StandardOutput=socket\n"
        "StandardError=journal\n"
        "SyslogLevel=warning\n"
        "LogLevelMax=warning\n"
        "RuntimeMaxSec=15\n"
        "ExecStart=%s\n" % (params["cluster"], params["owner"], " ".join(systemd_quote(part) for part in command))
    )


def config_text(config: dict) -> str:
    return json.dumps(config, indent=4, sort_keys=True) + "\n"


def wanted_files(params: dict) -> list:
    """Every file pg_guard manages for the cluster, in the order it writes them: the program and its configuration
    before the units that run them. The password file is not among them (it holds other entries too)."""
    start_guard, fence, health = params["start_guard"], params["isolation_fence"], bool(params.get("health_port"))
    guarded = start_guard or fence or health
    unit_dir = params["unit_dir"]
    fence_unit = os.path.join(unit_dir, fence_unit_name(params["cluster"]))
    health_unit = os.path.join(unit_dir, health_unit_name(params["cluster"]))
    files = []
    if guarded:
        program = params["program"] if params["program"].endswith("\n") else params["program"] + "\n"
        files += [
            WantedFile(params["program_path"], program),
            WantedFile(params["config_path"], config_text(params["config"]), owner=params["owner"], mode=0o640),
        ]
    files += [
        WantedFile(
            os.path.join(unit_dir, params["service"] + ".service.d", "pgops-start-guard.conf"),
            start_guard_dropin(params) if start_guard else None,
        ),
        WantedFile(fence_unit + ".service", fence_service(params) if fence else None),
        WantedFile(fence_unit + ".timer", fence_timer(params) if fence else None),
        WantedFile(health_unit + "@.service", health_service(params) if health else None),
        WantedFile(health_unit + ".socket", health_socket(params) if health else None),
    ]
    library = os.path.dirname(params["program_path"])
    files += [WantedFile(os.path.join(library, script % params["cluster"]), None) for script in LEGACY_SCRIPTS]
    return files


def is_unit(path: str, unit_dir: str) -> bool:
    return os.path.dirname(path) == unit_dir.rstrip("/") or os.path.dirname(os.path.dirname(path)) == unit_dir.rstrip("/")


def unit_actions(wanted: bool, units_changed: bool, enabled: bool, active: bool) -> list:
    """The systemctl commands that leave the fence timer (or the health check's socket) as wanted: running and enabled
    when on (restarted when its units changed, so that the new interval or address counts), stopped and disabled when
    off."""
    if not wanted:
        return [action for action, needed in (("stop", active), ("disable", enabled)) if needed]
    actions = [] if enabled else ["enable"]
    if not active:
        actions.append("start")
    elif units_changed:
        actions.append("restart")
    return actions

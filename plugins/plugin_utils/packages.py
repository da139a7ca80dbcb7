# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Debian package versions carry the PostgreSQL minor release a cluster is asked to run."""

from __future__ import annotations

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError


def madison_versions(output: str) -> dict:
    """{package: [version, ...]} from `apt-cache madison` output, each list in apt's order (newest first)."""
    versions: dict = {}
    for line in str(output or "").splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) < 3 or not fields[0] or not fields[1]:
            continue
        listed = versions.setdefault(fields[0], [])
        if fields[1] not in listed:
            listed.append(fields[1])
    return versions


def upstream_release(version: str) -> str:
    """15.20 of 15.20-0+deb12u1 (an epoch, N:, is dropped)."""
    return version.split(":", 1)[-1].split("-", 1)[0]


def release_packages(madison_output, release, packages) -> list:
    """apt's names for `packages` at PostgreSQL minor release `release` (MAJOR.MINOR, or a whole Debian version):
    NAME=VERSION for each, the newest version of that release apt lists. An empty `release` keeps the bare names (the
    distribution's newest). A release apt does not list, or one of another major release, is refused with the ones it
    lists."""
    if isinstance(packages, str) or not packages:
        raise PlanError("packages must be a non-empty list of package names, got %r" % (packages,))
    wanted = str(release if release is not None else "").strip()
    if not wanted:
        return list(packages)
    listed = madison_versions(madison_output)
    chosen = []
    for package in packages:
        versions = listed.get(package, [])
        if not versions:
            raise PlanError("apt lists no version of %s: is the package name right, and apt's lists up to date?" % package)
        matching = [version for version in versions if version == wanted or upstream_release(version) == wanted]
        if not matching:
            available = ", ".join("%s (%s)" % (upstream_release(version), version) for version in versions)
            raise PlanError(
                "PostgreSQL %s is not available from apt here for %s; it lists %s. Set postgresql_minor_version to one of "
                "them, or leave it empty for the newest." % (wanted, package, available)
            )
        chosen.append("%s=%s" % (package, matching[0]))
    return chosen


def newest_release(madison_output, package) -> str:
    """MAJOR.MINOR of the newest version of `package` apt lists (apt-cache madison lists the newest first)."""
    versions = madison_versions(madison_output).get(str(package or ""), [])
    if not versions:
        raise PlanError("apt lists no version of %s: is the package name right, and apt's lists up to date?" % package)
    return upstream_release(versions[0])

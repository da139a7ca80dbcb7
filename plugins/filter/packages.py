# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter wrappers for release_packages and newest_release."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgops.replication.plugins.plugin_utils.cluster import PlanError
from ansible_collections.pgops.replication.plugins.plugin_utils.packages import newest_release as _newest_release
from ansible_collections.pgops.replication.plugins.plugin_utils.packages import release_packages as _release_packages


def release_packages(madison_output, release, packages) -> list:
    try:
        return _release_packages(madison_output, release, packages)
    except PlanError as error:
        raise AnsibleFilterError(str(error)) from error


def newest_release(madison_output, package) -> str:
    try:
        return _newest_release(madison_output, package)
    except PlanError as error:
        raise AnsibleFilterError(str(error)) from error


class FilterModule:
    def filters(self) -> dict:
        return {"release_packages": release_packages, "newest_release": newest_release}

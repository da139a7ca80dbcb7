# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Descriptions of the module attributes; each module states its own C(support) and C(details)."""

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and report whether it would change something, without changing it.
  diff_mode:
    description: Reports what has changed (or, in check mode, what would change) when run in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode with the same arguments, the second run reports no change.
      - This assumes the servers and files the module acts on did not change in between in a relevant way.
"""

    FACTS = r"""
attributes:
  facts:
    description: Returns an C(ansible_facts) dictionary that updates the host's facts.
"""

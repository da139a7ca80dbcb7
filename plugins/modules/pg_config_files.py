#!/usr/bin/python
# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_config_files
short_description: Write PostgreSQL's configuration files and keep them only if PostgreSQL accepts them
version_added: 0.3.0
description:
  - Writes each file of O(files) whose content or mode differs, each one atomically (a new file renamed over the
    old), then asks PostgreSQL whether it accepts them, as M(pgops.replication.pg_config_check) does. The server
    program reads every configuration file as a start would; the running server, when it answers, reports the lines
    of C(pg_hba.conf) it rejects.
  - When PostgreSQL rejects them, puts back what each changed file held before (or removes a file that did not exist)
    and fails with the server's own messages. Files nothing changed in are neither written nor checked.
  - One module run for every file, where writing each file with M(ansible.builtin.template) and checking them
    after costs several, and in a run that changes nothing that cost is paid once per member.
  - Run it as the PostgreSQL OS user (C(become_user)), who owns the configuration directory and its files; the server
    program refuses root.
author: pgops.replication contributors (@pgops)
extends_documentation_fragment:
  - pgops.replication.connection
  - pgops.replication.config_check
  - pgops.replication.attributes
attributes:
  check_mode:
    support: full
    details: Reports which files would change (and how, in diff mode); writes and checks nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  files:
    description: The files to write. Their directories must exist.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Where the file goes, an absolute path.
        type: path
        required: true
      content:
        description: What the file holds, for example the result of the M(ansible.builtin.template) lookup.
        type: str
        required: true
      mode:
        description: Its permissions, as an octal string.
        type: str
        default: "0640"
"""

EXAMPLES = r"""
- name: Settings and client authentication, kept only if PostgreSQL accepts them
  pgops.replication.pg_config_files:
    config_dir: /etc/postgresql/15/main
    login_port: 5432
    files:
      - path: /etc/postgresql/15/main/conf.d/pgops.conf
        content: "{{ lookup('ansible.builtin.template', 'pgops.conf.j2') }}"
      - path: /etc/postgresql/15/main/pg_hba.conf
        content: "{{ lookup('ansible.builtin.template', 'pg_hba.conf.j2') }}"
  become: true
  become_user: postgres
  notify: Reload PostgreSQL
"""

RETURN = r"""
changed_files:
  description: The files written (on success), or that would be written (in check mode).
  returned: always
  type: list
  elements: str
  sample: [/etc/postgresql/15/main/pg_hba.conf]
errors:
  description: What PostgreSQL rejected, in its own words; empty when it accepts every file.
  returned: always
  type: list
  elements: str
  sample: ['pg_hba.conf line 99: invalid authentication method "10.0.0.0/8"']
hba_checked:
  description: Whether the running server read C(pg_hba.conf) (false when nothing changed, when it does not answer, or
    with O(hba=false)).
  returned: always
  type: bool
restored:
  description: The files put back to their previous content (or removed, when new), after PostgreSQL rejected them.
  returned: always
  type: list
  elements: str
restart_changes:
  description:
    - The settings these files change that only a restart applies, whose value in the files (as the run leaves them)
      differs from what the running server runs, with C(running) (as C(SHOW) gives it) and C(wanted). In check mode,
      read by the server program from a copy of the configuration directory that holds the new files, so that a
      check-mode run can say which restarts the real run leaves waiting.
    - Empty when no file changes, when the server does not answer, or with O(hba=false).
  returned: always
  type: dict
  version_added: 0.3.0
  sample: {"max_connections": {"running": "100", "wanted": "130"}}
"""

import os
import re
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pgops.replication.plugins.module_utils.config_check import (
    config_check_argument_spec,
    config_errors,
    prepare_check,
    rejection_message,
    restart_changes,
    setting_names,
)

MODE_PATTERN = re.compile(r"^0?[0-7]{3}$")


class Planned:
    """One file of `files`: what it holds now (None when it does not exist) and what it is to hold."""

    def __init__(self, path: str, content: str, mode: int) -> None:
        self.path = path
        self.content = content.encode("utf-8")
        self.mode = mode
        self.before: bytes | None = None
        self.before_mode: int | None = None
        if os.path.exists(path):
            with open(path, "rb") as handle:
                self.before = handle.read()
            self.before_mode = stat.S_IMODE(os.stat(path).st_mode)

    @property
    def changes(self) -> bool:
        return self.before != self.content or self.before_mode != self.mode

    @property
    def before_text(self) -> str:
        return (self.before or b"").decode("utf-8", "replace")

    @property
    def content_text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def diff(self) -> dict:
        return dict(
            before_header=self.path,
            after_header=self.path,
            before=(self.before or b"").decode("utf-8", "replace"),
            after=self.content.decode("utf-8", "replace"),
        )


def write_atomically(path: str, content: bytes, mode: int) -> None:
    """A reader (the server, at a reload) sees the old file or the new one, never half of it."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".%s." % os.path.basename(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def put_back(planned: Planned) -> None:
    if planned.before is None:
        os.remove(planned.path)
    else:
        write_atomically(planned.path, planned.before, planned.before_mode)


def plan_files(module) -> list:
    planned, seen = [], set()
    for entry in module.params["files"]:
        path, mode = entry["path"], entry["mode"]
        if not os.path.isabs(path):
            module.fail_json(msg="files: %s is not an absolute path" % path)
        if path in seen:
            module.fail_json(msg="files: %s is given twice" % path)
        seen.add(path)
        if not os.path.isdir(os.path.dirname(path)):
            module.fail_json(msg="files: the directory of %s does not exist" % path)
        if os.path.isdir(path):
            module.fail_json(msg="files: %s is a directory" % path)
        if not MODE_PATTERN.match(mode):
            module.fail_json(msg="files: the mode of %s must be an octal string such as 0640, got %s" % (path, mode))
        planned.append(Planned(path, entry["content"], int(mode, 8)))
    return planned


def not_configuration(directory: str, names: list) -> list:
    return [name for name in names if not name.endswith(".conf") and not os.path.isdir(os.path.join(directory, name))]


def restart_changes_planned(module, postgres: str, changing: list) -> dict:
    """What restart_changes would be once these files are written, read by the server program from a copy of the
    configuration directory that holds them (check mode writes nothing in the real one)."""
    if not module.params["hba"]:
        return {}
    config_dir = module.params["config_dir"]
    names = setting_names(*[text for planned in changing for text in (planned.before_text, planned.content_text)])
    with tempfile.TemporaryDirectory(prefix="pgops-config-") as scratch:
        copy = os.path.join(scratch, "config")
        # Only what the server program reads: PostgreSQL's include_dir reads files ending in .conf alone, and a
        # configuration directory that is also the data directory is not copied whole.
        shutil.copytree(config_dir, copy, symlinks=True, ignore=not_configuration)
        for planned in changing:
            relative = os.path.relpath(planned.path, config_dir)
            if relative.startswith(os.pardir):
                continue
            with open(os.path.join(copy, relative), "wb") as candidate:
                candidate.write(planned.content)
        return restart_changes(module, postgres, copy, names)


def main() -> None:
    argument_spec = config_check_argument_spec(
        files=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                path=dict(type="path", required=True),
                content=dict(type="str", required=True),
                mode=dict(type="str", default="0640"),
            ),
        ),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    postgres = prepare_check(module, "writing and checking the configuration (the server program)")

    changing = [planned for planned in plan_files(module) if planned.changes]
    result = dict(changed=bool(changing), changed_files=[planned.path for planned in changing], errors=[], hba_checked=False, restored=[])
    if module._diff:
        result["diff"] = [planned.diff() for planned in changing]
    result["restart_changes"] = {}
    if not changing:
        module.exit_json(**result)
    if module.check_mode:
        result["restart_changes"] = restart_changes_planned(module, postgres, changing)
        module.exit_json(**result)

    written = []
    try:
        for planned in changing:
            write_atomically(planned.path, planned.content, planned.mode)
            written.append(planned)
    except OSError as error:
        for planned in written:
            put_back(planned)
        module.fail_json(msg="could not write %s: %s; the files written before it are back as they were" % (error.filename, error.strerror))

    errors, result["hba_checked"] = config_errors(module, postgres)
    if not errors:
        if module.params["hba"]:
            names = setting_names(*[text for planned in changing for text in (planned.before_text, planned.content_text)])
            result["restart_changes"] = restart_changes(module, postgres, module.params["config_dir"], names)
        module.exit_json(**result)
    for planned in changing:
        put_back(planned)
    # Every file is as it was before the run: nothing changed.
    result.update(changed=False, errors=errors, restored=result["changed_files"], changed_files=[])
    module.fail_json(msg=rejection_message(errors, result["restored"], False), **result)


if __name__ == "__main__":
    main()

# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""libpq connection strings, postgresql.conf values and password files: quoting and rewriting."""

from __future__ import annotations

import os
import re
import tempfile

MASK = "********"
_PLAIN_CONNINFO_VALUE = re.compile(r"^[A-Za-z0-9_.,/@+-]+$")
_CONF_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=\s*|\s+)(.*)$")


def quote_conninfo_value(value) -> str:
    """Quote one libpq keyword value: single quotes, with backslash and quote escaped by a backslash."""
    text = str(value)
    if _PLAIN_CONNINFO_VALUE.match(text):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def build_conninfo(params: dict) -> str:
    """A keyword/value connection string from `params`, skipping None values, in the given order."""
    return " ".join("%s=%s" % (key, quote_conninfo_value(value)) for key, value in params.items() if value is not None)


class ConninfoSyntaxError(ValueError):
    pass


def parse_conninfo(conninfo: str) -> dict:
    """Parse a keyword/value connection string the way libpq does (quotes and backslash escapes)."""
    params: dict = {}
    position, length = 0, len(conninfo)
    while True:
        while position < length and conninfo[position].isspace():
            position += 1
        if position >= length:
            return params
        equals = conninfo.find("=", position)
        if equals < 0:
            raise ConninfoSyntaxError("missing '=' after %r" % conninfo[position:])
        keyword = conninfo[position:equals].strip()
        if not keyword or any(character.isspace() for character in keyword):
            raise ConninfoSyntaxError("bad keyword %r" % keyword)
        position = equals + 1
        while position < length and conninfo[position].isspace():
            position += 1
        value = []
        if position < length and conninfo[position] == "'":
            position += 1
            while True:
                if position >= length:
                    raise ConninfoSyntaxError("unterminated quoted value for %r" % keyword)
                character = conninfo[position]
                if character == "\\" and position + 1 < length:
                    value.append(conninfo[position + 1])
                    position += 2
                elif character == "'":
                    position += 1
                    break
                else:
                    value.append(character)
                    position += 1
        else:
            while position < length and not conninfo[position].isspace():
                if conninfo[position] == "\\" and position + 1 < length:
                    position += 1
                value.append(conninfo[position])
                position += 1
        params[keyword] = "".join(value)


_URI_PASSWORD = re.compile(r"^(postgres(?:ql)?://[^:/@?]*:)([^@/?]*)(@)")
_URI_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)")


def mask_conninfo_password(conninfo: str | None) -> str | None:
    """The same connection string with any password replaced by a mask."""
    if not conninfo:
        return conninfo
    if re.match(r"^postgres(?:ql)?://", conninfo):
        masked = _URI_PASSWORD.sub(lambda match: match.group(1) + MASK + match.group(3), conninfo)
        return _URI_QUERY_PASSWORD.sub(lambda match: match.group(1) + MASK, masked)
    try:
        params = parse_conninfo(conninfo)
    except ConninfoSyntaxError:
        return MASK if "password" in conninfo else conninfo
    if "password" in params:
        params["password"] = MASK
    return build_conninfo(params)


def quote_config_value(value) -> str:
    """A postgresql.conf string literal: backslash and single quote escaped."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _unquote_config_value(raw: str) -> str:
    raw = raw.strip()
    if raw.startswith("'"):
        out, index = [], 1
        while index < len(raw):
            character = raw[index]
            if character == "\\" and index + 1 < len(raw):
                out.append(raw[index + 1])
                index += 2
                continue
            if character == "'":
                if raw[index + 1 : index + 2] == "'":
                    out.append("'")
                    index += 2
                    continue
                break
            out.append(character)
            index += 1
        return "".join(out)
    return raw.split("#", 1)[0].strip()


def read_config_values(text: str) -> dict:
    """Settings as written in a postgresql.conf-style file (the last occurrence wins, as in PostgreSQL)."""
    values = {}
    for line in text.splitlines():
        match = _CONF_LINE.match(line)
        if match and not line.lstrip().startswith("#"):
            values[match.group(1).lower()] = _unquote_config_value(match.group(3))
    return values


def rewrite_config_text(text: str, settings: dict) -> str:
    """Set each of `settings` once in postgresql.conf-style `text` (None removes it); other lines stay as they are."""
    wanted = {name.lower(): value for name, value in settings.items()}
    written = set()
    lines = []
    for line in text.splitlines():
        match = _CONF_LINE.match(line)
        name = match.group(1).lower() if match and not line.lstrip().startswith("#") else None
        if name in wanted:
            if name not in written and wanted[name] is not None:
                lines.append("%s = %s" % (name, quote_config_value(wanted[name])))
            written.add(name)
            continue
        lines.append(line)
    for name, value in wanted.items():
        if name not in written and value is not None:
            lines.append("%s = %s" % (name, quote_config_value(value)))
    return "\n".join(lines) + "\n" if lines else ""


def mask_config_passwords(text: str) -> str:
    """postgresql.conf-style text with the password of every primary_conninfo masked, for a diff shown to people."""
    lines = []
    for line in text.splitlines():
        match = _CONF_LINE.match(line)
        if match and not line.lstrip().startswith("#") and match.group(1).lower() == "primary_conninfo":
            conninfo = _unquote_config_value(match.group(3))
            masked = mask_conninfo_password(conninfo)
            if masked != conninfo:
                line = "%s = %s" % (match.group(1), quote_config_value(masked))
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def escape_passfile_field(value) -> str:
    return str(value).replace("\\", "\\\\").replace(":", "\\:")


def _split_passfile_line(line: str) -> list:
    fields, current, index = [], [], 0
    while index < len(line):
        character = line[index]
        if character == "\\" and index + 1 < len(line):
            current.append(line[index + 1])
            index += 2
            continue
        if character == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(character)
        index += 1
    fields.append("".join(current))
    return fields


def rewrite_passfile_text(text: str, host: str, port: int, database: str, user: str, password: str) -> str:
    """Password file text with exactly one entry for host:port:database:user carrying `password`."""
    key = [str(host), str(port), str(database), str(user)]
    entry = ":".join(escape_passfile_field(field) for field in key + [password])
    lines, placed = [], False
    for line in text.splitlines():
        if not line.startswith("#") and _split_passfile_line(line)[:4] == key:
            if not placed:
                lines.append(entry)
                placed = True
            continue
        lines.append(line)
    if not placed:
        lines.append(entry)
    return "\n".join(lines) + "\n"


def replace_file(path: str, content: str, mode: int = 0o600) -> None:
    """Make `path` hold `content` with `mode`, atomically: a temporary file beside it, renamed over it."""
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=".pgops-")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_private_file(path: str, content: str, check_mode: bool) -> bool:
    """Make `path` hold `content` with mode 0600, replacing it atomically; True when anything changed."""
    try:
        with open(path) as existing:
            current = existing.read()
        mode_ok = (os.stat(path).st_mode & 0o777) == 0o600
    except FileNotFoundError:
        current, mode_ok = None, False
    if current == content and mode_ok:
        return False
    if not check_mode:
        replace_file(path, content)
    return True


def read_text(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""

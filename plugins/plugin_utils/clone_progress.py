# Copyright: (c) 2026, pgops.replication contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the pg_clone action plugin decides and prints while it waits for a clone running in the background: when to
look again, the progress lines, the result it hands back and the message of a failed clone. No Ansible in here."""

from __future__ import annotations

import re

MIB = 1024 * 1024
# Besides the databases, a clone holds the WAL written while it ran: one segment at least, 16 MiB unless initdb chose
# another size.
WAL_SEGMENT_BYTES = 16 * MIB
# The options pg_clone keeps for itself; every other one goes to pg_basebackup.
OWN_ARGUMENT_SPEC = dict(
    background=dict(type="bool", default=True),
    timeout=dict(type="int", default=86400),
    progress_interval=dict(type="int", default=10),
    source_name=dict(type="str"),
    source_size_bytes=dict(type="int"),
)
# What async_status adds to the result of the module it watched.
ASYNC_KEYS = frozenset(
    ("ansible_job_id", "results_file", "started", "finished", "stdout", "stderr", "stdout_lines", "stderr_lines", "child_pid", "erased")
)
# async_wrapper's own message when it stops a job that ran past its time limit.
TIMEOUT_MESSAGE = "Timeout exceeded"
# After the job's time limit, how long to keep waiting for async_wrapper to stop the job and say so.
GRACE_SECONDS = 30


class BadArguments(ValueError):
    pass


def split_arguments(args: dict) -> tuple[dict, dict]:
    """(pg_clone's own options, pg_basebackup's options)."""
    if "report_progress" in args:
        raise BadArguments("report_progress is for pg_clone's own use: leave it out")
    own = {key: value for key, value in args.items() if key in OWN_ARGUMENT_SPEC}
    return own, {key: value for key, value in args.items() if key not in OWN_ARGUMENT_SPEC}


def check_own_options(options: dict) -> None:
    for name in ("timeout", "progress_interval"):
        if options[name] < 1:
            raise BadArguments("%s must be a positive number of seconds, got %d" % (name, options[name]))
    if options["source_size_bytes"] is not None and options["source_size_bytes"] < 0:
        raise BadArguments("source_size_bytes must be zero or more, got %d" % options["source_size_bytes"])


def expected_total(source_size_bytes: int | None) -> int | None:
    """About how many bytes the clone will write, or None when the source's size is unknown."""
    if source_size_bytes is None:
        return None
    return source_size_bytes + WAL_SEGMENT_BYTES


def mib(size: float) -> int:
    return int(round(size / MIB))


def progress_line(source: str, written: int, total: int | None, rate: float | None) -> str:
    """For example "clone from node1: 43% (136 MiB of about 314 MiB) at 30.2 MiB/s"."""
    if total:
        # The total is an estimate: never claim 100% before the clone has ended, nor a total below what is written.
        share = "%d%% (%d MiB of about %d MiB)" % (min(99, 100 * written // total), mib(written), mib(max(total, written)))
    else:
        share = "%d MiB so far (the primary's size is unknown)" % mib(written)
    speed = " at %.1f MiB/s" % (rate / MIB) if rate is not None else ""
    return "clone from %s: %s%s" % (source, share, speed)


def finished_line(source: str, result: dict) -> str:
    if "size_bytes" in result:
        return "clone from %s: done, %d MiB in %.1f s" % (source, mib(result["size_bytes"]), result.get("duration_seconds", 0.0))
    return "clone from %s: nothing to copy, this host holds a copy of the primary's cluster" % source


def module_result(status: dict) -> dict:
    """The clone module's own result out of what async_status reported once the job ended."""
    return {key: value for key, value in status.items() if key not in ASYNC_KEYS}


def failure_message(host: str, source: str, result: dict, timeout: int, data_dir: str) -> str:
    reason = re.sub(r"[.\s]+$", "", str(result.get("msg") or "no message"))
    stopped = reason == TIMEOUT_MESSAGE
    limit_note = " (it ran longer than its timeout, %d s, and was stopped)" % timeout if stopped else ""
    # A refusal (a data directory of another cluster, say) explains itself; an interrupted copy needs these words.
    copy_note = ""
    if stopped or reason.startswith("pg_basebackup failed"):
        copy_note = (
            " pg_basebackup copies into a directory of its own and moves the copy into place only once it is complete, so %s holds"
            " what it held before; the next run clones again." % data_dir
        )
    return "The clone of %s from %s failed: %s%s.%s" % (host, source, reason, limit_note, copy_note)


class CloneProgress:
    """The schedule of looks at a job started at `started` (seconds on the controller's monotonic clock), and the
    rate between two counts of the bytes written (seconds on the host's clock)."""

    def __init__(self, source: str, total: int | None, interval: int, timeout: int, started: float):
        self.source = source
        self.total = total
        self.interval = interval
        self.started = started
        self.next_line_at = started + interval
        self.give_up_at = started + timeout + max(GRACE_SECONDS, 2 * interval)
        self.written = 0
        self.counted_at: float | None = None

    def next_look(self, now: float) -> float:
        """Seconds to sleep before asking whether the job has ended: soon at first, so that a short clone ends the
        wait early, then twice as long each time, and never past the next progress line."""
        age = now - self.started
        return max(0.0, min(max(1.0, age), self.next_line_at - now))

    def line_due(self, now: float) -> bool:
        # A look scheduled for the line can wake a little early.
        return now >= self.next_line_at - 0.05

    def gave_up(self, now: float) -> bool:
        return now >= self.give_up_at

    def line(self, written: int, counted_at: float, now: float) -> str:
        """The progress line for a count of `written` bytes made at `counted_at`; schedules the next line."""
        # The count falls back to 0 once the copy is moved into place, before the job reports its end: keep the last.
        written = max(written, self.written)
        rate = None
        if self.counted_at is not None and counted_at > self.counted_at:
            rate = (written - self.written) / (counted_at - self.counted_at)
        self.written, self.counted_at = written, counted_at
        self.skip_line(now)
        return progress_line(self.source, written, self.total, rate)

    def skip_line(self, now: float) -> None:
        """Schedule the next line without printing this one (the count failed)."""
        self.next_line_at += self.interval
        if self.next_line_at <= now:
            self.next_line_at = now + self.interval

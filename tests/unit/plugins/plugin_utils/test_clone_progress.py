import pytest

from ansible_collections.pgops.replication.plugins.plugin_utils.clone_progress import (
    MIB,
    BadArguments,
    CloneProgress,
    check_own_options,
    expected_total,
    failure_message,
    finished_line,
    module_result,
    progress_line,
    split_arguments,
)

DATA_DIR = "/var/lib/postgresql/15/main"


def options(**changes) -> dict:
    return dict(dict(background=True, timeout=86400, progress_interval=10, source_name=None, source_size_bytes=None), **changes)


def test_own_options_are_kept_and_the_rest_goes_to_pg_basebackup():
    own, clone = split_arguments(dict(data_dir=DATA_DIR, primary_host="db1", timeout=60, progress_interval=2, force=True))
    assert own == dict(timeout=60, progress_interval=2)
    assert clone == dict(data_dir=DATA_DIR, primary_host="db1", force=True)


def test_report_progress_is_refused():
    with pytest.raises(BadArguments, match="report_progress is for pg_clone's own use"):
        split_arguments(dict(data_dir=DATA_DIR, report_progress=True))


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(timeout=0), "timeout must be a positive number of seconds, got 0"),
        (dict(progress_interval=-5), "progress_interval must be a positive number of seconds, got -5"),
        (dict(source_size_bytes=-1), "source_size_bytes must be zero or more, got -1"),
    ],
)
def test_bad_own_options(changes, message):
    with pytest.raises(BadArguments, match=message):
        check_own_options(options(**changes))


def test_good_own_options():
    check_own_options(options(timeout=1, progress_interval=1, source_size_bytes=0))


def test_the_total_adds_one_wal_segment_to_the_databases():
    assert expected_total(300 * MIB) == 316 * MIB
    assert expected_total(0) == 16 * MIB
    assert expected_total(None) is None


def test_line_with_a_total_and_a_rate():
    line = progress_line("node1", 136 * MIB, 314 * MIB, 30.2 * MIB)
    assert line == "clone from node1: 43% (136 MiB of about 314 MiB) at 30.2 MiB/s"


def test_line_without_a_rate():
    assert progress_line("node1", 0, 314 * MIB, None) == "clone from node1: 0% (0 MiB of about 314 MiB)"


def test_line_never_claims_the_end_nor_a_total_below_what_is_written():
    assert progress_line("node1", 314 * MIB, 314 * MIB, None) == "clone from node1: 99% (314 MiB of about 314 MiB)"
    assert progress_line("node1", 400 * MIB, 314 * MIB, 1.0 * MIB) == "clone from node1: 99% (400 MiB of about 400 MiB) at 1.0 MiB/s"


def test_line_with_the_size_unknown():
    assert progress_line("node1", 12 * MIB, None, None) == "clone from node1: 12 MiB so far (the primary's size is unknown)"
    assert progress_line("node1", 12 * MIB, 0, 2 * MIB) == "clone from node1: 12 MiB so far (the primary's size is unknown) at 2.0 MiB/s"


def test_finished_lines():
    done = dict(action="cloned", size_bytes=int(56.4 * MIB), duration_seconds=9.26)
    assert finished_line("node1", done) == "clone from node1: done, 56 MiB in 9.3 s"
    same = dict(action="unchanged", changed=False)
    assert finished_line("node1", same) == "clone from node1: nothing to copy, this host holds a copy of the primary's cluster"


def test_the_module_result_loses_what_async_status_added():
    status = dict(
        ansible_job_id="j1",
        results_file="/x/j1",
        started=1,
        finished=1,
        stdout="",
        stderr="",
        stdout_lines=[],
        stderr_lines=[],
        changed=True,
        action="cloned",
        kept_aside="/data.pgops-old-1",
        invocation=dict(module_args=dict(data_dir="/data")),
    )
    assert module_result(status) == dict(
        changed=True, action="cloned", kept_aside="/data.pgops-old-1", invocation=dict(module_args=dict(data_dir="/data"))
    )


def test_a_failed_copy_says_the_data_directory_is_as_it_was():
    result = dict(failed=True, msg="pg_basebackup failed: killed by signal 9. ")
    assert failure_message("node2", "node1", result, 86400, DATA_DIR) == (
        "The clone of node2 from node1 failed: pg_basebackup failed: killed by signal 9. pg_basebackup copies into a"
        " directory of its own and moves the copy into place only once it is complete, so /var/lib/postgresql/15/main"
        " holds what it held before; the next run clones again."
    )


def test_a_stopped_clone_names_its_timeout():
    message = failure_message("node2", "node1", dict(failed=True, msg="Timeout exceeded", child_pid=42), 600, DATA_DIR)
    assert message.startswith(
        "The clone of node2 from node1 failed: Timeout exceeded (it ran longer than its timeout, 600 s, and was stopped). "
        "pg_basebackup copies into a directory of its own"
    )
    assert message.endswith("so /var/lib/postgresql/15/main holds what it held before; the next run clones again.")


def test_a_refusal_explains_itself():
    refusal = "data_dir /data already holds files that are not a PostgreSQL data directory; nothing was changed."
    message = failure_message("node2", "node1", dict(failed=True, msg=refusal), 600, "/data")
    assert message == "The clone of node2 from node1 failed: %s." % refusal[:-1]
    assert failure_message("node2", "node1", dict(failed=True), 600, "/data") == "The clone of node2 from node1 failed: no message."


def test_looks_come_soon_at_first_then_slower_and_never_past_the_next_line():
    progress = CloneProgress("node1", None, interval=10, timeout=600, started=100.0)
    looks, now = [], 100.0
    while now < 140:
        now += progress.next_look(now)
        looks.append(now)
        if progress.line_due(now):
            progress.line(0, now, now)
    assert looks == [101.0, 102.0, 104.0, 108.0, 110.0, 120.0, 130.0, 140.0]


def test_a_late_look_starts_the_line_schedule_again():
    progress = CloneProgress("node1", None, interval=10, timeout=600, started=0.0)
    progress.line(0, 0.0, 35.0)
    assert progress.next_line_at == 45.0
    progress.line(0, 0.0, 45.2)
    assert progress.next_line_at == 55.0


def test_rate_between_two_counts_on_the_hosts_clock():
    progress = CloneProgress("node1", 316 * MIB, interval=10, timeout=600, started=0.0)
    assert progress.line(20 * MIB, 1000.0, 10.0) == "clone from node1: 6% (20 MiB of about 316 MiB)"
    assert progress.line(120 * MIB, 1010.0, 20.0) == "clone from node1: 37% (120 MiB of about 316 MiB) at 10.0 MiB/s"
    # Moved into place before the job reported its end: the count falls to 0, the line keeps the last figure.
    assert progress.line(0, 1020.0, 30.0) == "clone from node1: 37% (120 MiB of about 316 MiB) at 0.0 MiB/s"


def test_no_rate_when_the_hosts_clock_did_not_move_on():
    progress = CloneProgress("node1", None, interval=10, timeout=600, started=0.0)
    progress.line(20 * MIB, 1000.0, 10.0)
    assert progress.line(30 * MIB, 1000.0, 20.0) == "clone from node1: 30 MiB so far (the primary's size is unknown)"


def test_the_wait_ends_a_while_after_the_timeout():
    progress = CloneProgress("node1", None, interval=10, timeout=600, started=0.0)
    assert not progress.gave_up(629.9) and progress.gave_up(630.0)
    slow = CloneProgress("node1", None, interval=60, timeout=600, started=0.0)
    assert not slow.gave_up(719.9) and slow.gave_up(720.0)


def test_a_failed_count_still_moves_the_schedule_on():
    progress = CloneProgress("node1", None, interval=10, timeout=600, started=0.0)
    assert progress.line_due(10.0)
    progress.skip_line(10.0)
    assert not progress.line_due(10.5) and progress.next_look(10.5) == 9.5

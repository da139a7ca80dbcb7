"""The quorum scenario's split-brain checker (molecule/shared/watch.py) against a fake `docker` on PATH: it must see two
members writable at once when they are, and count a member whose container stops as not writable from then on."""

import os
import stat
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "molecule", "shared"))
import watch  # noqa: E402

# `docker exec -u postgres NAME sh -c LOOP pgops-watch STOP_FILE` answers for NAME from $FAKE_ANSWERS/NAME: each line
# is one answer, "stop" ends the exec and every later one (the container stopped, and docker exec fails on it);
# `docker exec NAME touch FILE` does nothing.
FAKE_DOCKER = """#!/bin/sh
[ "$1" = exec ] || exit 1
[ "$2" = -u ] && shift 2
name=$2
[ "$3" = touch ] && exit 0
[ -e "$FAKE_ANSWERS/$name.stopped" ] && exit 1
while read -r answer; do
  if [ "$answer" = stop ]; then touch "$FAKE_ANSWERS/$name.stopped"; exit 0; fi
  echo "$answer"
  sleep 0.02
done < "$FAKE_ANSWERS/$name"
exec sleep 30
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    executable = tmp_path / "docker"
    executable.write_text(FAKE_DOCKER)
    executable.chmod(executable.stat().st_mode | stat.S_IEXEC)
    answers = tmp_path / "answers"
    answers.mkdir()
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_ANSWERS", str(answers))
    monkeypatch.setattr(watch, "PERIOD", 0.05)
    return answers


def run_watch(answers_dir, answers: dict, seconds: float = 1.0) -> watch.WritableWatch:
    for name, lines in answers.items():
        (answers_dir / name).write_text("".join(line + "\n" for line in lines))
    checker = watch.WritableWatch(sorted(answers)).start(timeout=5)
    time.sleep(seconds)
    return checker.stop()


def test_two_writable_members_are_seen_at_once(fake_docker):
    checker = run_watch(fake_docker, {"node1": ["t"] * 10, "node2": ["f"] * 3 + ["t"] * 7, "node3": ["f"] * 10})
    assert checker.most_writable_at_once() == 2
    assert any(names == ["node1", "node2"] for _at, names in checker.samples)
    assert checker.polls() >= 3


def test_one_writable_member_throughout_is_one(fake_docker):
    checker = run_watch(fake_docker, {"node1": ["t"] * 10, "node2": ["f"] * 10, "node3": [""] * 10})
    assert checker.most_writable_at_once() == 1
    assert all(names == ["node1"] for _at, names in checker.samples)


def test_a_member_whose_container_stops_is_not_writable_from_then_on(fake_docker):
    checker = run_watch(fake_docker, {"node1": ["t", "t", "stop"], "node2": ["f"] * 5 + ["t"] * 5})
    stopped_at = checker.last_writable("node1")
    promoted_at = checker.first_writable_after("node2", 0)
    assert stopped_at is not None and promoted_at is not None and stopped_at < promoted_at
    assert checker.most_writable_at_once() == 1


def test_no_sample_before_every_member_answered(fake_docker):
    checker = run_watch(fake_docker, {"node1": ["t"] * 5, "node2": []}, seconds=0.5)
    assert checker.samples == []

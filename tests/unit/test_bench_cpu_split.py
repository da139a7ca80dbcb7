"""bench/cpu_split.py's readings of the kernel's CPU accounting files."""

from __future__ import annotations

import importlib.util
import os

import pytest

CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("cpu_split", os.path.join(CHECKOUT, "bench", "cpu_split.py"))
cpu_split = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cpu_split)


def test_cpuacct_usage_is_nanoseconds():
    assert cpu_split.parse_cpu_seconds("63789453501\n", "ns") == pytest.approx(63.789453501)


def test_cpu_stat_usage_usec():
    text = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n"
    assert cpu_split.parse_cpu_seconds(text, "stat") == pytest.approx(2.5)


def test_cpu_stat_without_usage_is_refused():
    with pytest.raises(ValueError, match="no usage_usec"):
        cpu_split.parse_cpu_seconds("user_usec 1\n", "stat")


def test_process_cpu_counts_its_own_and_its_waited_children():
    # A command name with a space and a parenthesis; utime 100, stime 50, cutime 30, cstime 20 ticks.
    line = "1494 (containerd (x)) S 1 1494 1494 0 -1 4194560 1 2 3 4 100 50 30 20 20 0 12 0 500 1 2"
    assert cpu_split.process_cpu_seconds(line, 100) == pytest.approx(2.0)


def test_the_cgroup_v1_and_v2_files_are_found(tmp_path):
    v1 = tmp_path / "cpuacct" / "docker" / "abc"
    v1.mkdir(parents=True)
    (v1 / "cpuacct.usage").write_text("1\n")
    assert cpu_split.container_cpu_file("abc", str(tmp_path)) == (str(v1 / "cpuacct.usage"), "ns")
    v2 = tmp_path / "system.slice" / "docker-def.scope"
    v2.mkdir(parents=True)
    (v2 / "cpu.stat").write_text("usage_usec 1\n")
    assert cpu_split.container_cpu_file("def", str(tmp_path)) == (str(v2 / "cpu.stat"), "stat")
    with pytest.raises(LookupError, match="no CPU accounting file for container ghi"):
        cpu_split.container_cpu_file("ghi", str(tmp_path))


def test_cpu_used_since_adds_each_container_s_increase():
    assert cpu_split.cpu_used_since({"a": 10.0, "b": 5.0}, {"a": 12.5, "b": 6.0}) == 3.5


def test_a_container_started_again_counts_from_its_restart_never_negative():
    assert cpu_split.cpu_used_since({"a": 10.0, "b": 5.0}, {"a": 2.0, "b": 6.0}) == 3.0


def test_a_container_unread_before_counts_whole_and_one_unread_after_counts_nothing():
    assert cpu_split.cpu_used_since({"b": 5.0}, {"a": 4.0}) == 4.0

"""The live-cluster tests' wait (tests/progress_wait.py), on a fake clock: no cluster needed."""
import pytest

from progress_wait import Stalled, folder_state, wait_on_progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_a_slow_run_that_keeps_writing_is_waited_for_past_the_stall_limit():
    clock = Clock()
    done_at, written = 3000, lambda: int(clock.now // 100)  # a write every 100 s, done after 50 minutes
    found = wait_on_progress(lambda: clock.now >= done_at and "done", written, "run", stall_s=300, limit_s=7200,
                             clock=clock, sleep=clock.sleep, poll_s=10)
    assert found == "done" and clock.now >= done_at


def test_a_run_that_writes_nothing_fails_as_stalled():
    clock = Clock()
    with pytest.raises(Stalled, match=r"^run: stalled, nothing written for 300 s \(after 300 s in all\)$"):
        wait_on_progress(lambda: None, lambda: "same", "run", stall_s=300, limit_s=7200, clock=clock,
                         sleep=clock.sleep, poll_s=10)


def test_a_run_that_writes_forever_fails_at_the_overall_limit():
    clock = Clock()
    with pytest.raises(Stalled, match=r"^run: overall limit of 7200 s reached while the run was still writing"):
        wait_on_progress(lambda: None, lambda: clock.now, "run", stall_s=300, limit_s=7200, clock=clock,
                         sleep=clock.sleep, poll_s=10)
    assert clock.now == 7200


def test_folder_state_changes_when_a_file_is_written(tmp_path):
    before = folder_state(tmp_path, tmp_path / "missing.log")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("x")
    assert folder_state(tmp_path) != before

"""Faults of class 'concurrency': two Snakemake runs in one directory are refused with one line."""
import subprocess
import sys
import time

HOLD = "from infonas.files import hold_directory_lock; hold_directory_lock({path!r}); print('held', flush=True); {then}"


def test_second_run_in_the_same_directory_is_refused(tmp_path):
    lock = str(tmp_path / ".snakemake" / "infonas.lock")
    first = subprocess.Popen([sys.executable, "-c", HOLD.format(path=lock, then="import time; time.sleep(60)")],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == "held"
        second = subprocess.run([sys.executable, "-c", HOLD.format(path=lock, then="")],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"pid {first.pid}" in second.stderr and "another Snakemake run is active" in second.stderr
    finally:
        first.kill()
        first.wait()
    # once the first process is gone (even killed), the directory is free again
    deadline = time.time() + 10
    while True:
        third = subprocess.run([sys.executable, "-c", HOLD.format(path=lock, then="")], capture_output=True, text=True)
        if third.returncode == 0 or time.time() > deadline:
            break
    assert third.returncode == 0, third.stderr

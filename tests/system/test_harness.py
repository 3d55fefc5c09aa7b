"""The harness's own promises that the rest of the suite rests on."""

import shutil
import subprocess

import pytest

from harness.bazaar import Bazaar


def test_a_sanitizer_report_written_at_exit_fails_the_system(bazaar_bin):
    """LeakSanitizer reports only as a process exits, after the test's
    health check: closing a system must look at the logs once more."""
    with pytest.raises(AssertionError, match="at exit: broker log contains 'ERROR: LeakSanitizer'"):
        with Bazaar(start=False, bin_dir=bazaar_bin) as bz:
            bz.procs["broker"] = subprocess.Popen(["true"])
            bz.procs["broker"].wait()
            with open(bz.log_path("broker"), "w") as log:
                log.write("==1==ERROR: LeakSanitizer: detected memory leaks\n")
    assert bz.keep, "the logs of a failed exit must be kept for the reader"
    shutil.rmtree(bz.tmp)

"""Child processes a test reads from: Proc runs one with its stdout (and
stderr) read by threads into lines, so a test waits on output with a
deadline; pid_running and port_busy look at what is left running.
"""

import os
import signal
import socket
import subprocess
import threading

PROC_WAIT = 20.0    # bound for joining the readers and reaping (generous for ASan)


class Proc:
    """A child process whose stdout (and stderr, merged or not) is read by
    threads into lists of lines, so a test can wait on its output."""

    def __init__(self, argv, merge_stderr=False, **kwargs):
        self.argv = argv
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            start_new_session=True, **kwargs)
        self.pid = self.popen.pid
        self.out = []
        self.err = []
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read, args=(self.popen.stdout, self.out),
                                          daemon=True)]
        if not merge_stderr:
            self._readers.append(threading.Thread(
                target=self._read, args=(self.popen.stderr, self.err), daemon=True))
        for t in self._readers:
            t.start()

    def _read(self, stream, into):
        for raw in iter(stream.readline, b""):
            with self._lock:
                into.append(raw)
        stream.close()

    def raw_lines(self):
        """stdout lines as bytes, as printed."""
        with self._lock:
            return list(self.out)

    def lines(self):
        return [raw.decode("utf-8", "replace") for raw in self.raw_lines()]

    def stdout(self):
        return "".join(self.lines())

    def stderr(self):
        with self._lock:
            return b"".join(self.err).decode("utf-8", "replace")

    def wait(self, timeout):
        """Exit status, or AssertionError (with the output) after timeout."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.0fs\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(self.argv), timeout, self.stdout()[-3000:],
                self.stderr()[-3000:])) from None
        for t in self._readers:    # pipes close when every holder exits
            t.join(PROC_WAIT)
        return rc

    def kill(self):
        """SIGKILL the whole process group, then reap."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.popen.kill()
            except ProcessLookupError:
                pass
            self.popen.wait(PROC_WAIT)
        else:
            try:      # children left in the group (e.g. a launcher's)
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def describe(self):
        return "%s (rc %s)\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(self.argv), self.popen.returncode, self.stdout()[-3000:],
            self.stderr()[-3000:])


def pid_running(pid, binary=None):
    """True if pid is a live (non-zombie) process, running `binary` if given."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
        if binary:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return binary.encode() in f.read()
        return True
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def port_busy(port):
    """True if something listens on (or has bound) 127.0.0.1:port.  Like
    ZeroMQ's listeners, use SO_REUSEADDR: TIME_WAIT leftovers of an earlier
    run do not make a port busy."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)
        return False
    except OSError:
        return True
    finally:
        s.close()

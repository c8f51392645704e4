"""Processes the benchmark starts, bounded waits, and what /proc says about them.

Every wait has a deadline and every process started here is stopped by its
owner's `finally` (or `with`), so a failing or interrupted run leaves nothing
behind.
"""
import json
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")
# A daemon or server that does not answer within this long has failed.
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 60
# Default bound on one CLI command (a `wait` gets its own, longer bound).
CLI_TIMEOUT_S = 300


class BenchError(Exception):
    """The run cannot go on: a timeout, a crash, a command that failed."""


def wait_until(timeout_s, what, probe, interval_s=0.01):
    """Polls `probe` until it returns something truthy, and returns that.

    On timeout, raises naming what it waited for and the probe's last answer.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what} (last seen: {value!r})")
        time.sleep(interval_s)


def cpu_seconds(pid):
    """User + system CPU of a running process, all its threads, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; fields after it are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15
    return (utime + stime) / CLK_TCK


def peak_rss_mib(pid):
    """VmHWM: the highest resident set size since start or the last reset."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise BenchError(f"/proc/{pid}/status has no VmHWM line")


def reset_peak_rss(pid):
    """Sets VmHWM back to the current RSS (Linux >= 4.0), so the next reading
    is the peak of what follows, not of what came before (indexing)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


@dataclass
class Measured:
    """A finished child process: exit code, wall time, and its rusage."""
    returncode: int
    elapsed_s: float
    cpu_s: float
    peak_rss_mib: float
    lines: int  # stdout lines, when they were counted


def run_measured(argv, timeout_s, env=None, log=None, count_lines=False):
    """Runs argv to completion and returns its wall time, CPU and peak RSS
    (wait4's rusage, so child threads are included).

    stderr goes to `log`; stdout too, unless `count_lines`, in which case it
    is read as it comes and only its newlines are counted (a million-line
    listing is never held in memory).
    """
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=log,
                            stdout=subprocess.PIPE if count_lines else log)
    counter = _LineCounter(proc.stdout) if count_lines else None
    try:
        # A pidfd turns "wait for this child, at most timeout_s" into one
        # select(), without a polling loop that would blur the wall time.
        pidfd = os.pidfd_open(proc.pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], timeout_s)
        finally:
            os.close(pidfd)
        if not ready:
            raise BenchError(f"`{' '.join(argv)}` did not finish within {timeout_s:.0f} s")
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        # Tell Popen the child is reaped, so it never waits for it again.
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
    lines = counter.total() if counter else 0
    return Measured(proc.returncode, elapsed, usage.ru_utime + usage.ru_stime,
                    usage.ru_maxrss / 1024, lines)


class _LineCounter(threading.Thread):
    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = 0
        self.start()

    def run(self):
        with self.stream:
            while chunk := self.stream.read(1 << 16):
                self.lines += chunk.count(b"\n")

    def total(self):
        """The count once the stream is closed (the child has exited)."""
        self.join(STOP_TIMEOUT_S)
        return self.lines


def stop_process(proc, name):
    """SIGTERM, then SIGKILL if it is still there after STOP_TIMEOUT_S.
    Returns the exit code (negative: killed by that signal)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BenchError(f"{name} (pid {proc.pid}) ignored SIGTERM for {STOP_TIMEOUT_S} s; killed it")
    return proc.returncode


def tail(path, lines=30):
    """The end of a log file, for error messages."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


def percentile(values, p):
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def time_calls(run, count):
    """Wall time of `count` calls of run(), in ms: p50 and p99."""
    samples = []
    for _ in range(count):
        t0 = time.monotonic()
        run()
        samples.append((time.monotonic() - t0) * 1000)
    return {"calls": count, "p50_ms": round(percentile(samples, 50), 1),
            "p99_ms": round(percentile(samples, 99), 1), "max_ms": round(max(samples), 1)}


class Daemon:
    """syncrolld on its own data dir, socket and config file, stderr in
    RUN_DIR/syncrolld.log (appended across restarts).

    The config file is empty, so every setting is the built-in default and a
    user's ~/.config/syncroll/syncrolld.toml cannot sway the figures.
    """

    def __init__(self, bins, run_dir):
        self.bins = bins
        self.data = os.path.join(run_dir, "data")
        # syncrolld wants its socket in a folder only its user can open.
        socket_dir = os.path.join(run_dir, "socket")
        self.socket = os.path.join(socket_dir, "syncroll.sock")
        self.config = os.path.join(run_dir, "syncrolld.toml")
        self.log_path = os.path.join(run_dir, "syncrolld.log")
        os.makedirs(socket_dir, exist_ok=True)
        os.chmod(socket_dir, 0o700)
        with open(self.config, "w") as f:
            f.write("# empty: the built-in defaults\n")
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        """Starts the daemon; returns seconds until `syncroll status` answers."""
        # Flags name the data dir, socket and config; RUST_LOG would override
        # the config's log level, so the daemon logs as it does by default.
        env = {k: v for k, v in os.environ.items()
               if k != "RUST_LOG" and not k.startswith("SYNCROLL_")}
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.bins.syncrolld, "--data-dir", self.data, "--socket", self.socket,
                 "--config", self.config],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        wait_until(START_TIMEOUT_S, "syncrolld to answer `status`", self._answers)
        return time.monotonic() - started

    def _answers(self):
        self.check_alive()
        return self.cli("status", check=False).returncode == 0

    def check_alive(self):
        if self.proc.poll() is not None:
            raise BenchError(f"syncrolld exited with {self.proc.returncode}; "
                             f"end of {self.log_path}:\n{tail(self.log_path)}")

    def stop(self):
        """SIGTERM and wait; returns the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        return stop_process(proc, "syncrolld")

    def cli(self, *args, check=True, env=None, timeout_s=CLI_TIMEOUT_S):
        """Runs `syncroll --socket SOCKET ARGS`; with `check`, a non-zero exit raises."""
        argv = [self.bins.syncroll, "--socket", self.socket, *args]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                                 env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BenchError(f"`syncroll {' '.join(args)}` did not return within {timeout_s:.0f} s") from None
        if check and run.returncode != 0:
            raise BenchError(f"`syncroll {' '.join(args)}` exited with {run.returncode}: "
                             f"{run.stderr.strip() or run.stdout.strip()}\n"
                             f"end of {self.log_path}:\n{tail(self.log_path)}")
        return run

    def json(self, *args):
        return json.loads(self.cli("--json", *args).stdout)

    def status(self):
        return self.json("status")

    # /proc of a daemon that died holds no figures; say that it died.
    def cpu_seconds(self):
        self.check_alive()
        return cpu_seconds(self.pid)

    def peak_rss_mib(self):
        self.check_alive()
        return peak_rss_mib(self.pid)

    def reset_peak_rss(self):
        self.check_alive()
        reset_peak_rss(self.pid)

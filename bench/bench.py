#!/usr/bin/env python3
"""syncroll's benchmark: first syncs side by side with `rclone copy`, the
daemon's behaviour on a synced library, and the catalog of a large library.

Run it through bench/run, which installs rclone, builds the release binaries
and passes its arguments here:

  bench/run                                  every preset, 3 rounds each
  bench/run --quick                          tiny corpora, 1 round (about a minute; CI runs it)
  bench/run --presets library --rounds 3     one preset
  bench/run --library-size 1000000           catalog only: a million photos, no sync

What each figure means, how it is taken and the targets: docs/performance.md.
Progress goes to stderr; the Markdown report to stdout and --md-out, every
figure to --json-out. Exit status: 0 when every copy verified (missed targets
are reported, not failed), 1 when a copy failed verification or a step
failed or timed out, 130 when interrupted.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import corpus as corpora  # noqa: E402
from lib import rclone, report  # noqa: E402
from lib.proc import (BenchError, Daemon, run_measured, time_calls,  # noqa: E402
                      wait_until)
from lib.rclone import Server  # noqa: E402

# Names inside each syncroll daemon.
REMOTE = "bench"
COLLECTION = "Bench"
QUEUE_REMOTE = "bench-queue"
QUEUE_COLLECTION = "Queued"

# One change of a photo must reach the server within this long (the target
# is a second; this only bounds a failure).
CHANGE_TIMEOUT_S = 60
IDLE_TIMEOUT_S = 300
# When the planner stops short of queueing every photo (it may plan lazily),
# the queue counts as filled once its length has not moved for this long.
QUEUE_SETTLE_S = 10


@dataclass(frozen=True)
class Target:
    """A bound on a ratio (syncroll ÷ rclone copy) or a figure."""
    figure: str
    op: str  # ">=", "<=", "<" or "=="
    bound: float
    unit: str = ""
    applies_to: str = ""  # which of several values it bounds, such as "max"

    def met(self, value):
        return {">=": value >= self.bound, "<=": value <= self.bound,
                "<": value < self.bound, "==": value == self.bound}[self.op]

    def as_dict(self, value):
        target = f"{self.applies_to} {self.op} {self.bound:g} {self.unit}".strip()
        return {"figure": self.figure, "value": value, "target": target,
                "met": None if value is None else self.met(value)}


FILE_TARGETS = (Target("files_per_s", ">=", 1.5), Target("cpu_ms_per_file", "<=", 0.5))
DAEMON_RSS_TARGET = Target("daemon_peak_rss_mib", "<", 64, "MiB")
CHANGE_TARGET = Target("change_to_remote_ms", "<", 1000, "ms", "max")
IDLE_CPU_TARGET = Target("idle_cpu_percent", "<", 1, "%")
RESTART_TARGETS = (Target("rehashed", "==", 0), Target("jobs_queued", "==", 0))


@dataclass(frozen=True)
class Preset:
    """A corpus, the servers it syncs to, and each server's ratio targets."""
    name: str
    corpus: str
    gen_args: tuple
    targets: dict  # protocol -> (Target, ...)
    extras: bool = False  # the daemon figures are taken on this preset's synced library


PRESETS = {
    "small": Preset("small", "small", ("--preset", "small"), {"s3": FILE_TARGETS}),
    "library": Preset("library", "library", ("--preset", "library"), {"s3": FILE_TARGETS},
                      extras=True),
    "shoot": Preset("shoot", "shoot", ("--preset", "shoot"), {
        "s3": (Target("mb_per_s", ">=", 1.3), Target("cpu_s_per_gb", "<=", 0.6)),
        "webdav": (Target("mb_per_s", ">=", 1.0), Target("cpu_s_per_gb", "<=", 1.0)),
    }),
}
# --quick: the same runs on corpora small enough for a minute on two cores.
QUICK_CORPORA = {
    "small": ("quick-small", ("--files", "300", "--size", "4096", "--folders", "4")),
    "library": ("quick-library", ("--files", "1000", "--size", "1024", "--dated")),
    "shoot": ("tiny", ("--preset", "tiny")),
}


@dataclass
class Settings:
    work: str
    runs: str  # per-run daemon dirs and logs, emptied at each start
    bins: "Bins"
    rclone: str
    rounds: int
    changes: int  # photo changes timed on the synced library
    idle_s: float
    status_calls: int


@dataclass(frozen=True)
class Bins:
    syncroll: str
    syncrolld: str

    @staticmethod
    def find():
        folder = os.environ.get("SYNCROLL_BIN_DIR") or os.path.join(corpora.REPO, "target", "release")
        bins = Bins(os.path.join(folder, "syncroll"), os.path.join(folder, "syncrolld"))
        for path in (bins.syncroll, bins.syncrolld):
            if not os.access(path, os.X_OK):
                raise BenchError(f"{path} is missing: run bench/run, which builds the release binaries")
        return bins


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- sync runs

def sync_timeout_s(corpus):
    """Generous: it only bounds a sync that hangs."""
    return int(300 + corpus.files * 0.05 + corpus.bytes / 5e6)


def index_timeout_s(files):
    return int(120 + files * 0.02)


def rates(corpus, elapsed_s, cpu_s, peak_rss_mib):
    return {
        "elapsed_s": sig(elapsed_s),
        "files_per_s": sig(corpus.files / elapsed_s),
        "mb_per_s": sig(corpus.bytes / elapsed_s / 1e6),
        "cpu_s": sig(cpu_s),
        "cpu_ms_per_file": sig(cpu_s * 1000 / corpus.files),
        "cpu_s_per_gb": sig(cpu_s / (corpus.bytes / 1e9)),
        "peak_rss_mib": round(peak_rss_mib, 1),
    }


def sig(value):
    """Four significant digits: ratios of rates stay exact to 0.1 %, where
    rounding to decimals would shift the ratio of two small rates."""
    return float(f"{value:.4g}")


def compare(s, preset, protocol, corpus, results, failures):
    """`s.rounds` rounds of a first sync by syncroll and `rclone copy` of the
    corpus to one server, each to its own prefix; adds figures, medians,
    ratios and targets (and, for the library, the daemon figures) to
    `results` as they come, so a run that fails halfway reports what it got."""
    say(f"{preset.name} to {protocol}: {corpus.describe()}")
    result = {"preset": preset.name, "server": protocol, "corpus": corpus.name,
              "files": corpus.files, "bytes": corpus.bytes, "rounds": []}
    results.append(result)
    kept = None  # the last round's daemon, for the library figures
    with Server(s.rclone, protocol, os.path.join(s.runs, f"{preset.name}-{protocol}-server")) as server:
        try:
            for i in range(s.rounds):
                run = f"{preset.name}-{protocol}-r{i + 1}"
                # Alternate which tool goes first, so neither always meets the
                # server and page cache as the other left them. The last round
                # ends with syncroll, whose daemon stays up for the extras.
                syncroll_first = (s.rounds - 1 - i) % 2 == 1
                keep = preset.extras and i == s.rounds - 1
                figures = {}
                for tool in ("syncroll", "rclone") if syncroll_first else ("rclone", "syncroll"):
                    if tool == "syncroll":
                        figures[tool], kept = syncroll_round(s, server, corpus, run, keep, failures)
                    else:
                        figures[tool] = rclone_round(s, server, corpus, run, failures)
                result["rounds"].append({"round": i + 1, "first": "syncroll" if syncroll_first else "rclone",
                                         **figures})
            summarize(result, preset.targets[protocol])
            if kept:
                result["library"] = library_figures(s, kept, server, corpus, syncroll_prefix(run), failures)
        finally:
            if kept:
                kept.stop()


def syncroll_round(s, server, corpus, run, keep, failures):
    """A fresh daemon indexes the corpus, then syncs it (timed) to
    PREFIX=RUN-syncroll; returns the figures, and the daemon if `keep`."""
    daemon = Daemon(s.bins, os.path.join(s.runs, run))
    daemon.start()
    try:
        figures = first_sync(s, daemon, server, corpus, syncroll_prefix(run), failures)
        if keep:
            return figures, daemon
        stopped(daemon)
    except BaseException:
        daemon.stop()
        raise
    shutil.rmtree(daemon.data)  # the log stays in the run folder
    server.discard(syncroll_prefix(run))
    return figures, None


def syncroll_prefix(run):
    return f"{run}-syncroll"


def first_sync(s, daemon, server, corpus, prefix, failures):
    started = time.monotonic()
    daemon.cli("roots", "add", corpus.path)
    wait_indexed(daemon, corpus.files)
    index = {"index_s": round(time.monotonic() - started, 2),
             "index_peak_rss_mib": round(daemon.peak_rss_mib(), 1)}
    add, env = server.remote_add_args(REMOTE, prefix)
    daemon.cli(*add, env=env)
    daemon.cli("remotes", "test", REMOTE)

    os.sync()  # the previous run's writes are not flushed during this one
    daemon.reset_peak_rss()  # the peak while syncing, not while indexing
    cpu_before = daemon.cpu_seconds()
    started = time.monotonic()
    daemon.cli("collections", "create", COLLECTION, "--folder", corpus.path, "--remote", REMOTE, "--sync")
    timeout = sync_timeout_s(corpus)
    wait = daemon.cli("wait", "--timeout", f"{timeout}s", check=False, timeout_s=timeout + 60)
    elapsed = time.monotonic() - started
    cpu = daemon.cpu_seconds() - cpu_before
    figures = {**rates(corpus, elapsed, cpu, daemon.peak_rss_mib()), **index}
    if wait.returncode not in (0, 1):  # 1: some jobs failed, a failed copy
        daemon.check_alive()
        raise BenchError(f"`syncroll wait` exited with {wait.returncode}: {wait.stderr.strip()}; "
                         f"see {daemon.log_path}")
    problem = (f"syncroll wait: {wait.stderr.strip()}" if wait.returncode
               else server.check(corpus.path, f"{prefix}/{COLLECTION}", corpus.files))
    return verified(figures, problem, f"syncroll to {server.protocol}:{prefix}", failures)


def rclone_round(s, server, corpus, run, failures):
    prefix = f"{run}-rclone"
    os.sync()
    with open(os.path.join(s.runs, f"{run}-rclone.log"), "ab") as log:
        copy = run_measured(server.client_argv("copy", corpus.path, server.path(prefix)),
                            sync_timeout_s(corpus), env=server.client_env(), log=log)
    figures = rates(corpus, copy.elapsed_s, copy.cpu_s, copy.peak_rss_mib)
    problem = (f"rclone copy exited with {copy.returncode}; see {log.name}" if copy.returncode
               else server.check(corpus.path, prefix, corpus.files))
    figures = verified(figures, problem, f"rclone copy to {server.protocol}:{prefix}", failures)
    server.discard(prefix)
    return figures


def verified(figures, problem, what, failures):
    figures["verified"] = problem is None
    if problem:
        figures["problem"] = problem
        failures.append(f"{what}: {problem}")
        say(f"VERIFICATION FAILED: {what}: {problem}")
    else:
        say(f"{what}: {figures['elapsed_s']:.2f} s, {figures['files_per_s']:,.0f} files/s, "
            f"{figures['mb_per_s']:,.1f} MB/s, CPU {figures['cpu_s']:.2f} s; verified")
    return figures


def summarize(result, targets):
    """Per-tool medians over the rounds, the ratios of the medians, and the targets."""
    rounds = result["rounds"]
    medians = {tool: {key: sig(statistics.median(r[tool][key] for r in rounds))
                      for key, value in rounds[0][tool].items() if is_number(value)}
               for tool in ("syncroll", "rclone")}
    ratios = {k: ratio(medians["syncroll"][k], medians["rclone"][k])
              for k in ("files_per_s", "mb_per_s", "cpu_ms_per_file", "cpu_s_per_gb")}
    worst_rss = max(r["syncroll"]["peak_rss_mib"] for r in rounds)
    result.update(median=medians, ratios=ratios,
                  targets=[t.as_dict(ratios[t.figure]) for t in targets]
                  + [DAEMON_RSS_TARGET.as_dict(worst_rss)])


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def ratio(a, b):
    return round(a / b, 3) if b else None


# ------------------------------------------- the daemon on a synced library

def library_figures(s, daemon, server, corpus, prefix, failures):
    """Figures of the daemon that just synced the library: a changed photo
    reaching the server, idle CPU, `status` latency, a restart, and `status`
    with the whole library queued."""
    say(f"daemon figures on the synced {corpus.files:,}-photo library")
    figures = {"photos": corpus.files}
    figures["change"] = change_latency(s, daemon, server, corpus, f"{prefix}/{COLLECTION}", failures)
    figures["idle"] = idle_cpu(s, daemon)
    figures["status"] = time_calls(lambda: daemon.cli("--json", "status"), s.status_calls)
    figures["restart"] = restart(s, daemon, corpus.files)
    figures["status_queued"] = status_with_queue(s, daemon, server, corpus, prefix)
    figures["targets"] = [
        CHANGE_TARGET.as_dict(figures["change"]["max_ms"]),
        IDLE_CPU_TARGET.as_dict(figures["idle"]["cpu_percent"]),
        *(t.as_dict(figures["restart"][t.figure]) for t in RESTART_TARGETS),
    ]
    return figures


def change_latency(s, daemon, server, corpus, key_prefix, failures):
    """Writes new bytes into one photo `s.changes` times; each time, how long
    until the server's copy holds them. The server's own file is polled (a
    cheap read of the object rclone stores), then the last change is read
    back through the S3 API. The photo's bytes and mtime are put back at the
    end, and that too must reach the server."""
    rel = corpora.first_file(corpus.path)
    local = os.path.join(corpus.path, rel)
    served = server.backing_file(f"{key_prefix}/{rel}")
    with open(local, "rb") as f:
        original = f.read()
    mtime_ns = os.stat(local).st_mtime_ns
    samples = []
    try:
        for _ in range(s.changes):
            wait_idle(daemon)
            new = os.urandom(len(original))
            started = time.monotonic()
            write(local, new)
            wait_until(CHANGE_TIMEOUT_S, f"the new bytes of {rel} on the server",
                       lambda: read_or_none(served) == new, interval_s=0.005)
            samples.append((time.monotonic() - started) * 1000)
        if server.read(f"{key_prefix}/{rel}") != new:
            failures.append(f"{rel}: the server's file has the new bytes but the S3 API serves others")
    finally:
        write(local, original)
        os.utime(local, ns=(mtime_ns, mtime_ns))
    wait_until(CHANGE_TIMEOUT_S, f"the original bytes of {rel} back on the server",
               lambda: read_or_none(served) == original, interval_s=0.05)
    return {"changes": len(samples), "photo": rel, "median_ms": round(statistics.median(samples)),
            "max_ms": round(max(samples)), "samples_ms": [round(x) for x in samples]}


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_or_none(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def idle_cpu(s, daemon):
    """Daemon CPU while nothing happens, as % of one core."""
    wait_idle(daemon)
    cpu_before = daemon.cpu_seconds()
    started = time.monotonic()
    time.sleep(s.idle_s)  # the measurement itself: the daemon left alone
    elapsed = time.monotonic() - started
    cpu = daemon.cpu_seconds() - cpu_before
    return {"seconds": round(elapsed, 1), "cpu_s": round(cpu, 3),
            "cpu_percent": round(cpu / elapsed * 100, 2)}


def restart(s, daemon, photos):
    """SIGTERM, start again: time to answer, time to the end of the start-up
    scan, files hashed again by it, and jobs created by the restart (counted
    with `syncroll jobs`, which lists finished jobs too)."""
    jobs_before = count_jobs(s, daemon)
    started = time.monotonic()
    stopped(daemon)
    stop_s = time.monotonic() - started
    started = time.monotonic()
    answer_s = daemon.start()
    scan = wait_until(index_timeout_s(photos), "the start-up scan to finish",
                      lambda: startup_scan(daemon), interval_s=0.05)
    scan_s = time.monotonic() - started
    wait_idle(daemon)
    return {"stop_s": round(stop_s, 2), "to_answer_s": round(answer_s, 3),
            "to_scan_finished_s": round(scan_s, 2), "scan_ms": scan["last_duration_ms"],
            "rehashed": scan["files_hashed"], "jobs_queued": count_jobs(s, daemon) - jobs_before,
            "peak_rss_mib": round(daemon.peak_rss_mib(), 1)}


def stopped(daemon):
    code = daemon.stop()
    if code != 0:
        raise BenchError(f"syncrolld exited with {code} on SIGTERM (want 0); see {daemon.log_path}")


def startup_scan(daemon):
    scan = daemon.status()["scan"]
    done = not scan["scanning"] and scan["last_finished_at"] and scan["reason"] == "startup"
    return scan if done else None


def count_jobs(s, daemon):
    run = run_measured([s.bins.syncroll, "--socket", daemon.socket, "--json", "jobs"], 600,
                       count_lines=True)
    if run.returncode:
        raise BenchError(f"`syncroll --json jobs` exited with {run.returncode}")
    return run.lines


def status_with_queue(s, daemon, server, corpus, prefix):
    """With sync paused, a second collection of the whole library is synced
    to a fresh prefix, so every photo waits in the queue; then `status`
    latency. The daemon is stopped afterwards, queue and all."""
    daemon.cli("pause")
    add, env = server.remote_add_args(QUEUE_REMOTE, f"{prefix}-queued")
    daemon.cli(*add, env=env)
    daemon.cli("collections", "create", QUEUE_COLLECTION, "--folder", corpus.path,
               "--remote", QUEUE_REMOTE, "--sync")
    queued = wait_for_queue(daemon, corpus.files)
    return {"queued": queued, **time_calls(lambda: daemon.cli("--json", "status"), s.status_calls)}


def wait_for_queue(daemon, photos):
    """The queue length once it holds every photo, or once it stopped growing."""
    last = {"queued": -1, "since": time.monotonic()}

    def probe():
        queued = daemon.status()["sync"]["queued"]
        now = time.monotonic()
        if queued != last["queued"]:
            last.update(queued=queued, since=now)
        settled = queued > 0 and now - last["since"] >= QUEUE_SETTLE_S
        return queued if queued >= photos or settled else None

    return wait_until(index_timeout_s(photos), f"{photos:,} jobs to be queued", probe, interval_s=0.2)


def wait_indexed(daemon, photos):
    def probe():
        status = daemon.status()
        scan = status["scan"]
        return (status["photo_count"] == photos and not scan["scanning"]
                and bool(scan["last_finished_at"]))
    wait_until(index_timeout_s(photos), f"{photos:,} photos to be indexed", probe, interval_s=0.2)


def wait_idle(daemon):
    def probe():
        status = daemon.status()
        return status["sync"]["idle"] and not status["scan"]["scanning"]
    wait_until(IDLE_TIMEOUT_S, "the daemon to be idle", probe, interval_s=0.05)


# ------------------------------------------------------- the catalog alone

def catalog_run(s, corpus, failures):
    """A library indexed, listed and restarted, without any sync."""
    say(f"catalog of {corpus.describe()}")
    figures = {"photos": corpus.files}
    with Daemon(s.bins, os.path.join(s.runs, f"catalog-{corpus.files}")) as daemon:
        daemon.start()
        started = time.monotonic()
        daemon.cli("roots", "add", corpus.path)
        wait_indexed(daemon, corpus.files)
        figures["index_s"] = round(time.monotonic() - started, 2)
        figures["index_peak_rss_mib"] = round(daemon.peak_rss_mib(), 1)
        figures["restart"] = restart(s, daemon, corpus.files)
        figures["status"] = time_calls(lambda: daemon.cli("--json", "status"), s.status_calls)
        listing = run_measured([s.bins.syncroll, "--socket", daemon.socket, "--json", "photos"],
                               index_timeout_s(corpus.files), count_lines=True)
        figures["photos_list"] = {"elapsed_s": round(listing.elapsed_s, 2), "lines": listing.lines,
                                  "cli_peak_rss_mib": round(listing.peak_rss_mib, 1)}
        if listing.returncode or listing.lines != corpus.files:
            failures.append(f"`syncroll --json photos` exited with {listing.returncode} "
                            f"after {listing.lines:,} of {corpus.files:,} photos")
        figures["idle"] = idle_cpu(s, daemon)
        figures["daemon_peak_rss_after_restart_mib"] = round(daemon.peak_rss_mib(), 1)
        stopped(daemon)
    figures["targets"] = [IDLE_CPU_TARGET.as_dict(figures["idle"]["cpu_percent"]),
                          *(t.as_dict(figures["restart"][t.figure]) for t in RESTART_TARGETS)]
    return figures


# ------------------------------------------------------------------- main

def machine(s):
    def first(path, key):
        with open(path) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(key)), "unknown")

    def command(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                  cwd=corpora.REPO).stdout.strip()
        except OSError:
            return ""

    commit = command("git", "rev-parse", "--short=12", "HEAD") or "unknown"
    if command("git", "status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(first("/proc/meminfo", "MemTotal").split()[0]) / (1 << 20), 1),
        "kernel": platform.release(),
        "rclone": rclone.version(s.rclone),
        "syncroll": command(s.bins.syncroll, "--version"),
        "syncroll_commit": commit,
    }


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", help="comma-separated: small,library,shoot "
                   "[default: all, or none with --library-size]")
    p.add_argument("--rounds", type=int, help="rounds per preset [default: 3, --quick: 1]")
    p.add_argument("--library-size", type=int, metavar="N",
                   help="also (or, without --presets, only) the catalog run on an N-photo library")
    p.add_argument("--quick", action="store_true",
                   help="tiny corpora, 1 round, short extras, a 2,000-photo catalog run")
    p.add_argument("--work", default="/tmp/syncroll-bench",
                   help="corpora (kept between runs), daemon folders and logs [default: %(default)s]")
    p.add_argument("--md-out", help="the Markdown report [default: WORK/bench.md]")
    p.add_argument("--json-out", help="every figure [default: WORK/bench.json]")
    a = p.parse_args()
    default_presets = "" if a.library_size and not a.quick else ",".join(PRESETS)
    a.presets = [name for name in (a.presets if a.presets is not None else default_presets).split(",") if name]
    unknown = [name for name in a.presets if name not in PRESETS]
    if unknown:
        p.error(f"unknown preset {', '.join(unknown)}; choose from {', '.join(PRESETS)}")
    if a.rounds is None:
        a.rounds = 1 if a.quick else 3
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    if a.quick and a.library_size is None:
        a.library_size = 2000
    a.work = os.path.abspath(a.work)
    a.md_out = a.md_out or os.path.join(a.work, "bench.md")
    a.json_out = a.json_out or os.path.join(a.work, "bench.json")
    return a


def run_all(a, s, results, failures):
    for name in a.presets:
        preset = PRESETS[name]
        corpus_name, gen_args = QUICK_CORPORA[name] if a.quick else (preset.corpus, preset.gen_args)
        corpus = corpora.ensure(s.work, corpus_name, list(gen_args))
        for protocol in preset.targets:
            compare(s, preset, protocol, corpus, results["sync"], failures)
    if a.library_size:
        corpus = corpora.ensure(s.work, f"library-{a.library_size}",
                                ["--files", str(a.library_size), "--size", "1024", "--dated"])
        results["catalog"] = catalog_run(s, corpus, failures)


def interrupted(signum, _frame):
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, through every `finally`
    # that stops a daemon or server.
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    a = parse_args()
    signal.signal(signal.SIGTERM, interrupted)
    os.makedirs(a.work, exist_ok=True)
    failures = []
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "quick": a.quick, "rounds": a.rounds, "presets": a.presets, "library_size": a.library_size,
               "work": a.work, "sync": [], "failures": failures}
    code = 0
    try:
        s = Settings(work=a.work, runs=os.path.join(a.work, "runs"), bins=Bins.find(),
                     rclone=rclone.rclone_binary(), rounds=a.rounds, changes=5,
                     idle_s=3 if a.quick else 10, status_calls=20 if a.quick else 50)
        shutil.rmtree(s.runs, ignore_errors=True)
        os.makedirs(s.runs)
        results["machine"] = machine(s)
        run_all(a, s, results, failures)
    except (BenchError, subprocess.CalledProcessError) as e:
        results["error"] = str(e)
        say(f"FAILED: {e}")
        code = 1
    except KeyboardInterrupt:
        results["error"] = "interrupted"
        say("interrupted; every daemon and server started was stopped")
        code = 130
    finally:
        with open(a.json_out, "w") as f:
            json.dump(results, f, indent=2)
        markdown = report.markdown(results)
        with open(a.md_out, "w") as f:
            f.write(markdown)
        print(markdown)
        say(f"report: {a.md_out}, figures: {a.json_out}")
    if failures:
        say("copies that failed verification:\n  " + "\n  ".join(failures))
    sys.exit(code or (1 if failures else 0))


if __name__ == "__main__":
    main()

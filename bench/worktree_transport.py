"""Worktrees and transport: worktree ready time vs a clone, and snapshot bundle bytes vs the whole repo.

Run by hand (it is not a test):

    python -m bench.worktree_transport [--files 20000] [--dirs 200] [--runs 10] [--history 300]

1. Ready time on a --files repo (in --dirs directories, 3 commits): `WorktreeCache.materialize`
   + `remove` on a warm mirror (created by one earlier materialize) vs a fresh
   `git clone --no-local --no-hardlinks` of the same repo, and a hardlinked local `git clone`
   for context, and just writing the files (`read-tree -u` into an empty dir, no git dir) as
   the floor; --runs each, interleaved, after one discarded warm-up round.
2. Bundle bytes of a typical job: a repo with --history commits over the same tree, an origin
   bare repo holding all but the last 2 commits, and a checkout with those 2 unpushed commits
   plus staged, unstaged and untracked edits. The snapshot is taken (`snapshot_worktree`) and
   bundled (`prepare_source` with FARM_TRANSPORT=bundle) as the frontend's `start` does, the
   bytes stored through `JobStore` on a fakeredis client; compared to the no-origin bundle
   (`bundle_snapshot` without an origin), `git bundle create --all` and the `.git` directory.
   A worker then materializes the job from that bundle (`materialize_job`), as a check.

Everything runs on local disk with a warm page cache. It prints numbers and ratios.
"""

import argparse
import os
import platform
import random
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import fakeredis

from bench.machine import cpu_model, load_average
from farm_core.job_models import JobSpec
from farm_core.settings import FarmSettings
from farm_core.store import JobStore
from mcp_frontend.snapshot import pin_commit, snapshot_worktree
from mcp_frontend.transport import bundle_snapshot, prepare_source, store_bundle
from tasks.repo_fetch import bundle_prerequisites, materialize_job
from tasks.worktree import WorktreeCache, force_rmtree

IDENTITY = ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
WORDS = (
    "value index count item result config request response handler buffer parser token state cache "
    "user order entry record path name node tree queue worker job task stream event batch limit offset "
    "key data size total error status retry timeout session client server message header payload"
).split()
UNPUSHED = 2


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    done = subprocess.run(["git", *IDENTITY, *args], cwd=repo, input=input, check=True, capture_output=True)
    return done.stdout.decode().strip()


# ----------------------------------------------------------------------------- synthetic repos


def source_line(rng: random.Random) -> str:
    a, b, c = rng.sample(WORDS, 3)
    kind = rng.randrange(6)
    if kind == 0:
        return f"def {a}_{b}({c}, {rng.choice(WORDS)}=None):"
    if kind == 1:
        return f"    {a} = {b}.{c}({rng.randrange(1000)})"
    if kind == 2:
        return f"    if {a}_{b} > {rng.randrange(100)}:"
    if kind == 3:
        return f"        return {a}({b}, {c!r})"
    if kind == 4:
        return f"    # {a} {b} {c} {rng.choice(WORDS)}"
    return f"    {a}_{b}.append({c})"


def source_file(rng: random.Random) -> str:
    return "\n".join(source_line(rng) for _ in range(rng.randint(8, 30))) + "\n"


def edit(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(lines) + 1)
        if lines and at < len(lines) and rng.random() < 0.5:
            lines[at] = source_line(rng)
        else:
            lines[at:at] = [source_line(rng) for _ in range(rng.randint(1, 4))]
    return "\n".join(lines) + "\n"


def file_paths(files: int, dirs: int) -> list[str]:
    return [f"pkg{(i % dirs) // 20:02d}/mod{i % dirs:03d}/file_{i:05d}.py" for i in range(files)]


def build_repo(repo: Path, files: int, dirs: int, commits: int, seed: int) -> dict[str, str]:
    """A checked-out repo on `main`: one commit of `files` files, then commits editing a few files each."""
    rng = random.Random(seed)
    contents = {path: source_file(rng) for path in file_paths(files, dirs)}
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    stream = bytearray()
    when = 1_700_000_000

    def commit(number: int, changed: dict[str, str], message: str) -> None:
        nonlocal when
        when += rng.randint(600, 20000)
        msg = message.encode()
        stream.extend(f"commit refs/heads/main\nmark :{number}\n".encode())
        stream.extend(f"author Bench <bench@example.invalid> {when} +0000\n".encode())
        stream.extend(f"committer Bench <bench@example.invalid> {when} +0000\n".encode())
        stream.extend(f"data {len(msg)}\n".encode() + msg + b"\n")
        if number > 1:
            stream.extend(f"from :{number - 1}\n".encode())
        for path, text in changed.items():
            data = text.encode()
            stream.extend(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    commit(1, contents, "initial import")
    for number in range(2, commits + 1):
        changed: dict[str, str] = {}
        for path in rng.sample(sorted(contents), rng.randint(1, 8)):
            changed[path] = contents[path] = edit(rng, contents[path])
        if rng.random() < 0.1:
            folder = rng.randrange(dirs)
            path = f"pkg{folder // 20:02d}/mod{folder:03d}/new_{number:05d}.py"
            changed[path] = contents[path] = source_file(rng)
        commit(number, changed, f"change {number}: {' '.join(rng.sample(WORDS, 4))}")
    git(repo, "fast-import", "--quiet", input=bytes(stream))
    git(repo, "repack", "-a", "-d", "-f", "-q")  # packed as a clone from a server would be
    git(repo, "prune-packed")
    git(repo, "reset", "--hard", "-q", "main")
    return contents


def dir_bytes(path: Path) -> int:
    return sum(
        entry.stat().st_size for entry in path.rglob("*") if entry.is_file() and not entry.is_symlink()
    )


# ----------------------------------------------------------------------------- 1. ready time


def timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def ready_time(work: Path, files: int, dirs: int, runs: int) -> dict[str, list[float]]:
    repo = work / "repo"
    build_repo(repo, files, dirs, commits=3, seed=1)
    commit = git(repo, "rev-parse", "HEAD")
    cache = WorktreeCache(work / "cache")
    cache.remove(cache.materialize(str(repo), commit, "warmup-mirror"))  # creates and fetches the mirror
    clones = work / "clones"
    clones.mkdir()
    samples: dict[str, list[float]] = {
        name: []
        for name in (
            "wt_ready",
            "wt_remove",
            "clone_ready",
            "clone_remove",
            "hl_ready",
            "hl_remove",
            "co_ready",
        )
    }

    def clone(*flags: str, target: Path) -> None:
        subprocess.run(
            ["git", "clone", "--quiet", *flags, str(repo), str(target)], check=True, capture_output=True
        )

    def checkout_only(target: Path) -> None:
        # Just writing the files: the source's objects into an empty dir through a scratch index.
        target.mkdir()
        env = {**os.environ, "GIT_INDEX_FILE": str(target.with_name(target.name + ".index"))}
        subprocess.run(
            ["git", f"--work-tree={target}", "read-tree", "-u", "--reset", commit],
            cwd=repo,
            env=env,
            check=True,
            capture_output=True,
        )
        os.unlink(env["GIT_INDEX_FILE"])

    for run in range(runs + 1):  # round 0 is a warm-up, not counted
        job_id = f"bench-{run:03d}"
        started = time.perf_counter()
        worktree = cache.materialize(str(repo), commit, job_id)
        wt_ready = time.perf_counter() - started
        wt_remove = timed(partial(cache.remove, worktree))
        target = clones / f"full-{run}"
        clone_ready = timed(partial(clone, "--no-local", "--no-hardlinks", target=target))
        clone_remove = timed(partial(shutil.rmtree, target))
        target = clones / f"hardlinked-{run}"
        hl_ready = timed(partial(clone, target=target))
        hl_remove = timed(partial(shutil.rmtree, target))
        target = clones / f"checkout-{run}"
        co_ready = timed(partial(checkout_only, target))
        shutil.rmtree(target)
        if run:
            for name, value in zip(
                samples, (wt_ready, wt_remove, clone_ready, clone_remove, hl_ready, hl_remove, co_ready)
            ):
                samples[name].append(value)
    return samples


def report_ready(samples: dict[str, list[float]], files: int, dirs: int, runs: int) -> None:
    def row(label: str, values: list[float]) -> None:
        print(
            f"  {label:<46} p50 {statistics.median(values) * 1000:8.0f} ms   mean "
            f"{statistics.fmean(values) * 1000:8.0f} ms"
            f"   min {min(values) * 1000:7.0f}   max {max(values) * 1000:7.0f}"
        )

    total = {
        key: [a + b for a, b in zip(samples[f"{key}_ready"], samples[f"{key}_remove"])]
        for key in ("wt", "clone", "hl")
    }
    print(
        f"\n1. Worktree ready time: {files} files in {dirs} directories, 3 commits; "
        f"{runs} runs each (interleaved)"
    )
    row("(a) warm-mirror materialize", samples["wt_ready"])
    row("(a) remove", samples["wt_remove"])
    row("(a) materialize + remove", total["wt"])
    row("(b) git clone --no-local --no-hardlinks", samples["clone_ready"])
    row("(b) clone + rm -rf", total["clone"])
    row("(c) git clone (local, hardlinks)", samples["hl_ready"])
    row("(c) clone + rm -rf", total["hl"])
    row("(d) checkout alone (read-tree -u, no git dir)", samples["co_ready"])
    p50 = {key: statistics.median(values) for key, values in samples.items()}
    p50.update({f"{key}_total": statistics.median(values) for key, values in total.items()})
    print(
        f"  ratio warm worktree / fresh clone, ready (p50):        {p50['wt_ready'] / p50['clone_ready']:.2f}"
    )
    print(
        f"  ratio warm worktree / fresh clone, incl. clean-up:     {p50['wt_total'] / p50['clone_total']:.2f}"
    )
    print(f"  ratio warm worktree / hardlinked clone, ready (p50):   {p50['wt_ready'] / p50['hl_ready']:.2f}")
    print(f"  ratio checkout alone / warm worktree, ready (p50):     {p50['co_ready'] / p50['wt_ready']:.2f}")


# ----------------------------------------------------------------------------- 2. bundle bytes


def typical_job(work: Path, files: int, dirs: int, history: int) -> dict[str, object]:
    caller = work / "caller"
    contents = build_repo(caller, files, dirs, commits=history, seed=2)
    origin = work / "origin.git"
    origin.mkdir()
    git(origin, "init", "--bare", "-q", "-b", "main")
    git(caller, "push", "-q", str(origin), f"main~{UNPUSHED}:refs/heads/main")
    git(caller, "remote", "add", "origin", str(origin))
    git(caller, "fetch", "-q", "origin")
    git(caller, "branch", "-q", "--set-upstream-to=origin/main", "main")
    git_dir_before = dir_bytes(caller / ".git")

    rng = random.Random(3)
    edited = rng.sample(sorted(contents), 8)
    for path in edited:
        (caller / path).write_text(edit(rng, contents[path]))
    git(caller, "add", "--", *edited[:3])  # some staged, the rest unstaged
    for number in range(3):
        new = caller / f"pkg00/mod000/untracked_{number}.py"
        new.write_text(source_file(rng))

    settings = FarmSettings(transport="bundle", redis_url="redis://farm.example.invalid:6379/0")
    store = JobStore(fakeredis.FakeRedis(), settings.key_prefix, settings.job_ttl_s, settings.log_max_entries)
    job_id = "bench-typical-job"
    began = time.perf_counter()
    snapshot = snapshot_worktree(caller, job_id)
    snapshot_s = time.perf_counter() - began
    began = time.perf_counter()
    prepared = prepare_source(caller, job_id, snapshot.commit, settings, socket.gethostname())
    bundle_s = time.perf_counter() - began
    store_bundle(store, job_id, prepared.bundle)
    stored = store.load_bundle(job_id) or b""

    whole_origin = "bench-no-origin"
    pin_commit(caller, whole_origin, snapshot.commit)
    no_origin = bundle_snapshot(
        caller,
        whole_origin,
        snapshot.commit,
        settings.model_copy(update={"bundle_max_bytes": 1 << 40}),
        socket.gethostname(),
        origin=None,
    )
    everything = work / "all.bundle"
    git(caller, "bundle", "create", "-q", str(everything), "--all")

    result: dict[str, object] = {
        "history": history,
        "commits_beyond_origin": int(git(caller, "rev-list", "--count", snapshot.commit, "^origin/main")),
        "prerequisites": len(bundle_prerequisites(stored)),
        "snapshot_s": snapshot_s,
        "bundle_s": bundle_s,
        "delta": len(stored),
        "source_bytes": prepared.source.bundle_bytes,
        "no_origin": len(no_origin.bundle or b""),
        "all": everything.stat().st_size,
        "git_dir": git_dir_before,
        "git_dir_after": dir_bytes(caller / ".git"),
        "origin_dir": dir_bytes(origin),
        "tree_bytes": sum(len(text.encode()) for text in contents.values()),
        "cap": settings.bundle_max_bytes,
    }
    result.update(worker_side(work, caller, prepared, snapshot.commit, store, settings, rng, contents))
    return result


def worker_side(
    work: Path,
    caller: Path,
    prepared,
    commit: str,
    store: JobStore,
    settings: FarmSettings,
    rng: random.Random,
    contents: dict[str, str],
) -> dict[str, object]:
    """A worker materializes the job from the bundle (cold mirror), then a second job's bundle (warm
    mirror)."""
    cache = WorktreeCache(work / "worker-cache")
    spec = JobSpec(
        job_id="bench-typical-job",
        prompt="bench",
        source=prepared.source,
        snapshot_commit=commit,
        timeout_ms=60_000,
        created_at=time.time(),
    )
    began = time.perf_counter()
    worktree = materialize_job(cache, spec, store)
    cold_s = time.perf_counter() - began
    ok = git(worktree.path, "rev-parse", "HEAD") == commit and not git(worktree.path, "status", "--porcelain")
    cache.remove(worktree)

    path = sorted(contents)[17]
    (caller / path).write_text(edit(rng, (caller / path).read_text()))
    job_id = "bench-second-job"
    second = snapshot_worktree(caller, job_id).commit
    prepared2 = prepare_source(caller, job_id, second, settings, socket.gethostname())
    store_bundle(store, job_id, prepared2.bundle)
    spec2 = spec.model_copy(update={"job_id": job_id, "source": prepared2.source, "snapshot_commit": second})
    began = time.perf_counter()
    worktree = materialize_job(cache, spec2, store)
    warm_s = time.perf_counter() - began
    ok = ok and git(worktree.path, "rev-parse", "HEAD") == second
    cache.remove(worktree)
    return {
        "worker_cold_s": cold_s,
        "worker_warm_s": warm_s,
        "worker_ok": ok,
        "second_delta": len(prepared2.bundle or b""),
    }


def size(value: int) -> str:
    return f"{value:>12,} B ({value / (1 << 20):7.2f} MiB)"


def report_bundle(r: dict) -> None:
    print(
        f"\n2. Bundle bytes of a typical job: {r['history']} commits, origin lacks the last {UNPUSHED};"
        " 8 edited files (3 staged), 3 untracked"
    )
    print(
        f"  commits in the bundle (beyond origin/main): {r['commits_beyond_origin']}, prerequisites: "
        f"{r['prerequisites']}"
    )
    print(
        f"  snapshot_worktree {r['snapshot_s'] * 1000:.0f} ms, prepare_source (bundle) "
        f"{r['bundle_s'] * 1000:.0f} ms"
    )
    print(
        f"  job bundle (prepare_source, stored in Redis)  {size(r['delta'])}   (RepoSource.bundle_bytes "
        f"{r['source_bytes']:,})"
    )
    print(f"  no-origin bundle (whole snapshot history)     {size(r['no_origin'])}")
    print(f"  git bundle create --all                       {size(r['all'])}")
    print(
        f"  caller's .git directory                        {size(r['git_dir'])}   (after the snapshots: "
        f"{r['git_dir_after']:,} B)"
    )
    print(f"  working tree files (HEAD, uncompressed)       {size(r['tree_bytes'])}")
    print(
        f"  ratio job bundle / --all bundle:   {r['delta'] / r['all']:.5f}  (1/{r['all'] / r['delta']:,.0f})"
    )
    print(
        f"  ratio job bundle / .git directory: {r['delta'] / r['git_dir']:.5f}  "
        f"(1/{r['git_dir'] / r['delta']:,.0f})"
    )
    print(f"  ratio no-origin bundle / --all:    {r['no_origin'] / r['all']:.3f}")
    print(f"  job bundle is {r['delta'] / r['cap'] * 100:.3f}% of FARM_BUNDLE_MAX_BYTES ({r['cap']:,} B)")
    print(
        "  worker check: materialize_job from the bundle, cold mirror (fetches origin "
        f"first) {r['worker_cold_s'] * 1000:.0f} ms; a second job ({r['second_delta']:,} "
        f"B bundle) on the warm mirror {r['worker_warm_s'] * 1000:.0f} ms; snapshot "
        f"commits checked out cleanly: {'yes' if r['worker_ok'] else 'NO'}"
    )


# ----------------------------------------------------------------------------- header and main


def header(argv: list[str]) -> None:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()} on "
        f"{platform.system()}, {git_version}"
    )
    print(f"command: python -m bench.worktree_transport {shlex.join(argv)}".rstrip())
    print(f"load average at start: {load_average()}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.worktree_transport", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--files", type=int, default=20_000, help="files in the generated repos")
    parser.add_argument("--dirs", type=int, default=200, help="directories they are spread over")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each checkout method")
    parser.add_argument("--history", type=int, default=300, help="commits in the bundle benchmark's repo")
    args = parser.parse_args(argv)
    header(argv)
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="farm-bench-wt-") as scratch:
        work = Path(scratch)
        try:
            report_ready(
                ready_time(work / "ready", args.files, args.dirs, args.runs), args.files, args.dirs, args.runs
            )
            report_bundle(typical_job(work / "bundle", args.files, args.dirs, args.history))
        finally:
            force_rmtree(work)  # worktrees or an agent may leave read-only files behind
            work.mkdir()
    print(f"\nelapsed: {time.monotonic() - began:.0f} s, load average at end: {load_average()}")


if __name__ == "__main__":
    main()

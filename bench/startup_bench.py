"""Start-up of the lookups a user types: wall time of one cold `trialkb` command on a 10,000-trial store.

Usage: python bench/startup_bench.py [--trials 10000] [--runs 15] [--source DIR] [--python PATH]

Builds (once, kept in bench/out/) a SQLite store of N trials from bench/corpus.py with
`trialkb import`, warms the similarity index once (`trialkb similar`, which builds and caches it),
then runs each command N times as a new process and prints the median and the spread of wall
times, the median CPU time (user + system) of the process, each also as a multiple of a bare
`python -c pass` measured alongside (on a busy machine the CPU multiple is the steadier figure). `--source DIR` runs the commands
from another checkout's source tree (e.g. `git archive main` unpacked), `--python PATH` with another
venv's interpreter (with that tree installed), for before/after figures. Targets: `trialkb --help` and a mistyped command
<= 5x `python -c pass`, `trialkb show` <= 7x, `trialkb similar` <= 11x with the index built.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
QUERY = "NCT50000000"  # the corpus's first trial


def trialkb(python: Path | None = None) -> list[str]:
    """The command line that starts trialkb (this venv's console script, or ``python`` running it)."""
    if python is None:
        return [str(Path(sys.executable).with_name("trialkb"))]
    return [str(python), "-c", "import sys; from apps.cli import main; sys.argv[0] = 'trialkb'; main()"]


def make_store(path: Path, trials: int, command: list[str], env: dict[str, str]) -> None:
    from bench.corpus import write_zip

    archive = OUT / f"startup-{trials}.zip"
    if not archive.exists():
        write_zip(archive, trials)
    subprocess.run(command + ["--db", str(path), "import", str(archive)], check=True, env=env, cwd=OUT,
                   stdout=subprocess.DEVNULL)


def timed(command: list[str], env: dict[str, str], fails: bool = False) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``command`` (which must succeed, or fail when ``fails``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=OUT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if bool(done.returncode) != fails:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--source", type=Path, help="run the commands from this source tree")
    parser.add_argument("--python", type=Path, help="run the commands with this interpreter")
    parser.add_argument("--store", type=Path, help="the store (made by the version measured when missing); "
                        "default bench/out/startup-N.db")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    base = trialkb(args.python or (Path(sys.executable) if args.source else None))
    store = (args.store or OUT / f"startup-{args.trials}.db").resolve()
    if not store.exists():
        started = time.perf_counter()
        make_store(store, args.trials, base, env)
        print(f"store of {args.trials:,} trials imported in {time.perf_counter() - started:.0f} s")
    bare = [sys.executable, "-c", "pass"]
    commands = {
        "python -c pass": None,
        "trialkb --help": ["--help"],
        "trialkb shwo (mistyped)": ["shwo"],
        "trialkb show NCTID": ["--db", str(store), "show", QUERY],
        "trialkb show NCTID --json": ["--db", str(store), "show", QUERY, "--json"],
        "trialkb similar NCTID": ["--db", str(store), "similar", QUERY],
        "trialkb similar NCTID --json": ["--db", str(store), "similar", QUERY, "--json"],
    }
    started = time.perf_counter()
    timed(base + commands["trialkb similar NCTID"], env)  # builds and caches the index if it is stale
    print(f"first `trialkb similar` (index built if stale): {time.perf_counter() - started:.2f} s")
    print(f"{args.runs} cold runs each; source: {args.source or ROOT}; python: {args.python or sys.executable}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.runs):  # interleaved, so that a change of load touches every command alike
        for name, extra in commands.items():
            runs[name].append(timed(bare if extra is None else base + extra, env, fails=extra == ["shwo"]))
    unit = statistics.median(w for w, _ in runs["python -c pass"])
    cpu_unit = statistics.median(c for _, c in runs["python -c pass"])
    for name, measured in runs.items():
        walls = sorted(w for w, _ in measured)
        cpu = statistics.median(c for _, c in measured)
        print(f"  {name:<30} wall median {statistics.median(walls):.3f} s (min {walls[0]:.3f}, max {walls[-1]:.3f}) "
              f"= {statistics.median(walls) / unit:.1f}x python -c pass; CPU median {cpu:.3f} s = {cpu / cpu_unit:.1f}x")


if __name__ == "__main__":
    main()

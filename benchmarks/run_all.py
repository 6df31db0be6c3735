"""`make bench`: run every benchmark in benchmarks/ and collect the figures in benchmarks/RESULTS.md.

    python benchmarks/run_all.py                 # quick settings (~15-25 min on 2 CPU cores)
    python benchmarks/run_all.py --full          # each benchmark's own defaults (hours on a CPU)
    python benchmarks/run_all.py --only detector_forward,detector_node

Each benchmark runs as its own process (nice -n 5, OMP_WAIT_POLICY=PASSIVE) with the arguments
below; the ones that need ../shared/data are skipped, and say so, when it is absent. RESULTS.md
gets the machine, the date, the git commit, each exact command with its wall time and exit code,
and the benchmark's own table (the benchmarks/results/*.md it wrote, else its printed output).
Quick runs do not overwrite the full results committed in benchmarks/results/: the files a
benchmark declares it writes there are read into RESULTS.md and then put back as they were.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from _util import ROOT, machine  # noqa: E402

from automask_ros.core.shared.atomic import atomic_write_bytes  # noqa: E402

HERE = ROOT / "benchmarks"
RESULTS_DIR = HERE / "results"
SHARED = ROOT.parent / "shared" / "data"
NOT_BENCHMARKS = {"run_all.py", "soak.py"}  # soak: `make soak`, hours long; _*.py are helpers


@dataclass
class Bench:
    name: str
    quick: list[str]
    full: list[str]
    needs_shared: bool = False
    writes: tuple[str, ...] = ()  # files in benchmarks/results/ it writes (its tables: the .md ones)


OUT = "bench_out/run_all"  # quick runs write their JSON here, not over the committed full results
BENCHMARKS = [
    Bench("detector_forward", ["--arch", "maskrcnn_mobilenet_v3_fpn16", "--repeats", "5"], []),
    Bench("detector_node", ["--frames", "8", "--seconds", "20", "--rate", "10", "--transport-seconds", "10",
                            "--json", f"{OUT}/detector_node.json"],
          [], writes=("detector_node.json",)),
    Bench("detector_lifecycle", ["--seconds", "8", "--json", f"{OUT}/detector_lifecycle.json"], [],
          writes=("detector_lifecycle.json",)),
    Bench("capture_node", ["--seconds", "20", "--json", f"{OUT}/capture_node.json"], [], writes=("capture_node.json",)),
    Bench("instances3d", ["--scenes", "8", "--repeats", "5", "--out", f"{OUT}/instances3d.json"], [],
          writes=("instances3d.json",)),  # its real-frame part skips itself without ../shared
    Bench("capture_quality", ["--objects", "10,50", "--sets", "coil", "--name", "capture_quality_quick"], [],
          needs_shared=True, writes=("capture_quality_quick.md", "capture_quality_quick.json",
                                     "capture_quality.md", "capture_quality.json")),
    Bench("train_paper_table",  # own work folder: a paper-table run elsewhere must not share files with it
          ["--minutes", "6", "--work", f"{OUT}/paper_table"],
          ["--minutes", "20", "--work", f"{OUT}/paper_table"], needs_shared=True,
          writes=("train_paper_table_6min.md", "train_paper_table_6min.json",  # a budget not the issue's
                  "train_paper_table_20min.md", "train_paper_table_20min.json")),
    Bench("add_object",  # extends the model the paper-table run above just wrote
          ["--base", f"{OUT}/paper_table/model_6min", "--minutes", "3", "--work", f"{OUT}/add_object"],
          ["--base", f"{OUT}/paper_table/model_20min", "--minutes", "10", "--work", f"{OUT}/add_object"],
          needs_shared=True, writes=("add_object.md", "add_object.json")),
    Bench("train_speed", ["--rounds", "1"], ["--rounds", "3"], writes=("train_speed.json",)),
]


def _read(names) -> dict[str, bytes | None]:
    return {n: (RESULTS_DIR / n).read_bytes() if (RESULTS_DIR / n).is_file() else None for n in names}


def run_one(bench: Bench, full: bool, timeout: float) -> dict:
    """Run one benchmark; returns its command, time, exit code, output and the tables it wrote.

    Only the files the benchmark declares (bench.writes) are read, and after a quick run put
    back as they were: other files in benchmarks/results/ belong to other runs.
    """
    args = bench.full if full else bench.quick
    cmd = ["nice", "-n", "5", sys.executable, str(HERE / f"{bench.name}.py"), *args]
    shown = " ".join(["python", f"benchmarks/{bench.name}.py", *args])
    if bench.needs_shared and not SHARED.is_dir():
        return {"cmd": shown, "status": f"skipped: {SHARED} is absent"}
    (ROOT / OUT).mkdir(parents=True, exist_ok=True)
    before = _read(bench.writes)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PYTHONUNBUFFERED="1")
    print(f"== {shown}", flush=True)
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        code, output = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, output = "timeout", f"{exc.stdout or ''}{exc.stderr or ''}"
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
    wall = time.monotonic() - start
    written = {n: data for n, data in _read(bench.writes).items() if data is not None and data != before[n]}
    if not full:  # keep the committed full results as they were
        for name in written:
            if before[name] is None:
                (RESULTS_DIR / name).unlink()
            else:
                (RESULTS_DIR / name).write_bytes(before[name])
    print(f"   exit {code} after {wall / 60:.1f} min", flush=True)
    return {"cmd": shown, "status": "ok" if code == 0 else f"failed (exit {code})", "wall_s": wall,
            "output": output, "tables": {n: d.decode(errors="replace") for n, d in written.items()
                                         if n.endswith(".md")}}


def render_markdown(rows: dict[str, dict], info: dict, full: bool, unwired: list[str]) -> str:
    lines = ["# Benchmark results", "",
             f"Written by `python benchmarks/run_all.py{' --full' if full else ''}` (`make bench`).", "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    lines += ["", "Times on a shared machine drift 1.5-2x with load; compare ratios measured in one run.", "",
              "| benchmark | status | wall time |", "|---|---|---|"]
    for name, r in rows.items():
        wall = f"{r['wall_s'] / 60:.1f} min" if "wall_s" in r else ""
        lines.append(f"| {name} | {r['status']} | {wall} |")
    for name, r in rows.items():
        lines += ["", f"## {name}", "", f"`{r['cmd']}`: {r['status']}", ""]
        for table_name, table in r.get("tables", {}).items():
            lines += [f"From `benchmarks/results/{table_name}`:", "", table.strip(), ""]
        if not r.get("tables") and r.get("output"):
            tail = "\n".join(r["output"].strip().splitlines()[-60:])
            lines += ["Output (last 60 lines):", "", "```", tail, "```"]
    if unwired:
        lines += ["", f"Not run (no entry in run_all.py yet): {', '.join(unwired)}"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="each benchmark's full default settings")
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark (default 3600)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    known = {b.name: b for b in BENCHMARKS}
    only = [n.strip() for n in args.only.split(",")] if args.only else list(known)
    unknown = [n for n in only if n not in known]
    if unknown:
        print(f"run_all: error: unknown benchmark(s) {', '.join(unknown)}: choose from {', '.join(known)}",
              file=sys.stderr)
        return 2
    unwired = sorted(p.stem for p in HERE.glob("*.py")
                     if p.name not in NOT_BENCHMARKS and not p.name.startswith("_") and p.stem not in known)
    info = machine()
    rows = {name: run_one(known[name], args.full, args.timeout) for name in only}
    atomic_write_bytes(args.out, render_markdown(rows, info, args.full, unwired).encode())
    print(f"wrote {args.out}")
    return 0 if all(r["status"].startswith(("ok", "skipped")) for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

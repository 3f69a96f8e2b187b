"""The README's speed tables in one command: each benchmark behind them, one after another.

    python benchmarks/suite.py --beauty artifacts/beauty-speed \
        --large artifacts/generated-1m --medium artifacts/generated-100k

Each step is one of this directory's benchmarks, run as its own process with the arguments the
README gives; its output is printed as it finishes and kept in ``--out`` (a text file per step),
and a last table gives each step's exit status and minutes. Steps of an artifact not given are
left out; the FastAPI + PyTorch reference runs where torch is installed (the ``train`` extra).
The open-loop rates of `latency.py` and `threads.py` are about 25 / 50 / 80% of the first Beauty
`serving.py` maximum unless ``--rates`` gives them. Runs in-process steps on core 0 with
``taskset`` where it exists. About 14 minutes on a 2-core machine with all three artifacts.
Asserts nothing; a failed step is reported and the suite goes on.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from serving import EDGE_ROW  # noqa: E402

# The maximum RPS is the first number after the recommend row's name in serving.py's report.
_MAXIMUM = re.compile(rf"^{re.escape(EDGE_ROW)}\s+(\d+)", re.MULTILINE)
_SHARES = (0.25, 0.5, 0.8)


def rates_from(serving_output: str) -> list[int] | None:
    """About 25 / 50 / 80% of the maximum a `serving.py` run printed (hundreds of RPS)."""
    found = _MAXIMUM.search(serving_output)
    if found is None:
        return None
    return [max(100, round(int(found.group(1)) * share / 100) * 100) for share in _SHARES]


def on_core_zero(command: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *command] if shutil.which("taskset") else command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beauty", type=Path, required=True, help="the Beauty speed artifact")
    parser.add_argument("--large", type=Path, help="a generated 1M-item artifact")
    parser.add_argument("--medium", type=Path, help="a generated 100k-item artifact")
    parser.add_argument("--rates", type=int, nargs=3, help="open-loop RPS (default: derived)")
    parser.add_argument("--out", type=Path, default=Path("artifacts/suite"))
    args = parser.parse_args()
    for given in (args.beauty, args.large, args.medium):
        if given is not None and not (given / "manifest.json").is_file():
            parser.error(f"{given} is not an artifact directory (no manifest.json)")
    args.out.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, str] = {}
    results: list[tuple[str, int, float]] = []

    def run(name: str, command: list[str]) -> None:
        print(f"=== {name}: {' '.join(command)}", flush=True)
        began = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        text = done.stdout + done.stderr
        (args.out / f"{name}.txt").write_text(text)
        print(text, flush=True)
        outputs[name] = text
        results.append((name, done.returncode, (time.monotonic() - began) / 60))

    def bench(script: str, *rest: str | Path) -> list[str]:
        return [sys.executable, str(HERE / script), *map(str, rest)]

    beauty = ("--artifact", args.beauty)
    run("stages", on_core_zero(bench("stages.py", *beauty)))
    run("serving-beauty", bench("serving.py", *beauty, "--skip-reference"))
    if importlib.util.find_spec("torch") is not None:
        run("serving-beauty-reference", bench("serving.py", *beauty))
    run("serving-beauty-again", bench("serving.py", *beauty, "--skip-reference"))
    if args.large:
        run("serving-1m", bench("serving.py", "--artifact", args.large, "--skip-reference"))
    if args.medium:
        run("serving-100k", bench("serving.py", "--artifact", args.medium, "--skip-reference"))
    rates = args.rates or rates_from(outputs["serving-beauty"])
    if rates is None:
        print("no maximum in the first serving run: latency.py and threads.py left out")
    else:
        chosen = [str(rate) for rate in rates]
        repeat = ("--repeat", "2", "--seconds", "6")
        run("latency", bench("latency.py", *beauty, "--rates", *chosen, *repeat))
        run("threads", bench("threads.py", *beauty, "--rates", *chosen))
    run("app-beauty", on_core_zero(bench("app.py", *beauty)))
    if args.large:
        run("app-1m", on_core_zero(bench("app.py", "--artifact", args.large)))
    run("idle", bench("idle.py", *beauty))
    if args.large:
        run("startup-1m", bench("startup.py", "--artifact", args.large))
    run("startup-beauty", bench("startup.py", *beauty))
    run("ann", bench("ann.py", "--items", "1000000"))
    if args.large:
        run("serving-1m-last", bench("serving.py", "--artifact", args.large, "--skip-reference"))
    run("stages-last", on_core_zero(bench("stages.py", *beauty)))

    print(f"{'step':<26}{'exit':>6}{'minutes':>9}   (outputs in {args.out})")
    for name, status, minutes in results:
        print(f"{name:<26}{status:>6}{minutes:>9.1f}")


if __name__ == "__main__":
    main()

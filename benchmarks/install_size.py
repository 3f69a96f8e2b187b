"""Size of the serving install: what the Dockerfile puts in the image, measured with pip.

    python benchmarks/install_size.py [--limit-mb 200]

Runs `pip install --target` of edgerec without extras (the serving dependencies), prints the
total and the largest packages, checks that PyTorch is absent and that `edgerec serve --help`
runs from that install alone. Exits 1 if the install is over the limit or pulls in torch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit-mb", type=float, default=200.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "site"
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
        pip += ["--disable-pip-version-check", "--target", str(target), str(REPO)]
        subprocess.run(pip, check=True)
        groups: dict[str, int] = {}
        for entry in target.iterdir():
            name = entry.name.split("-")[0].split(".")[0].lower()
            size = tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
            groups[name] = groups.get(name, 0) + size
        total = sum(groups.values())
        env = {**os.environ, "PYTHONPATH": str(target)}
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import edgerec.cli, sys; sys.argv=['edgerec','serve','--help'];"
                " edgerec.cli.main()",
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        has_torch = (target / "torch").exists()
    print("| package | MB |")
    print("|---|---:|")
    for name, size in sorted(groups.items(), key=lambda kv: -kv[1])[:8]:
        print(f"| {name} | {size / 1e6:.1f} |")
    print(f"| **total (pip install --target, no extras)** | **{total / 1e6:.1f}** |")
    print(
        f"\ntorch installed: {has_torch}; `edgerec serve --help` from it: exit {probe.returncode}"
    )
    ok = total / 1e6 <= args.limit_mb and not has_torch and probe.returncode == 0
    if not ok:
        print(f"FAIL: limit {args.limit_mb} MB, torch absent, serve --help runs\n{probe.stderr}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Run the web benches one after the other: bench/web.py (2,000 couples) then bench/scale.py (100,000).

Each prints its own table; this prints the total time at the end. Arguments (such
as --reuse or --seconds 5) are passed to both. Run: `.venv/bin/python bench/all.py`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    started = time.perf_counter()
    for script in ("web.py", "scale.py"):
        print(f"== bench/{script} ==", flush=True)
        done = subprocess.run([sys.executable, str(HERE / script), *sys.argv[1:]], check=False)  # noqa: S603
        if done.returncode != 0:
            print(f"bench/{script} failed with exit code {done.returncode}", flush=True)
            return done.returncode
    print(f"== all web benches: {time.perf_counter() - started:.0f} s ==", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""check_exports.py LIB - fails unless the shared library LIB exports
functions named sluice_* only (its ABI is sluice.h), and exports every
function sluice.h declares SLUICE_API."""

import re
import subprocess
import sys


def main() -> int:
    lib, header = sys.argv[1], sys.argv[2]
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    syms = {line.split()[-1] for line in out.splitlines() if line.strip()}
    stray = sorted(s for s in syms if not s.startswith("sluice_"))
    declared = set(re.findall(r"^SLUICE_API\b[^(]*?\b(sluice_\w+)\(", open(header).read(), re.M))
    missing = sorted(declared - syms)
    print(f"{len(syms)} exported, {len(declared)} declared")
    if stray:
        print("exported but not sluice_*:", " ".join(stray[:20]))
    if missing:
        print("declared SLUICE_API but not exported:", " ".join(missing))
    return 1 if stray or missing or not declared else 0


if __name__ == "__main__":
    raise SystemExit(main())

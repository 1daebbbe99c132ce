"""`cce-upgrade-bot demo`: placeholder until the offline demo lands (issue 5)."""

from __future__ import annotations

import sys


async def run_demo(*, verbose: bool = False) -> int:
    print("The offline demo is not available in this version yet.", file=sys.stderr)
    return 1

"""The on-send handler's own tests (deploy/outlook-addin/test, ``node --test`` with office-addin-mock).

Installs the pinned devDependencies with ``npm ci`` when they are missing, then runs ``npm test``.
"""

from __future__ import annotations

import subprocess

from addin_service import ADDIN, require


def test_on_send_handler_under_node() -> None:
    require("node", "Node.js 20: apt-get install nodejs npm")
    npm = require("npm", "apt-get install npm")
    if not (ADDIN / "node_modules" / "office-addin-mock").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ADDIN, check=True, timeout=300)
    proc = subprocess.run([npm, "test"], cwd=ADDIN, capture_output=True, text=True, timeout=300, check=False)
    summary = [line for line in proc.stdout.splitlines() if line.startswith(("# pass", "# fail"))]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert summary[-1] == "# fail 0" and int(summary[0].split()[-1]) >= 10, summary

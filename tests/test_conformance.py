"""Conformance gate: the CLI's Arkime documents against Arkime's own, on the shared corpus.

Runs ``../shared/conformance/arkime_compare.py`` as a subprocess (paths relative to the repository
root). The floors are the issue targets (sessions and net for the session engine, each protocol
group for its parser); a change that lowers a score below its floor fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
COMPARE = "../shared/conformance/arkime_compare.py"
CORPUS = "../shared/pcaps/arkime"
MINIMUMS = ("sessions=0.99", "net=0.98", "app=0.90", "http=0.95", "dns=0.95", "tls=0.95", "cert=0.95",
            "ssh=0.95", "dhcp=0.95", "icmp=0.95", "quic=0.80", "ntp=0.85", "email=0.85")


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (corpus and compare script) is absent")
def test_arkime_conformance() -> None:
    args = ["python3", COMPARE]
    for bound in MINIMUMS:
        args += ["--min", bound]
    args += ["--cmd", "python -m appliance parse --format arkime {pcap}", CORPUS]
    # `python` in the command template must be this interpreter, importing this tree.
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = "\n".join(res.stdout.splitlines()[-25:])
    assert res.returncode == 0, f"arkime_compare.py exited {res.returncode}\n{tail}\n{res.stderr[-2000:]}"
    assert "summary:" in res.stdout, tail

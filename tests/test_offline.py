"""The check runs offline: with every socket blocked, the personal-data rule (Presidio + spaCy) still
works, and nothing even tries to reach the network."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

BLOCKER = textwrap.dedent(
    '''
    """Loaded at start-up from PYTHONPATH: every network call is recorded and refused."""
    import os
    import socket
    import traceback

    _LOG = os.environ["CG_NETWORK_LOG"]


    def _refuse(what):
        def refused(*args, **kwargs):
            with open(_LOG, "a", encoding="utf-8") as log:
                log.write(f"{what} {args!r}\\n")
                log.write("".join(traceback.format_stack(limit=8)) + "\\n")
            raise OSError(f"network use blocked by the offline test: {what}")

        return refused


    socket.socket.connect = _refuse("socket.connect")
    socket.socket.connect_ex = _refuse("socket.connect_ex")
    socket.socket.sendto = _refuse("socket.sendto")
    socket.create_connection = _refuse("socket.create_connection")
    socket.getaddrinfo = _refuse("socket.getaddrinfo")
    socket.gethostbyname = _refuse("socket.gethostbyname")
    socket.gethostbyname_ex = _refuse("socket.gethostbyname_ex")
    '''
)

MESSAGE = (
    "From: Oswin Thackeray <oswin.thackeray@ashdown.gov.uk>\n"
    "To: Lorcan Pettifer <lorcan.pettifer77@gmail.com>\n"
    "Subject: Housing case in Wickham Row\n"
    "Date: Thu, 05 Mar 2026 08:45:00 +0000\n\n"
    "Dear Lorcan,\n\nAs you asked: Mr Gareth Pumphrey of 22 Tollgate Lane, AD3 1QX, is in temporary "
    "accommodation while his housing application is assessed. His case reference is HSG/2026/0871.\n\n"
    "Kind regards\nOswin\n"
)


@pytest.fixture
def offline(tmp_path):
    """Environment variables that make a Python subprocess refuse (and record) all network use."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER, encoding="utf-8")
    log = tmp_path / "network.log"
    return {"PYTHONPATH": str(site), "CG_NETWORK_LOG": str(log)}, log


def test_the_blocker_works(offline):
    env, log = offline
    import os

    proc = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('localhost', 80)"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0 and "blocked by the offline test" in proc.stderr
    assert "socket.getaddrinfo" in log.read_text(encoding="utf-8")


@pytest.mark.slow
def test_personal_data_check_runs_with_the_network_blocked(cli, directory_path, offline, tmp_path):
    env, log = offline
    path = tmp_path / "case.eml"
    path.write_text(MESSAGE, encoding="utf-8")
    code, out, err = cli("check", "--directory", directory_path, "--format", "jsonl", path, env=env)
    assert code == 1, err
    rules = {f["rule"] for f in json.loads(out)["findings"]}
    assert "personal-data-to-private-address" in rules
    assert not log.exists(), "network use was attempted:\n" + log.read_text(encoding="utf-8")
    assert "Traceback" not in err


@pytest.mark.slow
def test_the_language_model_loads_from_the_package_with_the_network_blocked(offline):
    """The shipped model is read from site-packages: loading and scoring need no network."""
    env, log = offline
    import os

    code = (
        "import json; from correspondence_guard.detectors.language import load_model;"
        "m = load_model(); print(json.dumps({'path': str(m.path), 'scores': m.score(['Please pay the invoice.'])}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["path"].endswith("models/language")
    assert set(result["scores"][0]) == {
        "political-comment-on-council-email",
        "member-creates-legal-obligation",
        "member-instructs-officer",
        "personal-criticism-of-officer",
        "undue-pressure-on-officer",
    }
    assert all(0.0 <= v <= 1.0 for v in result["scores"][0].values())
    assert not log.exists(), "network use was attempted:\n" + log.read_text(encoding="utf-8")

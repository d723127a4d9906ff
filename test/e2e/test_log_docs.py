# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""docs/install.md's "Reading the controller's log" shows lines of the shape the controller prints.

For each format (``--zap-encoder=json`` and ``console``) a replica of alpha's controller runs alone and is made to
print the three lines the section shows: a publish, a refusal (salt-api refuses the login of a user it does not
know, named in the credentials Secret) and a stalled salt-api (frozen with SIGSTOP; the publish times out after
--publish-timeout).
Every line the docs show must match one the controller printed in its format: the same level, logger and message,
the same result, and the same fields. NODEALLOW_E2E_LOG_CAPTURE=<file> writes the lines seen, to update the docs.
"""

import json
import os
import re

from harness.binaries import REPO_ROOT
from harness.controller import CONTROLLER_NAMESPACE
from harness.processes import wait_until
from harness.salt import API_EAUTH, API_USER
from harness.system import CREDENTIALS_SECRET
from topology import ANCHORS, TEST_LABEL, WORKER_LABELS

INSTALL = REPO_ROOT / "docs" / "install.md"
PUBLISH_TIMEOUT = "4s"
# A console line: time, level, logger, message, then the fields as one JSON object.
_CONSOLE = re.compile(r"^(?P<ts>\S+)\t(?P<level>[A-Z]+)\t(?P<logger>\S+)\t(?P<msg>[^\t{]+?)\t(?P<fields>\{.*\})$")


def parse(line):
    """A log line of either format as ``{"level", "logger", "msg", ...fields}`` (level lower-case), or None."""
    if line.startswith("{"):
        entry = json.loads(line)
        entry.pop("ts", None)
        entry.pop("caller", None)
        entry.pop("stacktrace", None)
        return entry
    match = _CONSOLE.match(line)
    if not match:
        return None
    return {"level": match["level"].lower(), "logger": match["logger"], "msg": match["msg"],
            **json.loads(match["fields"])}


def shape(entry):
    """What a shown line and a printed one must share: level, logger, message, result and field names."""
    return entry["level"], entry["logger"], entry["msg"], entry.get("result"), tuple(sorted(entry))


def documented(fmt):
    """The log lines docs/install.md shows in its ```<fmt> blocks of the log section (``log-json``, ``log-console``)."""
    text = INSTALL.read_text(encoding="utf-8")
    blocks = re.findall(rf"```log-{fmt}\n(.*?)```", text, re.S)
    assert blocks, f"docs/install.md shows no ```log-{fmt} block"
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _printed(controller, msg, result):
    """The controller's parsed lines with message ``msg`` and ``result``."""
    entries = [(line, parse(line)) for line in controller.log_lines()]
    return [(line, e) for line, e in entries if e and e["msg"] == msg and e.get("result") == result]


def _run_scenarios(system, alpha, fmt):
    """Run one replica in format ``fmt`` through a publish, a refusal and a stall; return its controller."""
    replica = system.controller_replica("alpha", f"log-{fmt}",
                                        extra_args=[f"--zap-encoder={fmt}", f"--publish-timeout={PUBLISH_TIMEOUT}"])
    replica.start()
    try:
        alpha.kube.create_node(f"log-{fmt}-1", ["192.0.2.81"], labels=WORKER_LABELS)
        system.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"], "192.0.2.81"], timeout=90)

        alpha.kube.apply_secret(CONTROLLER_NAMESPACE, CREDENTIALS_SECRET,
                                {"username": "not-a-salt-user", "password": "x", "eauth": API_EAUTH})
        try:
            alpha.kube.create_node(f"log-{fmt}-2", ["192.0.2.82"], labels=WORKER_LABELS)
            wait_until(lambda: _printed(replica, "Publish", "refused"), timeout=60, what=f"a refused publish ({fmt})")
        finally:
            alpha.kube.apply_secret(CONTROLLER_NAMESPACE, CREDENTIALS_SECRET,
                                    {"username": API_USER, "password": system.salt.api_password, "eauth": API_EAUTH})
        # A refusal is retried at the next change, not with backoff.
        alpha.kube.delete_node(f"log-{fmt}-2")
        system.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"], "192.0.2.81"], timeout=120)

        system.salt.pause_api()
        try:
            alpha.kube.create_node(f"log-{fmt}-3", ["192.0.2.83"], labels=WORKER_LABELS)
            wait_until(lambda: _printed(replica, "Publish", "failure"), timeout=60, what=f"a timed-out publish ({fmt})")
        finally:
            system.salt.resume_api()
        system.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"], "192.0.2.81", "192.0.2.83"], timeout=120)
        # Back to the anchor alone, for the next format's run.
        alpha.kube.delete_nodes(TEST_LABEL)
        system.wait_allowed("db1", "alpha/workers", [ANCHORS["alpha"]], timeout=120)
    finally:
        replica.stop()
    return replica


def test_the_log_lines_the_docs_show_are_the_ones_printed(system, alpha):
    """Each format's shown publish, refusal and stall line has the shape of one the controller printed."""
    alpha.controller.stop()
    seen = {}
    try:
        for fmt in ("json", "console"):
            replica = _run_scenarios(system, alpha, fmt)
            seen[fmt] = {result: _printed(replica, "Publish", result)[-1][0]
                         for result in ("success", "refused", "failure")}
    finally:
        alpha.controller.start()
    capture = os.environ.get("NODEALLOW_E2E_LOG_CAPTURE")
    if capture:
        with open(capture, "w", encoding="utf-8") as fh:
            for fmt, lines in seen.items():
                fh.write(f"{fmt}\n" + "".join(f"{line}\n" for line in lines.values()))
    for fmt, lines in seen.items():
        printed = {result: shape(parse(line)) for result, line in lines.items()}
        shown = [parse(line) for line in documented(fmt)]
        assert all(shown), f"docs/install.md has a log-{fmt} line that is not a {fmt} log line"
        assert sorted(e.get("result") for e in shown) == sorted(printed), \
            f"docs/install.md's log-{fmt} lines should be one publish, one refusal and one stall"
        for entry in shown:
            assert shape(entry) == printed[entry.get("result")], (
                f"docs/install.md shows\n  {shape(entry)}\nthe controller prints\n  {printed[entry.get('result')]}")

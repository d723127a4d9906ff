# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""docs/install.md works as written: its Secrets, master settings and NodeAllowlist against the real system.

The NodeAllowlist example is applied as the docs show it, with only what differs on a test machine
changed: its name (the system already has a ``workers``), the URL (this system's salt-api) and plain HTTP.
"""

import re
import shlex
import subprocess

import yaml

from harness.binaries import REPO_ROOT
from harness.kube import parse_table
from harness.processes import wait_until
from harness.salt import API_EAUTH
from harness.system import CREDENTIALS_SECRET, SIGNING_KEY_SECRET
from tests.support import saltconfig

INSTALL = REPO_ROOT / "docs" / "install.md"
KUBECTL = REPO_ROOT / "bin" / "k8s" / "kubectl"


def _blocks(language):
    """Every ```<language> block of docs/install.md, as text."""
    return re.findall(rf"```{language}\n(.*?)```", INSTALL.read_text(encoding="utf-8"), re.S)


def _yaml_with(key):
    """The first YAML block of docs/install.md with top-level ``key``, parsed."""
    for block in _blocks("yaml"):
        parsed = yaml.safe_load(block)
        if isinstance(parsed, dict) and key in parsed:
            return parsed
    raise AssertionError(f"docs/install.md has no ```yaml block with a top-level {key!r}")


def _created_secrets():
    """``{name: {key: value}}`` of every ``kubectl create secret generic`` in docs/install.md."""
    secrets = {}
    for block in _blocks("sh"):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words[:4] == ["kubectl", "-n", "nodeallow-system", "create"] and words[4:6] == ["secret", "generic"]:
                literals = [w.split("=", 1)[1] for w in words if w.startswith("--from-literal=")]
                secrets[words[6]] = dict(literal.split("=", 1) for literal in literals)
    return secrets


def test_the_documented_secrets_are_the_ones_the_allowlist_names():
    """install.md creates the Secrets its NodeAllowlist references, with the keys the controller reads."""
    secrets = _created_secrets()
    salt = _yaml_with("spec")["spec"]["salt"]
    assert salt["signingKeySecretRef"]["name"] in secrets
    credentials = secrets[salt["credentialsSecretRef"]["name"]]
    assert set(credentials) == {"username", "password", "eauth"}
    # The eauth backend the Secret names is the one install.md's master config sets up, for that user.
    master = _yaml_with("external_auth")
    assert credentials["eauth"] in master["external_auth"]
    assert credentials["username"] in master["external_auth"][credentials["eauth"]]
    # And the harness runs exactly that: same Secret names, backend and user permissions.
    assert (salt["signingKeySecretRef"]["name"], salt["credentialsSecretRef"]["name"]) == (
        SIGNING_KEY_SECRET,
        CREDENTIALS_SECRET,
    )
    assert credentials["eauth"] == API_EAUTH


def test_the_install_master_config_is_the_documented_one():
    """install.md's short master config has the shape the harness runs (tests/support/saltconfig.py)."""
    docs = _yaml_with("reactor")
    ours = saltconfig.master_config(
        clusters={"prod-eu1": "k" * 64},
        reactor_file="/srv/reactor/nodeallow.sls",
        api_port=8000,
        users_file="/etc/salt/nodeallow-eauth",
        api_user="nodeallow",
    )
    assert set(docs) == set(ours)
    for key in ("ext_pillar", "engines", "external_auth"):
        assert docs[key] == ours[key], key
    assert [list(entry) for entry in docs["reactor"]] == [list(entry) for entry in ours["reactor"]]
    assert set(docs["nodeallow"]["clusters"]["prod-eu1"]) == set(ours["nodeallow"]["clusters"]["prod-eu1"])


def test_the_install_example_publishes_as_written(system, alpha):
    """The documented NodeAllowlist, pointed at this system's salt-api, logs in and gets Ready."""
    example = _yaml_with("spec")
    example["metadata"]["name"] = "install-docs"
    example["spec"]["salt"]["url"] = system.salt.api_url
    example["spec"]["salt"]["allowInsecureHTTP"] = True
    alpha.kube.create_allowlist(example)
    try:
        state = {}

        def ready():
            """Whether the example's current sequence is acknowledged and Ready (remembering its status)."""
            state["status"] = alpha.kube.get_allowlist("install-docs").get("status", {})
            conditions = {c["type"]: c for c in state["status"].get("conditions", [])}
            return (
                state["status"].get("publishedSequence", 0) >= 1
                and conditions.get("Ready", {}).get("status") == "True"
            )

        wait_until(ready, timeout=60, interval=0.5, what="the install.md example to be Ready")
    except Exception as exc:
        raise AssertionError(f"{exc}: status {state.get('status')}") from exc
    else:
        # What a user then sees: -o wide adds why it is (not) Ready, the acknowledged sequence and the URL.
        wide = subprocess.run(
            [str(KUBECTL), "--kubeconfig", alpha.kubeconfig, "get", "nodeallowlist", "install-docs", "-o", "wide"],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout
        row = parse_table(wide)[0]
        header = list(row)
        assert (row["READY"], row["URL"]) == ("True", system.salt.api_url), wide
        assert row["PUBLISHED SEQ"] == str(state["status"]["publishedSequence"]), wide
        assert "REASON" in header and "LAST ERROR" in header, wide
    finally:
        alpha.kube.delete_allowlist("install-docs")

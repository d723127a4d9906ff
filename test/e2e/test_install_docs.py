# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""docs/install.md works as written: its Secrets, master settings and NodeAllowlist against the real system.

The NodeAllowlist example is applied as the docs show it, with only what differs on a test machine
changed: its name (the system already has a ``workers``), the URL (this system's salt-api) and plain HTTP
(so no caBundle). The harness itself runs install.md's Salt commands (harness.installdoc): the eauth file
and the reactor copy of every test master are made by them.
"""

import grp
import os
import pathlib
import pwd
import shlex
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading

import pytest
import requests
import yaml

from harness import installdoc
from harness.binaries import REPO_ROOT
from harness.kube import parse_table
from harness.processes import wait_until
from harness.salt import API_EAUTH, API_USER
from harness.saltuser import SALT_USER
from harness.system import CREDENTIALS_SECRET, SIGNING_KEY_SECRET
from tests.support import saltconfig

KUBECTL = REPO_ROOT / "bin" / "k8s" / "kubectl"
SHIPPED_REACTOR = REPO_ROOT / "saltext-nodeallow" / "src" / "saltext" / "nodeallow" / "reactor" / "nodeallow.sls"
# The host name install.md's self-signed certificate is made for.
DOCUMENTED_HOST = "salt.example.com"
_blocks = installdoc.blocks


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
    # The documented placeholder names the certificate install.md makes; plain HTTP here needs none.
    assert example["spec"]["salt"].pop("caBundle") == "<base64 -w0 /etc/salt/tls/salt-api.crt>"
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


@pytest.fixture
def open_tmp():
    """A temporary folder below /tmp that the user salt may enter (pytest's tmp_path is root's only)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="nodeallow-docs-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _documented_install(target):
    """``(mode, owner, group)`` of install.md's ``install -m M -o O -g G /dev/null <target>``."""
    for words in (shlex.split(line) for line in installdoc.sh_block(target).splitlines() if line.strip()):
        if words[:1] == ["install"] and words[-1] == target:
            options = dict(zip(words[1:-2:2], words[2:-2:2], strict=True))
            return int(options["-m"], 8), options["-o"], options["-g"]
    raise AssertionError(f"docs/install.md has no `install ... {target}`")


def _owner(path):
    """``(mode, owner, group)`` of ``path``."""
    info = os.stat(path)
    return stat.S_IMODE(info.st_mode), pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


@pytest.mark.skipif(os.geteuid() != 0, reason="as root the harness makes the eauth file with install.md's commands")
def test_the_documented_eauth_file_lets_the_controller_log_in(system):
    """The eauth file has install.md's owner and mode, and salt-api, its master running as salt, logs in with it."""
    users_file = os.path.join(system.salt.etc, "nodeallow-eauth")
    documented = _documented_install("/etc/salt/nodeallow-eauth")
    assert documented == (0o640, "root", SALT_USER)
    assert _owner(users_file) == documented
    # And the config it names is the master's user's, as the same commands leave it.
    assert _owner(os.path.join(system.salt.etc, "master.d", "nodeallow.conf")) == (0o600, SALT_USER, SALT_USER)
    response = requests.post(f"{system.salt.api_url}/login", timeout=30,
                             json={"username": API_USER, "password": system.salt.api_password, "eauth": API_EAUTH})
    assert response.status_code == 200, response.text
    assert response.json()["return"][0]["token"]


def test_the_master_reads_the_reactor_install_md_copies(system):
    """The harness's master reads install.md's copy of the reactor (``nodeallow.reactor_file``): the shipped one."""
    with open(system.salt.reactor_file, encoding="utf-8") as fh:
        assert fh.read() == SHIPPED_REACTOR.read_text(encoding="utf-8")
    assert saltconfig.HOOK_TAG_PATTERN in system.salt.master_opts()["reactor"][0]
    assert system.salt.master_opts()["reactor"][0][saltconfig.HOOK_TAG_PATTERN] == [system.salt.reactor_file]


@pytest.mark.skipif(os.geteuid() != 0, reason="install.md's commands give the key to the group salt")
def test_the_documented_certificate_serves_tls_the_ca_bundle_trusts(open_tmp):
    """install.md's self-signed certificate: salt can read its key, and a client trusting it as caBundle connects.

    The commands run as written, with /etc/salt/ in a temporary folder; the TLS server is Python's, with the key
    read as the user salt, and the client checks the host name as the controller does.
    """
    etc = open_tmp / "etc"
    etc.mkdir()
    script = installdoc.run("openssl req", dict(os.environ), {installdoc.SALT_ETC: str(etc)})
    crt, key = etc / "tls" / "salt-api.crt", etc / "tls" / "salt-api.key"
    assert _owner(key) == (0o640, "root", SALT_USER), script
    subprocess.run(["setpriv", f"--reuid={SALT_USER}", f"--regid={SALT_USER}", "--init-groups", "cat", str(key)],
                   check=True, capture_output=True, timeout=30)

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(crt, key)
    client_context = ssl.create_default_context(cafile=str(crt))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            """Accept one connection and finish the handshake."""
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
                client_context.wrap_socket(raw, server_hostname=DOCUMENTED_HOST) as tls:
            tls.sendall(b"x")
            assert tls.getpeercert()["subjectAltName"] == (("DNS", DOCUMENTED_HOST),)
        server.join(timeout=30)

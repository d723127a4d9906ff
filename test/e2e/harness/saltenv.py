# Copyright 2026 The nodeallow Authors.
# SPDX-License-Identifier: Apache-2.0
"""A Salt installation with nodeallow installed from its release wheel, the way ``salt-pip install`` does.

``salt-pip install ./saltext_nodeallow-<version>-py3-none-any.whl`` (salt/scripts.py ``salt_pip``, 3006 and
3008 alike) runs the onedir's ``python -m pip install --target=<onedir>/extras-3.X`` with that folder on
PYTHONPATH; relenv's pip wrappers (relenv/runtime.py ``wrap_cmd_install``, ``wrap_req_command``) undo the
``ignore_installed`` that ``--target`` implies, so pip resolves the wheel's requirements (``salt>=3006.27``)
against what the onedir has installed and puts only what is missing into the extras folder, which a ``.pth``
file of the onedir puts first on ``sys.path``.

Here the "onedir" is a cached test virtualenv (bin/venv for 3008, bin/venv-3006 for 3006), which must stay
unmodified: each line gets a small environment of its own layered on it (a ``.pth`` that adds the cached
site-packages), stock pip installs the wheel into that environment resolving against everything installed
(``--no-index``: a requirement nothing installed satisfies fails the install instead of being fetched), and
every Salt daemon and command of that line runs with its interpreter. Nothing is put on PYTHONPATH: the
faster tests' shortcut (bin/saltext-site) stays out of the daemons' reach.

The wheel is built once per test process by hack/dist.sh, the script ``make dist`` runs.
"""

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile

from harness.binaries import REPO_ROOT

# Salt line -> the cached virtualenv hack/python-env.sh links for it.
VENVS = {"3008": REPO_ROOT / "bin" / "venv", "3006": REPO_ROOT / "bin" / "venv-3006"}
# The line of every daemon a test does not choose otherwise (the primary, requirements/tests.txt).
PRIMARY = "3008"


class InstallError(RuntimeError):
    """Building the wheel or installing it into a Salt environment failed; the message says what to run."""


@functools.cache
def _scratch():
    """A folder for this process's wheel and environments, readable by every user, removed at exit."""
    path = tempfile.mkdtemp(prefix="nodeallow-saltenv-", dir="/tmp")
    # Readable by all: Salt daemons that drop privileges (user: salt) import the extension from here.
    os.chmod(path, 0o755)
    atexit.register(shutil.rmtree, path, True)
    return path


def _run(argv, what, env=None, timeout=600):
    """Run ``argv``; raise :class:`InstallError` naming ``what`` and the output when it fails."""
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=REPO_ROOT, check=False)
    if proc.returncode != 0:
        raise InstallError(f"{what}: `{' '.join(map(str, argv))}` exited {proc.returncode}:\n"
                           f"{(proc.stderr or proc.stdout).strip()[-3000:]}")
    return proc.stdout


@functools.cache
def wheel():
    """Build the extension's sdist and wheel with hack/dist.sh (as ``make dist``); return the wheel's path."""
    out = os.path.join(_scratch(), "dist")
    printed = _run(["bash", REPO_ROOT / "hack" / "dist.sh", out], "building the release wheel (make dist)")
    return printed.strip().splitlines()[-1]


def _clean_env():
    """The caller's environment without PYTHONPATH (bin/saltext-site must not shadow the installed wheel)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # ip, nft, iptables live in sbin; a non-login root shell may lack them.
    env["PATH"] = env.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    return env


class SaltInstall:
    """Salt of one line (``3008``, ``3006``) with the release wheel installed: how to run its tools."""

    def __init__(self, line, root, venv):
        """Describe the environment in ``root`` layered on the cached virtualenv ``venv``."""
        self.line = line
        self.root = root
        self.venv = venv
        self.python = os.path.join(root, "bin", "python")
        # The test virtualenvs and this process run one CPython (3.11, hack/python-env.sh).
        self.site_packages = os.path.join(root, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}",
                                          "site-packages")

    def command(self, tool, *args):
        """The argv running Salt's ``tool`` (``salt-master``, ``salt-run``, ...) of this installation."""
        return [self.python, os.path.join(self.venv, "bin", tool), *map(str, args)]

    def environ(self):
        """The environment Salt's processes of this installation run with."""
        return _clean_env()

    @property
    def extension_dir(self):
        """Where the wheel put the package ``saltext.nodeallow`` (its shipped reactor file is below it)."""
        return self.site_packages


def install(line=PRIMARY):
    """The :class:`SaltInstall` of ``line``, built once per process: the layered environment with the wheel."""
    return _install(line)


@functools.cache
def _install(line):
    """Build :func:`install`'s environment for ``line`` (cached per line, however the caller spelled it)."""
    venv = VENVS.get(line)
    if venv is None:
        raise InstallError(f"unknown Salt line {line!r}; known: {sorted(VENVS)}")
    if not (venv / "bin" / "python").exists():
        rerun = "bash hack/python-env.sh" + ("" if line == PRIMARY else f" {line}")
        raise InstallError(f"{venv} is missing: build the Salt {line} test environment with `{rerun}`")
    venv = os.path.realpath(venv)
    root = os.path.join(_scratch(), f"salt-{line}")
    env = _clean_env()
    _run([os.path.join(venv, "bin", "python"), "-m", "venv", "--without-pip", root],
         f"creating the Salt {line} environment", env=env)
    cached_site = _run([os.path.join(venv, "bin", "python"), "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       "asking the cached virtualenv for its site-packages", env=env).strip()
    salt_install = SaltInstall(line, root, venv)
    # As the onedir's own site-packages: processed as a site dir (its .pth files too), after ours.
    with open(os.path.join(salt_install.site_packages, "nodeallow-salt-base.pth"), "w", encoding="utf-8") as fh:
        fh.write(f"import site; site.addsitedir({cached_site!r})\n")
    # pip is the cached virtualenv's (seen through the .pth); the wheel's requirements resolve against
    # everything installed, and --no-index lets nothing else in.
    _run([salt_install.python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
          "--no-input", "--progress-bar", "off", wheel()],
         f"installing {os.path.basename(wheel())} into the Salt {line} environment", env=env)
    return salt_install

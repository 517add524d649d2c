"""Where the fused kernel is built and what a user is told while it is."""

import os
import subprocess
import sys

import torch

from bohb_das import kernels


def test_each_torch_install_builds_in_its_own_directory_named_by_version_and_abi(monkeypatch):
    here = kernels.build_directory()
    assert here.name.startswith(f"torch-{torch.__version__}-cxx11abi{int(torch._C._GLIBCXX_USE_CXX11_ABI)}-")
    monkeypatch.setattr(torch, "__file__", "/another/venv/lib/python3.11/site-packages/torch/__init__.py")
    elsewhere = kernels.build_directory()
    assert elsewhere.parent == here.parent and elsewhere != here


def test_a_first_build_is_announced_and_a_failed_one_falls_back(tmp_path):
    """A fresh cache directory: the build is announced before it starts; with no working compiler it
    fails, and the plain PyTorch path is used with a warning (not an error). In a process of its
    own: torch renames an extension loaded twice with other settings in one process, which would
    make every later process rebuild the real one."""
    code = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(message)s'); "
            "from bohb_das import kernels; sys.exit(kernels.load() is not None)")
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path), "CXX": "/bin/false"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"compiling the CPU kernel (once for this torch install, about a minute) in {tmp_path / 'kernels'}" in done.stderr
    assert "fused CPU kernel unavailable, using plain PyTorch" in done.stderr

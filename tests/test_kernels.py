"""Where the fused kernel is built and what a user is told while it is."""

import logging
from pathlib import Path

import pytest
import torch

from bohb_das import kernels


def test_each_torch_install_builds_in_its_own_directory_named_by_version_and_abi(monkeypatch):
    here = kernels.build_directory()
    assert here.name.startswith(f"torch-{torch.__version__}-cxx11abi{int(torch._C._GLIBCXX_USE_CXX11_ABI)}-")
    monkeypatch.setattr(torch, "__file__", "/another/venv/lib/python3.11/site-packages/torch/__init__.py")
    elsewhere = kernels.build_directory()
    assert elsewhere.parent == here.parent and elsewhere != here


def test_a_first_build_is_announced_and_a_failed_one_falls_back(monkeypatch, tmp_path, caplog):
    """A fresh cache directory: the build is announced before it starts; with no working compiler it
    fails, and the plain PyTorch path is used with a warning (not an error)."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "/bin/false")
    kernels.load.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger="bohb_das"), pytest.warns(UserWarning, match="using plain PyTorch"):
            assert kernels.load() is None
    finally:
        kernels.load.cache_clear()
    assert any("compiling the CPU kernel (once for this torch install, about 40 s)" in r.message for r in caplog.records)
    assert Path(caplog.records[0].args[0]).parent == tmp_path / "kernels"

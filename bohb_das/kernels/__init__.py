"""A fused CPU kernel for the operations' small networks, compiled on first use.

On a CPU the networks are memory-bound: the hidden layer (trials x batch x length x channels) is
written and re-read about a dozen times per training step. The kernel in ``fused_net.cpp`` computes
the network a block of batch rows at a time with vectors across the batch, and recomputes the hidden
layer in the backward pass instead of storing it; both passes run near the cores' FMA throughput
(measured: ``bohb-das bench``). The train-mode BatchNorm statistics of its first convolution come
from the taps' moments, one more small kernel (``TapMoments``). Where it cannot be built,
or with ``BOHB_DAS_KERNEL=torch``, and always on CUDA, the plain PyTorch formulation in
``bohb_das.operations`` runs instead; the two agree to rounding (tested).

It is compiled with the machine's own instruction set (``-march=native``, so it cannot ship
prebuilt) the first time it is needed, 40-60 s, announced on the ``bohb_das`` logger, which the
command line prints. Each build has its own directory under the user cache (``TORCH_EXTENSIONS_DIR``
overrides it), named by torch version and C++ ABI plus a digest of the torch installation, the
processor, the source and the flags: virtual environments with other torch builds no longer rebuild
over each other (torch's extension loader rebuilds whenever the compile command changes, and the
include paths of each environment are part of it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import sys
import warnings
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import platformdirs
import torch

SOURCE = Path(__file__).with_name("fused_net.cpp")
# -fopenmp compiles at::parallel_for (an OpenMP loop in a header) into the kernel; it is not linked
# separately: the GOMP symbols resolve to the OpenMP runtime that torch has already loaded.
CFLAGS = ["-O3", "-march=native", "-fopenmp"]
NAME = "bohb_das_fused"

log = logging.getLogger("bohb_das")


def build_directory() -> Path:
    """Where this torch installation's build of the kernel for this processor lives."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        flags = platform.processor()
    parts = [str(Path(torch.__file__).resolve().parent), flags, SOURCE.read_text(), *CFLAGS]
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]
    root = os.environ.get("TORCH_EXTENSIONS_DIR") or platformdirs.user_cache_dir("bohb-das")
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    return Path(root) / "kernels" / f"torch-{torch.__version__}-cxx11abi{abi}-{digest}"


@lru_cache(maxsize=1)
def load() -> ModuleType | None:
    """The compiled extension, or None (with one warning) where it is disabled or cannot be built."""
    if os.environ.get("BOHB_DAS_KERNEL", "fused") == "torch":
        return None
    # torch looks for ninja on PATH; pip installs it beside this interpreter, which an unactivated
    # virtual environment does not put on PATH.
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    directory = build_directory()
    try:
        from torch.utils.cpp_extension import load as build

        directory.mkdir(parents=True, exist_ok=True)
        if not any(directory.glob(f"{NAME}*.so")):
            log.info("compiling the CPU kernel (once for this torch install, about a minute) in %s", directory)
        return build(name=NAME, sources=[str(SOURCE)], extra_cflags=CFLAGS, build_directory=str(directory),
                     verbose=False)
    except Exception as exc:  # a missing compiler or ninja: fall back, never fail a run over speed
        warnings.warn(f"bohb-das: fused CPU kernel unavailable, using plain PyTorch ({exc})", stacklevel=2)
        return None


class FusedNet(torch.autograd.Function):
    """``out = conv2(relu(conv1(u) folded with BatchNorm))`` with the weights given per trial.

    u: (T, B, N); w1: (T, 3, C); shift: (T, C); w2t: (T, 3, C), the second convolution transposed;
    ``active``: (T,) bool, the trials to compute (default all): the others, whose network the caller
    weights 0, get an output and gradients of 0 without being computed.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, w1: torch.Tensor, shift: torch.Tensor, w2t: torch.Tensor,
                active: torch.Tensor | None = None) -> torch.Tensor:
        u, w1, shift, w2t = (x.contiguous() for x in (u, w1, shift, w2t))
        active = torch.ones(len(u), dtype=torch.bool) if active is None else active.to("cpu", torch.bool).contiguous()
        ctx.save_for_backward(u, w1, shift, w2t, active)
        return load().forward(u, w1, shift, w2t, active)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        return (*load().backward(grad.contiguous(), *ctx.saved_tensors), None)


class TapMoments(torch.autograd.Function):
    """(T, 3) mean and (T, 3, 3) covariance of the zero-padded taps of u: (T, B, N), as
    ``bohb_das.operations.mixed.tap_moments`` computes them, in one pass instead of a dozen."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = u.contiguous()
        mean, cov = load().tap_moments(u)
        ctx.save_for_backward(u, mean)
        return mean, cov

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_cov: torch.Tensor) -> torch.Tensor:
        u, mean = ctx.saved_tensors
        return load().tap_moments_backward(u, mean, grad_mean.contiguous(), grad_cov.contiguous())


def fused_available(device: torch.device) -> bool:
    return device.type == "cpu" and load() is not None

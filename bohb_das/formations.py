"""Data formations: the ground-truth signal model, the forward operator A, and PSNR.

The 1-D operators are small (50 samples), so each is held as a dense matrix: A x, A^T y and the
normal operator A^T A are single matrix products, and the adjoint is exact by construction. New
formations (denoising, inpainting, ...) register a builder in ``FORMATIONS``; the search code only
uses the ``Formation`` interface. The blur's units, the measurement noise and the PSNR peak are
readings of the paper that a ``Profile`` fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from bohb_das.errors import ConfigError
from bohb_das.profiles import Profile, load_profile

SIGNAL_LENGTH = 50
BLUR_TAPS = 7
BLUR_SIGMA = 0.2
DOWNSAMPLING_FACTOR = 4
VALIDATION_SIZE = 2432
VALIDATION_SEED = 20_240_601


@dataclass(frozen=True)
class Formation:
    """A linear measurement ``y = A x + n``; ``matrix`` is A with shape (measurements, SIGNAL_LENGTH),
    built under ``profile``, which every trial on this formation then follows (its blur units and
    noise here; its roll, losses, PSNR peak and residual form in training)."""

    name: str
    matrix: torch.Tensor
    profile: Profile

    @property
    def noise_std(self) -> float:
        return self.profile.noise_std

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "Formation":
        return Formation(self.name, self.matrix.to(device=device, dtype=dtype), self.profile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """A x over the last dimension."""
        return x @ self.matrix.T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """A^T y over the last dimension."""
        return y @ self.matrix

    def normal_matrix(self) -> torch.Tensor:
        """A^T A, so that a gradient step on 1/2||Au - y||^2 costs one product: u @ AtA - A^T y."""
        return self.matrix.T @ self.matrix

    def measure(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``noise`` is standard normal with the shape of A x."""
        return self.forward(x) + self.noise_std * noise


def gaussian_kernel(units: str = "support", taps: int = BLUR_TAPS, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Normalized Gaussian; sigma is measured in ``units`` (``bohb_das.profiles.BLUR_UNITS``): on the
    support scaled to [-1, 1], in the units of the signal's domain w, or in grid samples."""
    if units == "support":
        t = torch.linspace(-1.0, 1.0, taps, dtype=torch.float64)
    else:
        spacing = math.pi / (SIGNAL_LENGTH - 1) if units == "domain" else 1.0
        t = (torch.arange(taps, dtype=torch.float64) - taps // 2) * spacing
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def blur_matrix(units: str = "support", length: int = SIGNAL_LENGTH) -> torch.Tensor:
    """'Same' 1-D convolution with zero boundary, written out as a (length, length) matrix."""
    kernel = gaussian_kernel(units)
    half = len(kernel) // 2
    matrix = torch.zeros(length, length, dtype=torch.float64)
    for row in range(length):
        for k, weight in enumerate(kernel):
            col = row + k - half
            if 0 <= col < length:
                matrix[row, col] = weight
    return matrix


def _blur(profile: Profile) -> Formation:
    return Formation("blur", blur_matrix(profile.blur_units), profile)


def _downsampling(profile: Profile) -> Formation:
    return Formation("downsampling", blur_matrix(profile.blur_units)[::DOWNSAMPLING_FACTOR], profile)


FORMATIONS: dict[str, Callable[[Profile], Formation]] = {"blur": _blur, "downsampling": _downsampling}


def get_formation(name: str, profile: Profile | str | None = None) -> Formation:
    """The formation ``name`` under ``profile`` (default: the default profile)."""
    if name not in FORMATIONS:
        raise ConfigError(f"unknown formation {name!r} (known: {', '.join(FORMATIONS)})")
    return FORMATIONS[name](load_profile(profile))


def grid(length: int = SIGNAL_LENGTH, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.linspace(-math.pi / 2, math.pi / 2, length, dtype=dtype)


def cosine_signals(uniform: torch.Tensor, normal: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x = cos(f w + Ox) + Oy`` with f = 2 pi * uniform[..., 0] and (Ox, Oy) = normal[..., :2]."""
    f = 2 * math.pi * uniform[..., :1]
    return torch.cos(f * w.to(f) + normal[..., :1]) + normal[..., 1:2]


Draw = Callable[..., torch.Tensor]


def sample_batch(formation: Formation, size: int, rand: Draw, randn: Draw) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh (x, y) batch of ``size`` samples.

    ``rand(*shape)`` / ``randn(*shape)`` draw U[0, 1) / N(0, 1) and may prepend leading dimensions
    (one per trial): the draws always happen in the same order, so a trial's data depends only on
    its own generator.
    """
    x = cosine_signals(rand(size, 1), randn(size, 2), grid(formation.matrix.shape[1]))
    x = x.to(formation.matrix)
    return x, formation.measure(x, randn(size, formation.matrix.shape[0]).to(formation.matrix))


def validation_set(formation: Formation) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed validation set: the same samples for every trial, method and config of a formation.

    Drawn on the CPU in float64 and then cast, so it is identical on every device and dtype.
    """
    g = torch.Generator().manual_seed(VALIDATION_SEED)
    cpu = formation.to("cpu", torch.float64)
    x, y = sample_batch(
        cpu,
        VALIDATION_SIZE,
        lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64),
        lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64),
    )
    return x.to(formation.matrix), y.to(formation.matrix)


def peak_of(truth: torch.Tensor, peak: str) -> torch.Tensor | float:
    """The PSNR peak of every sample (``bohb_das.profiles.PEAKS``)."""
    if peak == "range":
        return truth.amax(-1) - truth.amin(-1)
    if peak == "max_abs":
        return truth.abs().amax(-1)
    if peak == "max":
        return truth.amax(-1)
    return 1.0


def sample_psnr(estimate: torch.Tensor, truth: torch.Tensor, peak: str = "range") -> torch.Tensor:
    """10 log10(peak^2 / mse) of every sample (last dimension = signal)."""
    peak = peak_of(truth, peak)
    mse = ((estimate - truth) ** 2).mean(-1)
    return 10 * torch.log10(peak**2 / mse)


def psnr(estimate: torch.Tensor, truth: torch.Tensor, peak: str = "range") -> torch.Tensor:
    """Mean PSNR over the samples (second-to-last dimension); leading dimensions are kept."""
    return sample_psnr(estimate, truth, peak).mean(-1)


def backprojection_psnr(formation: Formation) -> float:
    """The floor every learned reconstruction should beat: PSNR of ``u0 = A^T y``."""
    x, y = validation_set(formation.to("cpu", torch.float64))
    return float(psnr(formation.adjoint(y), x, formation.profile.psnr_peak))

"""The paper's 1-D problems: cosine signals, blurred (``blur``) or blurred and subsampled by 4
(``downsampling``), plus noise; and ``denoise``, the identity operator with the same noise (the task
of CLEARER, the related work's multi-scale search, on the paper's signals).

The operators are small (50 samples), so each is a dense matrix: ``A x``, ``A^T y`` and the normal
operator ``A^T A`` are single matrix products, and the adjoint is exact by construction. The blur's
units are a reading of the paper that the ``Profile`` fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from bohb_das.problems import PROBLEMS
from bohb_das.problems.base import Draw, Problem
from bohb_das.profiles import Profile

SIGNAL_LENGTH = 50
BLUR_TAPS = 7
BLUR_SIGMA = 0.2
DOWNSAMPLING_FACTOR = 4


@dataclass(frozen=True)
class DenseProblem1D(Problem):
    """Cosine ground truth and a dense measurement matrix ``A`` of shape (measurements, SIGNAL_LENGTH)."""

    name: str
    matrix: torch.Tensor
    profile: Profile
    normal: torch.Tensor = field(init=False, repr=False)  # A^T A in the matrix's dtype

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", self.matrix.T @ self.matrix)

    @property
    def signal_shape(self) -> tuple[int, ...]:
        return (self.matrix.shape[1],)

    @property
    def measurement_shape(self) -> tuple[int, ...]:
        return (self.matrix.shape[0],)

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "DenseProblem1D":
        return DenseProblem1D(self.name, self.matrix.to(device=device, dtype=dtype), self.profile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.matrix

    def data_gradient(self, u: torch.Tensor, u0: torch.Tensor) -> torch.Tensor:
        """One product with the precomputed normal matrix: ``u A^T A - u0``."""
        return u @ self.normal - u0

    def ground_truth(self, size: int, rand: Draw, randn: Draw) -> torch.Tensor:
        return cosine_signals(rand(size, 1), randn(size, 2), grid(self.matrix.shape[1])).to(self.matrix)


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


def grid(length: int = SIGNAL_LENGTH, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.linspace(-math.pi / 2, math.pi / 2, length, dtype=dtype)


def cosine_signals(uniform: torch.Tensor, normal: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x = cos(f w + Ox) + Oy`` with f = 2 pi * uniform[..., 0] and (Ox, Oy) = normal[..., :2]."""
    f = 2 * math.pi * uniform[..., :1]
    return torch.cos(f * w.to(f) + normal[..., :1]) + normal[..., 1:2]


@PROBLEMS.register("blur")
def blur(profile: Profile) -> DenseProblem1D:
    return DenseProblem1D("blur", blur_matrix(profile.blur_units), profile)


@PROBLEMS.register("downsampling")
def downsampling(profile: Profile) -> DenseProblem1D:
    return DenseProblem1D("downsampling", blur_matrix(profile.blur_units)[::DOWNSAMPLING_FACTOR], profile)


@PROBLEMS.register("denoise")
def denoise(profile: Profile) -> DenseProblem1D:
    return DenseProblem1D("denoise", torch.eye(SIGNAL_LENGTH, dtype=torch.float64), profile)

"""The problem interface: a signal model, a linear measurement ``y = A x + n`` and its PSNR.

Every tensor carries leading dimensions (trials and/or batch) before the signal's own
``signal_shape``; losses and PSNRs reduce over the signal's dimensions only, so nothing outside a
problem knows whether a signal is a curve or an image. A problem computes its own forward operator,
adjoint and data-term gradient (a dense matrix, an FFT or a convolution: its choice). The measurement
noise and the PSNR peak are readings of the paper that a ``Profile`` fixes, the same for every problem.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import torch

from bohb_das.profiles import Profile

BATCH_SIZE = 128
VALIDATION_SIZE = 2432
VALIDATION_SEED = 20_240_601

#: ``rand(*shape)`` / ``randn(*shape)``: U[0, 1) / N(0, 1) draws, which may prepend leading dimensions
#: (one per trial): a problem draws in a fixed order, so a trial's data depends only on its generator.
Draw = Callable[..., torch.Tensor]


class Problem(ABC):
    """A problem on a device and dtype (``to`` gives a copy elsewhere)."""

    name: str
    profile: Profile
    batch_size: int = BATCH_SIZE  # signals per training step
    validation_size: int = VALIDATION_SIZE

    @property
    @abstractmethod
    def signal_shape(self) -> tuple[int, ...]:
        """The shape of one ground-truth signal (and of every estimate of it)."""

    @property
    @abstractmethod
    def measurement_shape(self) -> tuple[int, ...]:
        """The shape of one measurement ``y``."""

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @property
    @abstractmethod
    def dtype(self) -> torch.dtype: ...

    @abstractmethod
    def to(self, device: torch.device | str, dtype: torch.dtype) -> "Problem": ...

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` over the signal's dimensions."""

    @abstractmethod
    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y`` over the measurement's dimensions."""

    @abstractmethod
    def ground_truth(self, size: int, rand: Draw, randn: Draw) -> torch.Tensor:
        """``size`` fresh training signals of the signal model, on this problem's device and dtype."""

    def validation_truth(self, size: int, rand: Draw, randn: Draw) -> torch.Tensor:
        """The validation signals' model: the training one unless a problem holds data apart (images)."""
        return self.ground_truth(size, rand, randn)

    def data_gradient(self, u: torch.Tensor, u0: torch.Tensor) -> torch.Tensor:
        """``A^T (A u - y)`` given ``u0 = A^T y``: the gradient of ``1/2 ||A u - y||^2``."""
        return self.adjoint(self.forward(u)) - u0

    @property
    def noise_std(self) -> float:
        return self.profile.noise_std

    @property
    def signal_dims(self) -> tuple[int, ...]:
        return tuple(range(-len(self.signal_shape), 0))

    def sample(self, size: int, rand: Draw, randn: Draw, validation: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """A fresh (x, y) batch: ground truth, then its measurement with the profile's noise."""
        x = (self.validation_truth if validation else self.ground_truth)(size, rand, randn)
        return x, self.forward(x) + self.noise_std * randn(size, *self.measurement_shape).to(x)

    def validation_set(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed validation set: the same samples for every trial, method and configuration.
        Drawn on the CPU in float64 and then cast, so it is identical on every device and dtype."""
        g = torch.Generator().manual_seed(VALIDATION_SEED)
        x, y = self.to("cpu", torch.float64).sample(
            self.validation_size,
            lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64),
            lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64),
            validation=True,
        )
        return x.to(self.device, self.dtype), y.to(self.device, self.dtype)

    def sample_psnr(self, estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """``10 log10(peak^2 / mse)`` of every signal, with the profile's peak (``profiles.PEAKS``)."""
        dims = self.signal_dims
        peak = self.profile.psnr_peak
        if peak == "range":
            top: torch.Tensor | float = truth.amax(dims) - truth.amin(dims)
        elif peak == "max_abs":
            top = truth.abs().amax(dims)
        elif peak == "max":
            top = truth.amax(dims)
        else:
            top = 1.0
        return 10 * torch.log10(top**2 / ((estimate - truth) ** 2).mean(dims))

    def psnr(self, estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        """Mean PSNR over the signals (the last dimension before the signal's); leading ones are kept."""
        return self.sample_psnr(estimate, truth).mean(-1)

    def backprojection_psnr(self) -> float:
        """The floor every learned reconstruction should beat: PSNR of ``u0 = A^T y``."""
        problem = self.to("cpu", torch.float64)
        x, y = problem.validation_set()
        return float(problem.psnr(problem.adjoint(y), x))

"""2-D image restoration on natural-image patches: ``deblur2d`` (Gaussian blur and noise),
``superres2d`` and ``superres2d_x4`` (the blur, then every 2nd / 4th pixel of each axis, and noise),
and ``denoise2d`` (noise alone: the identity operator, CLEARER's task).

Ground truth: 32x32 grayscale patches in [0, 1] on a stride-16 grid over scikit-image's bundled
sample photographs (shipped inside the package: nothing is downloaded). Training patches come from
six photographs and validation patches from two others, so that a score is measured on images the
networks never saw. The blur is a zero-padded 7x7 Gaussian of sigma 1.5 pixels. Gaussian blur and
subsampling act on each axis alone, so the operator is ``A x = R x R^T`` with one small (32 / factor,
32) matrix ``R``: the adjoint is exact by construction and the data-term gradient is two products
with ``R^T R`` (PyTorch's 7x7 Conv2d backward took 60 ms a call on these CPUs; the products take
well under one). The noise and the PSNR peak come from the profile, as for the 1-D problems (with
the ``paper`` profile: noise 0.1, peak 1, the usual PSNR of [0, 1] images).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import torch

from bohb_das.problems import PROBLEMS
from bohb_das.problems.base import Draw, Problem
from bohb_das.profiles import Profile

PATCH = 32
STRIDE = 16
BLUR_TAPS_2D = 7
BLUR_SIGMA_2D = 1.5
TRAIN_IMAGES = ("camera", "astronaut", "coffee", "chelsea", "rocket", "coins")
VALIDATION_IMAGES = ("moon", "motorcycle")
#: Patches per training step and in the validation set (one ``training.EVAL_CHUNK``): a patch has 20x
#: the samples of a 1-D signal, so 16 patches a step carry about as many pixels as 128 signals.
BATCH_SIZE_2D = 16
VALIDATION_SIZE_2D = 608


@functools.lru_cache(maxsize=None)
def patches(images: tuple[str, ...]) -> torch.Tensor:
    """(P, PATCH, PATCH) float64 patches of the named sample images (grayscale, [0, 1])."""
    from skimage import color, data  # only the 2-D problems need scikit-image

    out = []
    for name in images:
        image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        gray = torch.from_numpy(color.rgb2gray(image) if image.ndim == 3 else image / 255.0).double()
        out.append(gray.unfold(0, PATCH, STRIDE).unfold(1, PATCH, STRIDE).reshape(-1, PATCH, PATCH))
    return torch.cat(out)


def axis_matrix(factor: int, taps: int = BLUR_TAPS_2D, sigma: float = BLUR_SIGMA_2D) -> torch.Tensor:
    """(PATCH // factor, PATCH): the zero-padded 1-D Gaussian blur (sigma in pixels) of one axis,
    then every ``factor``-th sample."""
    t = torch.arange(taps, dtype=torch.float64) - taps // 2
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    matrix = torch.zeros(PATCH, PATCH, dtype=torch.float64)
    for row in range(PATCH):
        for k, weight in enumerate(kernel):
            if 0 <= row + k - taps // 2 < PATCH:
                matrix[row, row + k - taps // 2] = weight
    return matrix[::factor].contiguous()


@dataclass(frozen=True)
class ImageProblem(Problem):
    """``A x = R x R^T``: blur each axis, then keep every ``factor``-th pixel (1: deblurring)."""

    name: str
    profile: Profile
    matrix: torch.Tensor  # R, (PATCH // factor, PATCH)
    train: torch.Tensor  # (P, PATCH, PATCH) training patches
    validation: torch.Tensor  # validation patches
    batch_size: int = BATCH_SIZE_2D
    validation_size: int = VALIDATION_SIZE_2D

    @property
    def signal_shape(self) -> tuple[int, ...]:
        return (PATCH, PATCH)

    @property
    def measurement_shape(self) -> tuple[int, ...]:
        return (self.matrix.shape[0], self.matrix.shape[0])

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    def to(self, device: torch.device | str, dtype: torch.dtype) -> "ImageProblem":
        return replace(self, **{k: getattr(self, k).to(device=device, dtype=dtype) for k in ("matrix", "train", "validation")})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.matrix @ x @ self.matrix.T

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.matrix.T @ y @ self.matrix

    def data_gradient(self, u: torch.Tensor, u0: torch.Tensor) -> torch.Tensor:
        normal = self.matrix.T @ self.matrix
        return normal @ u @ normal - u0

    def ground_truth(self, size: int, rand: Draw, randn: Draw) -> torch.Tensor:
        return _draw(self.train, size, rand)

    def validation_truth(self, size: int, rand: Draw, randn: Draw) -> torch.Tensor:
        return _draw(self.validation, size, rand)


def _draw(pool: torch.Tensor, size: int, rand: Draw) -> torch.Tensor:
    """``size`` patches drawn uniformly from ``pool`` (one U[0, 1) draw each)."""
    index = (rand(size) * len(pool)).long().clamp_(max=len(pool) - 1)
    return pool[index.to(pool.device)]


def _image_problem(name: str, matrix: torch.Tensor, profile: Profile) -> ImageProblem:
    return ImageProblem(name, profile, matrix, patches(TRAIN_IMAGES), patches(VALIDATION_IMAGES))


@PROBLEMS.register("deblur2d")
def deblur2d(profile: Profile) -> ImageProblem:
    return _image_problem("deblur2d", axis_matrix(1), profile)


@PROBLEMS.register("superres2d")
def superres2d(profile: Profile) -> ImageProblem:
    return _image_problem("superres2d", axis_matrix(2), profile)


@PROBLEMS.register("superres2d_x4")
def superres2d_x4(profile: Profile) -> ImageProblem:
    return _image_problem("superres2d_x4", axis_matrix(4), profile)


@PROBLEMS.register("denoise2d")
def denoise2d(profile: Profile) -> ImageProblem:
    return _image_problem("denoise2d", torch.eye(PATCH, dtype=torch.float64), profile)

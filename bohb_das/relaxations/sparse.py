"""Sparsemax and sparsestmax (SSN / trilevel NAS): mixing weights exactly zero for weak operations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bohb_das.errors import ConfigError
from bohb_das.relaxations import RELAXATIONS, Relaxation
from bohb_das.rng import TrialStreams
from bohb_das.settings import SETTINGS, Settings, choice, setting


@SETTINGS.register("sparsestmax")
@dataclass(frozen=True)
class SparsestmaxSettings(Settings):
    sparsestmax_ramp: float = setting(1.0, "fraction of the search over which the radius grows", positive=True)
    sparsestmax_radius: str = choice("relative", "relative: the radius grows to a vertex's distance (one-hot) over the "
                                     "ramp; absolute: it grows to 1 (trilevel NAS's code, r = step / total), "
                                     "one-hot once it passes a vertex's distance", ("relative", "absolute"))

    def check(self) -> None:
        if self.sparsestmax_ramp > 1:
            raise ConfigError(f"sparsestmax_ramp is a fraction of the search in (0, 1], got {self.sparsestmax_ramp!r}")


def sparsemax(z: torch.Tensor) -> torch.Tensor:
    """The Euclidean projection of each row of ``z`` (last dimension) onto the probability simplex."""
    ordered, _ = z.sort(-1, descending=True)
    k = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cumulative = ordered.cumsum(-1)
    support = (1 + k * ordered > cumulative).sum(-1, keepdim=True)
    threshold = (cumulative.gather(-1, support - 1) - 1) / support.to(z.dtype)
    return torch.clamp(z - threshold, min=0)


def sparsestmax(z: torch.Tensor, radius: float | torch.Tensor) -> torch.Tensor:
    """The projection onto ``{w in simplex : ||w - u|| >= radius}``, u the simplex centre (SSN).

    Sparsemax first; a row inside the ball is pushed radially out from the centre of the face it
    lies on (on that face the ball is a ball around the face centre, of radius
    ``sqrt(r^2 - ||centre - u||^2)``); coordinates that turn negative leave the face, and the push is
    repeated on the smaller face, at most K times. At ``radius = sqrt(1 - 1/K)`` (a vertex's distance)
    every row ends one-hot.
    """
    k = z.shape[-1]
    radius = torch.as_tensor(radius, dtype=z.dtype, device=z.device)
    w = sparsemax(z)
    inside = ((w - 1 / k) ** 2).sum(-1, keepdim=True) < radius**2
    support = w > 0
    for _ in range(k):
        size = support.sum(-1, keepdim=True).to(z.dtype)
        centre = support.to(z.dtype) / size
        face_radius = torch.sqrt(torch.clamp(radius**2 - ((centre - 1 / k) ** 2).sum(-1, keepdim=True), min=0))
        offset = w - centre
        distance = offset.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(z.dtype).eps)
        w = torch.where(inside, centre + face_radius * offset / distance, w)
        support = support & (w > 0)
        kept = torch.where(support, w, torch.zeros_like(w))
        size = support.sum(-1, keepdim=True).clamp_min(1).to(z.dtype)
        w = torch.where(support, kept + (1 - kept.sum(-1, keepdim=True)) / size, kept)  # back onto the face
    return w


def max_radius(candidates: int) -> float:
    """The distance from the simplex centre to a vertex: sparsestmax's one-hot radius."""
    return math.sqrt(1 - 1 / candidates)


@RELAXATIONS.register("sparsemax")
class Sparsemax(Relaxation):
    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        return sparsemax(alpha)


@RELAXATIONS.register("sparsestmax")
class Sparsestmax(Relaxation):
    """The radius grows linearly over the first ``sparsestmax_ramp`` of the search: to one-hot
    (``relative``, the default), or to 1 whatever the number of candidates (``absolute``), so that
    an edge of few candidates turns one-hot earlier in the search than one of many."""

    def __call__(self, alpha: torch.Tensor, progress: float = 1.0, noise: TrialStreams | None = None) -> torch.Tensor:
        settings = self.hp.of(SparsestmaxSettings)
        fraction = min(1.0, progress / settings.sparsestmax_ramp)
        end = max_radius(alpha.shape[-1]) if settings.sparsestmax_radius == "relative" else 1.0
        return sparsestmax(alpha, fraction * end)

"""Per-trial random streams, so that a trial's numbers do not depend on the batch it runs in.

Every random draw of a trial (initial weights, training batches, the noise operation) comes from that
trial's own generators, derived from its seed and a stream name. Running T trials batched therefore
consumes exactly the same random numbers per trial as running each alone, which is what makes
"batched == one by one" testable.
"""

from __future__ import annotations

import zlib
from typing import Callable, Sequence

import numpy as np
import torch


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for (trial seed, stream name), well mixed by numpy's SeedSequence."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(stream.encode())]).generate_state(2)
    return (int(state[0]) << 31 ^ int(state[1])) & 0x7FFF_FFFF_FFFF_FFFF


class TrialStreams:
    """One generator per trial on ``device``; draws are stacked along a leading trial dimension."""

    def __init__(self, seeds: Sequence[int], stream: str, device: torch.device | str = "cpu") -> None:
        self.seeds, self.stream = list(seeds), stream
        self.generators = [
            torch.Generator(device=device).manual_seed(derive_seed(seed, stream)) for seed in seeds
        ]
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.generators)

    def state(self, rows: Sequence[int] | None = None) -> dict[int, torch.Tensor]:
        """The generator states of ``rows`` (default: every trial's)."""
        return {r: self.generators[r].get_state() for r in (range(len(self)) if rows is None else rows)}

    def set_state(self, states: dict[int, torch.Tensor]) -> None:
        """Rewinds generators to ``states`` (from :meth:`state`): replays the same draws."""
        for r, state in states.items():
            self.generators[r].set_state(state)

    def reset(self, rows: Sequence[int]) -> None:
        """Rewinds the generators of ``rows`` to their first draw."""
        for r in rows:
            self.generators[r].manual_seed(derive_seed(self.seeds[r], self.stream))

    def stack(self, draw: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
        return torch.stack([draw(g) for g in self.generators])

    def _fill(self, shape: tuple[int, ...], dtype: torch.dtype, draw: Callable[..., torch.Tensor]) -> torch.Tensor:
        """(T, *shape), row t filled in place by ``draw`` (``Tensor.normal_``, ``Tensor.uniform_``) from
        trial t's generator: the numbers of drawing each row alone and stacking, without the copy (this
        runs for every noise operation of every step)."""
        out = torch.empty(len(self), *shape, device=self.device, dtype=dtype)
        for row, generator in zip(out, self.generators):
            draw(row, generator=generator)
        return out

    def randn(self, *shape: int, dtype: torch.dtype) -> torch.Tensor:
        return self._fill(shape, dtype, torch.Tensor.normal_)

    def rand(self, *shape: int, dtype: torch.dtype) -> torch.Tensor:
        return self._fill(shape, dtype, torch.Tensor.uniform_)

    def uniform(self, *shape: int, bound: float, dtype: torch.dtype) -> torch.Tensor:
        """U(-bound, bound), the default PyTorch init of a conv layer with fan-in 3/bound**2."""
        return (self.rand(*shape, dtype=dtype) * 2 - 1) * bound

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
        self.generators = [
            torch.Generator(device=device).manual_seed(derive_seed(seed, stream)) for seed in seeds
        ]
        self.device = torch.device(device)

    def __len__(self) -> int:
        return len(self.generators)

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def set_state(self, states: Sequence[torch.Tensor]) -> None:
        """Rewinds every generator to ``states`` (from :meth:`state`): replays the same draws."""
        for generator, state in zip(self.generators, states):
            generator.set_state(state)

    def stack(self, draw: Callable[[torch.Generator], torch.Tensor]) -> torch.Tensor:
        return torch.stack([draw(g) for g in self.generators])

    def randn(self, *shape: int, dtype: torch.dtype) -> torch.Tensor:
        return self.stack(lambda g: torch.randn(*shape, generator=g, device=self.device, dtype=dtype))

    def rand(self, *shape: int, dtype: torch.dtype) -> torch.Tensor:
        return self.stack(lambda g: torch.rand(*shape, generator=g, device=self.device, dtype=dtype))

    def uniform(self, *shape: int, bound: float, dtype: torch.dtype) -> torch.Tensor:
        """U(-bound, bound), the default PyTorch init of a conv layer with fan-in 3/bound**2."""
        return self.stack(
            lambda g: (torch.rand(*shape, generator=g, device=self.device, dtype=dtype) * 2 - 1) * bound
        )

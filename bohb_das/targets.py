"""The two PSNRs a study optimizes or reports: one vocabulary for BOHB runs, tables and the CLI."""

from __future__ import annotations

from enum import Enum

from bohb_das.errors import ConfigError

#: Spellings of earlier versions (``optimize --target oneshot|final``), read so that their run
#: manifests resume and their scripts run; never written.
_EARLIER = {"oneshot": "one-shot", "final": "arch"}


class Target(str, Enum):
    """``arch``: the retrained architecture's validation PSNR (the paper's final target);
    ``one-shot``: the supernet's, at the end of the search."""

    ARCH = "arch"
    ONE_SHOT = "one-shot"

    @property
    def stem(self) -> str:
        """The stem of this PSNR's fields: ``{stem}_psnr`` in a trial record, ``{stem}_median`` in a summary."""
        return "arch" if self is Target.ARCH else "one_shot"

    @property
    def key(self) -> str:
        return f"{self.stem}_psnr"

    @property
    def label(self) -> str:
        return "architecture" if self is Target.ARCH else "one-shot"

    @classmethod
    def parse(cls, value: "str | Target") -> "Target":
        """A target from its name (or an earlier spelling); anything else is a one-line ConfigError."""
        try:
            return cls(_EARLIER.get(value, value))
        except ValueError:
            raise ConfigError(f"target must be one of {', '.join(t.value for t in cls)}, got {value!r}") from None

    def __str__(self) -> str:
        return self.value

"""The BOHB harness (hpbandster): search space and presets, workers, master, resume, query.

Only this package (and the CLI) imports hpbandster; ``compat.install()`` runs first in every process.
"""

"""The library's random number generator: one ``manual_seed`` makes every draw reproducible."""

from __future__ import annotations

import numpy as np


class Generator:
    """A seedable random source (``torch.Generator``); wraps a NumPy ``Generator``."""

    def __init__(self, seed: int | None = None) -> None:
        self._initial_seed = seed
        self.rng = np.random.default_rng(seed)

    def manual_seed(self, seed: int) -> Generator:
        self._initial_seed = int(seed)
        self.rng = np.random.default_rng(int(seed))
        return self

    def initial_seed(self) -> int | None:
        return self._initial_seed

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator: every random draw in minigrad becomes reproducible."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the default generator from OS entropy and return the seed used."""
    s = int(np.random.SeedSequence().entropy % (2**63))
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int | None:
    return default_generator.initial_seed()


def get_rng_state() -> dict:
    return default_generator.get_state()


def set_rng_state(state: dict) -> None:
    default_generator.set_state(state)


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: ``generator``'s or the default one."""
    return (generator or default_generator).rng

import os
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

# Tests read MNIST from the shared data folder beside the checkout unless told otherwise.
_shared = Path(__file__).resolve().parents[2] / "shared" / "data"
if "MINIGRAD_DATA" not in os.environ and _shared.is_dir():
    os.environ["MINIGRAD_DATA"] = str(_shared)


@pytest.fixture(autouse=True)
def _seed():
    mg.manual_seed(0)
    np.random.seed(0)
    yield

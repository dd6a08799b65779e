"""Shared test configuration: deterministic hypothesis settings and the PyTorch oracle guard.

* Hypothesis profile ``ci`` (loaded by default): no deadline (the first call into torch or
  into a cold NumPy path is slow), derandomized (the same examples on every run, so CI is
  reproducible), no example database written into the checkout, and no ``too_slow`` health
  check (the oracle tests deliberately run hundreds of examples). Set
  ``NDCONV_HYPOTHESIS_PROFILE=dev`` to explore with fresh random examples instead.
* The ``torch`` fixture (and :func:`oracle_util.require_torch`) returns the torch module. When
  torch is missing the oracle tests skip -- unless ``NDCONV_REQUIRE_TORCH=1`` (CI sets it),
  in which case they FAIL: the oracle must not silently disappear.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from oracle_util import require_torch

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("NDCONV_HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def torch() -> Any:
    """The torch module (the oracle); skips, or fails with NDCONV_REQUIRE_TORCH=1, without it.

    Session-scoped, so hypothesis' ``@given`` tests may use it (a function-scoped fixture
    would not be reset between examples). Torch runs single-threaded: the tensors here are
    tiny, and idle worker threads only slow both libraries down.
    """
    module = require_torch()
    module.set_num_threads(1)
    return module

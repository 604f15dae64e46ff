import os

# The suite runs on two pytest-xdist workers (the README's `-n 2`): each computes on one thread,
# so that the two do not oversubscribe the machine's cores (tests that ask for threads still get
# them). Set before torch, JAX or NumPy are imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Each property test sizes its own example count with @settings(max_examples=...), by what
# one example costs and how much of the input space it must cover; these are the fallbacks.
settings.register_profile("default", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# CI draws the same examples every run (seeded, as every random generator in the tests), so a
# red CI is reproducible; local runs draw fresh ones and keep failures in .hypothesis/.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="module")
def kernel_cache(tmp_path_factory):
    """Compiled C kernels go to a temporary cache shared by this session's tests, on every worker
    (concurrent builders are safe by design); yields its path."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "sympile-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMPILE_CACHE_DIR", str(path))
        yield path

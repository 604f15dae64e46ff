import os

import pytest
from hypothesis import HealthCheck, settings

# Each property test sizes its own example count with @settings(max_examples=...), by what
# one example costs and how much of the input space it must cover; these are the fallbacks.
settings.register_profile("default", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="module")
def kernel_cache(tmp_path_factory):
    """Compiled C kernels go to a temporary cache shared by this session's tests (its path)."""
    path = tmp_path_factory.getbasetemp() / "sympile-cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMPILE_CACHE_DIR", str(path))
        yield path

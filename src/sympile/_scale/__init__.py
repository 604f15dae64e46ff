"""Beyond one process: compiled functions over Dask arrays, and many fits on a cluster.

Importing this package registers the Dask handler with the call boundary
(`sympile._emit.wrapper.DEFERRED`); Dask itself is imported only when a handler runs.
"""

from .._emit.wrapper import DEFERRED


def _evaluate_dask(function, args, kwargs):
    from .blocks import evaluate

    return evaluate(function, args, kwargs)


DEFERRED["dask"] = _evaluate_dask

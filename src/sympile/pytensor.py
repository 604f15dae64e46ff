"""SymPy expressions as PyTensor graphs: for use inside PyTensor and PyMC models.

Also the ``lambdify(..., backend="pytensor")`` backend; see `to_pytensor` and `variables`.
"""

from ._backends.pytensor import to_pytensor as to_pytensor
from ._backends.pytensor import variables as variables

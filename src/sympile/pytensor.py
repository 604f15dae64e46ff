"""sympile's PyTensor face: SymPy expressions as PyTensor variables (for PyMC models and the like)."""

from ._functions.pytensor import to_pytensor as to_pytensor
from ._functions.pytensor import variables as variables

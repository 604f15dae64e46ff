"""sympile for PyTorch: `SymPyModule`, a faster, fixed drop-in for sympytorch's, and `hide_floats`.

Switching from sympytorch is one import line::

    from sympile.torch import SymPyModule, hide_floats
"""

from ._modules.torch_module import SymPyModule as SymPyModule
from ._sympy.floats import hide_floats as hide_floats

"""sympile for PyTorch: `SymPyModule`, a faster, fixed drop-in for sympytorch's, and `hide_floats`.

Switching from sympytorch is one import line::

    from sympile.torch import SymPyModule, hide_floats
"""

from ._floats import hide_floats as hide_floats
from ._torch_module import SymPyModule as SymPyModule

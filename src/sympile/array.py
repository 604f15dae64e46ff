"""Symbolic arrays, under SymNum's module path: ``import sympile.array`` where code imported ``symnum.array``.

`SymbolicArray` and `named_array` (also at the top level), `as_symbolic_array`, the predicates
``is_array``/``is_sympy_array``/``is_scalar``/``is_valid_shape``, dtype inference and the
broadcasting wrappers. See docs/arrays.md.
"""

from ._arrays.array_helpers import ArrayLike as ArrayLike
from ._arrays.array_helpers import ScalarLike as ScalarLike
from ._arrays.array_helpers import ShapeLike as ShapeLike
from ._arrays.array_helpers import SympyArray as SympyArray
from ._arrays.array_helpers import as_symbolic_array as as_symbolic_array
from ._arrays.array_helpers import binary_broadcasting_func as binary_broadcasting_func
from ._arrays.array_helpers import infer_array_dtype as infer_array_dtype
from ._arrays.array_helpers import infer_scalar_dtype as infer_scalar_dtype
from ._arrays.array_helpers import is_array as is_array
from ._arrays.array_helpers import is_scalar as is_scalar
from ._arrays.array_helpers import is_sympy_array as is_sympy_array
from ._arrays.array_helpers import is_valid_shape as is_valid_shape
from ._arrays.array_helpers import unary_elementwise_func as unary_elementwise_func
from ._arrays.symbolic_array import SymbolicArray as SymbolicArray
from ._arrays.symbolic_array import named_array as named_array

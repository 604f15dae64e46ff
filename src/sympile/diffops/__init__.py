"""Differential operators with SymNum's API, built by graph AD (see docs/arrays.md).

``sympile.diffops`` holds the compiled (numerical) operators; ``sympile.diffops.symbolic``
the same operators returning SymPy expressions.
"""

from .._arrays.diffops import ProductFunction as ProductFunction
from .._arrays.diffops import ProductOperator as ProductOperator
from .._arrays.diffops import grad as grad
from .._arrays.diffops import grad_and_value as grad_and_value
from .._arrays.diffops import gradient as gradient
from .._arrays.diffops import hessian as hessian
from .._arrays.diffops import hessian_vector_product as hessian_vector_product
from .._arrays.diffops import jacobian as jacobian
from .._arrays.diffops import jacobian_vector_product as jacobian_vector_product
from .._arrays.diffops import matrix_hessian_product as matrix_hessian_product
from .._arrays.diffops import matrix_tressian_product as matrix_tressian_product
from .._arrays.diffops import value_and_grad as value_and_grad
from .._arrays.diffops import vector_jacobian_product as vector_jacobian_product

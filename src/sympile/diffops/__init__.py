"""Differential operators with SymNum's API, built by graph AD (see docs/arrays.md).

``sympile.diffops`` holds the compiled (numerical) operators; ``sympile.diffops.symbolic``
the same operators returning SymPy expressions.
"""

from .._diffops import ProductFunction as ProductFunction
from .._diffops import ProductOperator as ProductOperator
from .._diffops import grad as grad
from .._diffops import grad_and_value as grad_and_value
from .._diffops import gradient as gradient
from .._diffops import hessian as hessian
from .._diffops import hessian_vector_product as hessian_vector_product
from .._diffops import jacobian as jacobian
from .._diffops import jacobian_vector_product as jacobian_vector_product
from .._diffops import matrix_hessian_product as matrix_hessian_product
from .._diffops import matrix_tressian_product as matrix_tressian_product
from .._diffops import value_and_grad as value_and_grad
from .._diffops import vector_jacobian_product as vector_jacobian_product

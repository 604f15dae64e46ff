"""The differential operators in symbolic form: they return SymPy expressions and symbolic arrays.

``grad(func, wrt=0, return_aux=False)(*symbolic_args)``, and likewise for the others; the
derivative is built on the graph (no ``sympy.diff``) and raised back to SymPy.
"""

from .._arrays.diffops import SymbolicOperator as SymbolicOperator
from .._arrays.diffops import SymbolicProduct as SymbolicProduct
from .._arrays.diffops import symbolic_grad as grad
from .._arrays.diffops import symbolic_grad as gradient
from .._arrays.diffops import symbolic_hessian as hessian
from .._arrays.diffops import symbolic_hessian_vector_product as hessian_vector_product
from .._arrays.diffops import symbolic_jacobian as jacobian
from .._arrays.diffops import symbolic_jacobian_vector_product as jacobian_vector_product
from .._arrays.diffops import symbolic_matrix_hessian_product as matrix_hessian_product
from .._arrays.diffops import symbolic_matrix_tressian_product as matrix_tressian_product
from .._arrays.diffops import symbolic_vector_jacobian_product as vector_jacobian_product

__all__ = [
    "SymbolicOperator",
    "SymbolicProduct",
    "grad",
    "gradient",
    "hessian",
    "hessian_vector_product",
    "jacobian",
    "jacobian_vector_product",
    "matrix_hessian_product",
    "matrix_tressian_product",
    "vector_jacobian_product",
]

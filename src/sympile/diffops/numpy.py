"""The compiled differential operators under SymNum's module name (``symnum.diffops.numpy``)."""

from .._arrays.diffops import grad as grad
from .._arrays.diffops import gradient as gradient
from .._arrays.diffops import hessian as hessian
from .._arrays.diffops import hessian_vector_product as hessian_vector_product
from .._arrays.diffops import jacobian as jacobian
from .._arrays.diffops import jacobian_vector_product as jacobian_vector_product
from .._arrays.diffops import matrix_hessian_product as matrix_hessian_product
from .._arrays.diffops import matrix_tressian_product as matrix_tressian_product
from .._arrays.diffops import vector_jacobian_product as vector_jacobian_product

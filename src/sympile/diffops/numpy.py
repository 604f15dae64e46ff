"""The compiled differential operators under SymNum's module name (``symnum.diffops.numpy``)."""

from .._diffops import grad as grad
from .._diffops import gradient as gradient
from .._diffops import hessian as hessian
from .._diffops import hessian_vector_product as hessian_vector_product
from .._diffops import jacobian as jacobian
from .._diffops import jacobian_vector_product as jacobian_vector_product
from .._diffops import matrix_hessian_product as matrix_hessian_product
from .._diffops import matrix_tressian_product as matrix_tressian_product
from .._diffops import vector_jacobian_product as vector_jacobian_product

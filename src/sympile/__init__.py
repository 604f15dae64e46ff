"""sympile: SymPy expressions to fast numerical code, trainable models and exact derivatives."""

from . import array as array  # SymNum's symnum.array and symnum.numpy are attributes after `import symnum`
from . import numpy as numpy
from ._arrays.diffops import ProductFunction as ProductFunction
from ._arrays.diffops import ProductOperator as ProductOperator
from ._arrays.diffops import grad as grad
from ._arrays.diffops import grad_and_value as grad_and_value
from ._arrays.diffops import gradient as gradient
from ._arrays.diffops import hessian as hessian
from ._arrays.diffops import hessian_vector_product as hessian_vector_product
from ._arrays.diffops import jacobian as jacobian
from ._arrays.diffops import jacobian_vector_product as jacobian_vector_product
from ._arrays.diffops import matrix_hessian_product as matrix_hessian_product
from ._arrays.diffops import matrix_tressian_product as matrix_tressian_product
from ._arrays.diffops import value_and_grad as value_and_grad
from ._arrays.diffops import vector_jacobian_product as vector_jacobian_product
from ._arrays.numpify import NumpifiedFunction as NumpifiedFunction
from ._arrays.numpify import numpify as numpify
from ._arrays.numpify import numpify_func as numpify_func
from ._arrays.symbolic_array import SymbolicArray as SymbolicArray
from ._arrays.symbolic_array import named_array as named_array
from ._core.errors import ArgumentError as ArgumentError
from ._core.errors import BackendNotAvailableError as BackendNotAvailableError
from ._core.errors import CacheWarning as CacheWarning
from ._core.errors import DifferentiationError as DifferentiationError
from ._core.errors import MissingInputError as MissingInputError
from ._core.errors import ShapeError as ShapeError
from ._core.errors import SympileError as SympileError
from ._core.errors import TracingError as TracingError
from ._core.errors import UnsupportedFunctionError as UnsupportedFunctionError
from ._core.graph import Graph as Graph
from ._core.graph import Node as Node
from ._discovery.discover import Candidate as Candidate
from ._discovery.discover import Discovery as Discovery
from ._discovery.discover import discover as discover
from ._discovery.fit import FitResult as FitResult
from ._discovery.fit import FitWarning as FitWarning
from ._discovery.fit import fit as fit
from ._discovery.quantise import quantise as quantise
from ._discovery.quantise import quantize as quantize
from ._functions.lambdify import LambdifiedFunction as LambdifiedFunction
from ._functions.lambdify import lambdify as lambdify
from ._functions.ode import ODESystem as ODESystem
from ._functions.ode import ode_system as ode_system
from ._functions.ufuncify import Ufunc as Ufunc
from ._functions.ufuncify import ufuncify as ufuncify
from ._modules.io import LoadError as LoadError
from ._modules.io import load as load
from ._modules.io import save as save
from ._scale.fits import fit_groups as fit_groups
from ._sympy.floats import hide_floats as hide_floats
from ._sympy.lower import lower as lower
from ._sympy.parse import ParseError as ParseError
from ._sympy.parse import parse_expr as parse_expr
from ._sympy.raising import to_sympy as to_sympy

__version__ = "0.1.0"

"""sympile: SymPy expressions to fast numerical code, trainable models and exact derivatives."""

from ._errors import ArgumentError as ArgumentError
from ._errors import BackendNotAvailableError as BackendNotAvailableError
from ._errors import DifferentiationError as DifferentiationError
from ._errors import MissingInputError as MissingInputError
from ._errors import ShapeError as ShapeError
from ._errors import SympileError as SympileError
from ._errors import UnsupportedFunctionError as UnsupportedFunctionError
from ._graph import Graph as Graph
from ._graph import Node as Node
from ._lambdify import LambdifiedFunction as LambdifiedFunction
from ._lambdify import lambdify as lambdify
from ._lower import lower as lower
from ._raise import to_sympy as to_sympy

__version__ = "0.1.0"

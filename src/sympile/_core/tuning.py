"""Every tuning constant in one place: the thresholds at which a mechanism starts to pay.

Each is a ratio of costs that holds across machines to within a small factor (a NumPy call
against a scalar Python operation, a C compile against a call), set from the workloads of
``bench/`` (`bench/lambdify.py`, `bench/diffops.py`, `bench/c_backend.py`); none decides
whether a result is right, only how fast it comes. Change one, rerun those benchmarks, and
record the figures in docs/benchmarks.md.
"""

from __future__ import annotations

# -- emitting (sympile._emit.emit) -------------------------------------------------------------

#: How deep single-use subexpressions may nest in one statement (Python's parser allows 200
#: levels of parentheses).
MAX_INLINE_DEPTH = 24
#: How many ops one statement may hold: long enough to read, short enough for a traceback.
MAX_INLINE_OPS = 48
#: How many locals one inline expression may read: a local is freed only when the statement
#: reading it runs, so this bounds how many wait, alive, for a long expression to finish.
MAX_INLINE_READS = 8

# -- the NumPy backend (sympile._backends.numpy) -----------------------------------------------

#: Large inputs are evaluated in blocks of this many elements along the leading axis, so that a
#: many-op function's intermediates stay in cache: 256 KiB of float64 a temporary, of which a
#: few fit in a core's L2 cache, while each NumPy call's fixed cost is spread over many elements.
CHUNK = 32768
#: Graphs with fewer ops than this are memory-light already: no blocks.
CHUNK_MIN_OPS = 12
#: Above this many nodes, the scalar (``math``) variant is written and compiled on its first
#: use: it costs a fifth of a build, and a large function is rarely called on one point.
LAZY_MATH_NODES = 1000
#: How many terms ``w * f(c * x + b)`` of scalar (``math``) code cost as much as one NumPy call
#: on a short array: a NumPy call's fixed overhead against a scalar term's call and arithmetic.
TERMS_PER_NUMPY_CALL = 12

# -- linear blocks (sympile._transforms.linear) ------------------------------------------------

#: A row needs this many terms, and a block this many rows, to be worth a matrix.
LINEAR_MIN_TERMS = 4
LINEAR_MIN_ROWS = 4
#: In the NumPy backend's scalar code, a block becomes one matrix product from this many
#: coefficients (an add and a multiply each): below, making the arrays costs more than it saves.
LINEAR_MIN_COEFFICIENTS = 64

# -- map blocks (sympile._transforms.maps) -----------------------------------------------------

#: A map block evaluates ``u = C x + b``, each function on its slice of ``u``, and ``w . f(u)``:
#: this many NumPy calls besides one per function. It pays from ``TERMS_PER_NUMPY_CALL`` terms
#: per call it makes.
MAP_CALLS = 3
#: The linear forms' bases at most (a small dense matrix).
MAP_MAX_BASES = 8

# -- batching (sympile._transforms.batch) ------------------------------------------------------

#: Groups of isomorphic sibling terms smaller than this stay as they are.
BATCH_MIN_SIZE = 3

# -- forward mode (sympile._transforms.ad) ------------------------------------------------------

#: How far preaccumulated forward mode walks the dominator tree to meet two branches; beyond it
#: the node is treated as a region's head (always correct, only less shared).
MEET_STEPS = 256

# -- the builder (sympile._core.graph) -----------------------------------------------------------

#: N-ary sums and products of up to this many operands pair the operands whose pairing exists
#: already (sharing subexpressions across sums): a quadratic search, so only for short ones.
PAIR_EXISTING_MAX = 12

# -- the C backend (sympile._backends.c) ---------------------------------------------------------

#: A kernel's size is its characters of C (a statement holds up to `MAX_INLINE_OPS` ops).
#: The optimisation level of a kernel library by its size: ``(at most this many characters,
#: level)``, the first that fits. The compile time of -O3 grows faster with a body's size than
#: what it gains over -O2 and -O1; in a loop over a very long body, the induction-variable pass
#: (quadratic in the memory references of a loop) is most of -O1's time.
C_OPT_LEVELS = ((100_000, ("-O3",)), (400_000, ("-O2",)), (10**18, ("-O1", "-fno-ivopts")))
#: A body of more than twice this many characters is split into functions of about this many
#: (the register allocator's time grows faster than a function's length).
C_PART_CHARS = 8_000
#: ... and into functions reading at most this many inputs: in the loop each input is a stream of
#: vectors with its own address, and the register allocator's time grows faster than their number.
C_PART_INPUTS = 64
#: A body is compiled as one translation unit per this many characters, in parallel, up to the
#: machine's cores (each compiler process parses the prelude and starts up).
C_UNIT_CHARS = 100_000
#: A loop's trip count is rounded up to a multiple of this (a power of two, a multiple of the
#: widest vector's lanes: 16 float32 in AVX-512), so that it has no scalar remainder loop to
#: compile; a call computes at most this many points more than it asks for.
C_PAD = 16
#: Below this many estimated nanoseconds of work a call runs on one thread.
C_PARALLEL_MIN_NS = 100_000
#: Rough relative cost per point of each op, for that estimate (other ops: `C_OP_COST_DEFAULT`).
C_OP_COST = {"add": 0.3, "sub": 0.3, "mul": 0.3, "neg": 0.1, "div": 1.0, "where": 0.3, "powi": 1.0}
C_OP_COST_DEFAULT = 5.0

# -- in-process caches -------------------------------------------------------------------------------

#: Compiled functions kept per process (least recently used first out).
CACHE_SIZE = 128

# -- data sums (sympile._arrays.data_axis, sympile._transforms.points) --------------------------

#: While a function is traced for compiling, a NumPy array with at least this many rows that
#: meets a symbolic array is data: its rows are points, held as columns over a data axis, and a
#: sum over them is one per-point graph and a reduction. Smaller arrays are written out entry by
#: entry, where a per-point form would not pay for its NumPy calls.
DATA_MIN_POINTS = 8
#: A per-point sum of at least this many terms ``data column * scalar`` is one matrix product.
POINT_MATVEC_MIN_TERMS = 3

#: An array output (a Jacobian) with at least this many constant entries, half of them or more, is
#: built from a template of the constants with only the computed entries put in: one array
#: instead of one value per entry (the NumPy backend's ``_filled``).
FILL_MIN_CONSTANTS = 32

#: `ode_system` returns sparse (CSC) Jacobians by default from this many states, when at most this
#: fraction of the entries can be nonzero: for 40 species of a kinetics network SciPy's BDF ran
#: faster end to end with the dense Jacobian (its dense LU beats the sparse one's overhead).
ODE_SPARSE_MIN_STATES = 100
ODE_SPARSE_MAX_DENSITY = 0.1

/* runner.c: the CPython side of every sympile kernel, one fixed extension module compiled once per
   toolchain (compile.py's runner) where Python's headers are there; the kernels themselves are
   plain C libraries (loop.c, point.c) without Python headers, so that each compiles quickly.
   Without Python's headers the loop library is loaded by ctypes instead (compile.py's CtypesKernel).

   The module's type Kernel(itemsize, n_in, n_out, arguments, boolean, load) holds what the calls
   need of one graph in one dtype: the sizes, how the top-level arguments unpack into the inputs
   (arguments: for each, (shape, slots), or None where the nesting is irregular), which outputs
   are truth values (boolean: bytes, one per output), and load(kind), which returns the address of
   the kernel's sympile_point (kind 0) or sympile_eval (kind 1), compiling its library on first use.
   Its methods: point(dest, *args) for Python numbers and float64 vectors, eval(out, point_major,
   threads, *inputs) over buffers and, with NumPy's headers (SYMPILE_NUMPY),
   point_of_arrays(dest, shapes, *args). Argument checks here keep a bad call from reading or
   writing outside a buffer, whatever the Python side passes.

   Expects, from the compiler's flags: SYMPILE_MODULE (the module's name) and, when NumPy's headers
   are there, SYMPILE_NUMPY. It is not pasted into kernels. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#ifdef SYMPILE_NUMPY
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#endif

#define SP_STR2(x) #x
#define SP_STR(x) SP_STR2(x)
#define SP_CAT2(a, b) a##b
#define SP_CAT(a, b) SP_CAT2(a, b)
/* Numbers of one point this many or fewer are kept on the stack, more on the heap. */
#define SP_STACK 1024

typedef void (*sp_point_fn)(const double *in, double *out);
typedef int (*sp_eval_fn)(int64_t n, const void *const *in, const int64_t *stride, void *out, int point_major,
                          int threads);

typedef struct {
    PyObject_HEAD
    Py_ssize_t itemsize, nin, nout, ntop; /* ntop < 0: no point entry (irregular nesting) */
    Py_ssize_t scratch;                   /* the most leaves of one argument */
    int *ndim;                            /* per argument: its dimensions, */
    Py_ssize_t *dims;                     /* at dims + dim_at[k], */
    Py_ssize_t *dim_at;
    Py_ssize_t *slot_at, *count;          /* its count[k] leaves' inputs at slots + slot_at[k], */
    Py_ssize_t *slots;
    int *run;                             /* or, when they are consecutive, from slots[slot_at[k]] on */
    char *boolean;
    void *fn[2];
    PyObject *load;
} Kernel;

static void *sp_loaded(Kernel *k, int kind) {
    if (k->fn[kind] == NULL) {
        PyObject *r = PyObject_CallFunction(k->load, "i", kind);
        if (r == NULL) return NULL;
        void *p = PyLong_AsVoidPtr(r);
        Py_DECREF(r);
        if (p == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "sympile kernel: load gave no address");
            return NULL;
        }
        k->fn[kind] = p;
    }
    return k->fn[kind];
}

static int sp_scalar(PyObject *v, double *x) {
    if (PyFloat_Check(v)) { /* np.float64 too: a float subclass */
        *x = PyFloat_AS_DOUBLE(v);
        return 1;
    }
    if (PyLong_CheckExact(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        *x = d;
        return 1;
    }
    return 0;
}

/* A number (ndim 0), or nested lists/tuples of numbers, or a C-contiguous float64 buffer, of the given shape. */
static int sp_nested(PyObject *v, double *x, int ndim, const Py_ssize_t *shape) {
    if (ndim == 0) return sp_scalar(v, x);
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) {
        if (PySequence_Fast_GET_SIZE(v) != shape[0]) return 0;
        Py_ssize_t step = 1;
        for (int d = 1; d < ndim; d++) step *= shape[d];
        PyObject **items = PySequence_Fast_ITEMS(v);
        for (Py_ssize_t i = 0; i < shape[0]; i++)
            if (!sp_nested(items[i], x + i * step, ndim - 1, shape + 1)) return 0;
        return 1;
    }
#ifdef SYMPILE_NUMPY
    if (PyArray_CheckExact(v)) { /* the common case, without the buffer protocol's format string */
        PyArrayObject *a = (PyArrayObject *)v;
        if (PyArray_TYPE(a) != NPY_DOUBLE || PyArray_NDIM(a) != ndim || !PyArray_ISCARRAY_RO(a) ||
            !PyArray_ISNOTSWAPPED(a))
            return 0;
        for (int d = 0; d < ndim; d++)
            if (PyArray_DIM(a, d) != shape[d]) return 0;
        memcpy(x, PyArray_DATA(a), (size_t)PyArray_NBYTES(a));
        return 1;
    }
#endif
    if (!PyObject_CheckBuffer(v)) return 0;
    Py_buffer view;
    if (PyObject_GetBuffer(v, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        PyErr_Clear();
        return 0;
    }
    int ok = view.ndim == ndim && view.format && strcmp(view.format, "d") == 0;
    for (int d = 0; ok && d < ndim; d++) ok = view.shape[d] == shape[d];
    if (ok) memcpy(x, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return ok;
}

/* The top-level arguments -> in[0 .. nin-1] (tmp: room for one argument's leaves). */
static int sp_unpack(Kernel *k, PyObject *const *args, double *in, double *tmp) {
    for (Py_ssize_t a = 0; a < k->ntop; a++) {
        const Py_ssize_t *slots = k->slots + k->slot_at[a], *dims = k->dims + k->dim_at[a];
        if (k->run[a]) {
            if (!sp_nested(args[a], in + slots[0], k->ndim[a], dims)) return 0;
        } else {
            if (!sp_nested(args[a], tmp, k->ndim[a], dims)) return 0;
            for (Py_ssize_t i = 0; i < k->count[a]; i++) in[slots[i]] = tmp[i];
        }
    }
    return 1;
}

static PyObject *sp_box(double v, int boolean) {
    if (boolean) return PyBool_FromLong(v != 0);
    return PyFloat_FromDouble(v);
}

/* A new float64 array of the given shape (a tuple), uninitialised; its size must be size. */
static PyObject *sp_new_array(PyObject *shape, Py_ssize_t size) {
#ifdef SYMPILE_NUMPY
    npy_intp dims[32], total = 1;
    int nd = (int)PyTuple_GET_SIZE(shape);
    for (int d = 0; d < nd && d < 32; d++) {
        dims[d] = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
        total *= dims[d];
    }
    if (PyErr_Occurred()) return NULL;
    if (nd > 32 || total != size) {
        PyErr_SetString(PyExc_ValueError, "sympile kernel: the output shape has the wrong size");
        return NULL;
    }
    return PyArray_SimpleNew(nd, dims, NPY_DOUBLE);
#else
    (void)shape; (void)size;
    PyErr_SetString(PyExc_TypeError, "sympile kernel: built without NumPy's headers, it makes no arrays");
    return NULL;
#endif
}

/* A new array of the given shape (a tuple) holding out[0 .. size-1]; size must match. */
static PyObject *sp_array(PyObject *shape, const double *out, Py_ssize_t size) {
    PyObject *a = sp_new_array(shape, size);
#ifdef SYMPILE_NUMPY
    if (a != NULL) memcpy(PyArray_DATA((PyArrayObject *)a), out, (size_t)size * sizeof(double));
#else
    (void)out;
#endif
    return a;
}

static Py_ssize_t sp_size(PyObject *shape) {
    Py_ssize_t total = 1;
    for (Py_ssize_t d = 0; d < PyTuple_GET_SIZE(shape); d++) {
        Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
        if (n < 0) return -1;
        total *= n;
    }
    return total;
}

/* The outputs at one point, as dest asks: None -> a number or a tuple of them; a shape (a tuple) ->
   a new array of it; a list of pieces -> a tuple of them, each None (the next output, a number) or a
   shape (a new array of the next outputs); else a writable float64 buffer to fill, which is returned. */
static PyObject *sp_result(Kernel *k, PyObject *dest, const double *out) {
    if (dest == Py_None) {
        if (k->nout == 1) return sp_box(out[0], k->boolean[0]);
        PyObject *t = PyTuple_New(k->nout);
        if (t == NULL) return NULL;
        for (Py_ssize_t i = 0; i < k->nout; i++) {
            PyObject *item = sp_box(out[i], k->boolean[i]);
            if (item == NULL) {
                Py_DECREF(t);
                return NULL;
            }
            PyTuple_SET_ITEM(t, i, item);
        }
        return t;
    }
    if (PyTuple_CheckExact(dest)) return sp_array(dest, out, k->nout);
    if (PyList_CheckExact(dest)) {
        Py_ssize_t n = PyList_GET_SIZE(dest), at = 0;
        PyObject *t = PyTuple_New(n);
        if (t == NULL) return NULL;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *piece = PyList_GET_ITEM(dest, i), *item = NULL;
            Py_ssize_t size = piece == Py_None ? 1 : PyTuple_CheckExact(piece) ? sp_size(piece) : -1;
            if (size < 0 || at + size > k->nout) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "sympile kernel: bad output pieces");
            } else {
                item = piece == Py_None ? sp_box(out[at], k->boolean[at]) : sp_array(piece, out + at, size);
                at += size;
            }
            if (item == NULL) {
                Py_DECREF(t);
                return NULL;
            }
            PyTuple_SET_ITEM(t, i, item);
        }
        if (at != k->nout) {
            Py_DECREF(t);
            PyErr_SetString(PyExc_ValueError, "sympile kernel: the output pieces do not cover the outputs");
            return NULL;
        }
        return t;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(dest, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) return NULL;
    if (!view.format || strcmp(view.format, "d") != 0 || view.len != k->nout * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "sympile kernel: the output buffer has the wrong type or size");
        return NULL;
    }
    memcpy(view.buf, out, (size_t)k->nout * sizeof(double));
    PyBuffer_Release(&view);
    Py_INCREF(dest);
    return dest;
}

/* Room for the inputs, the outputs and one argument's leaves: on the stack when it fits. */
static double *sp_numbers(Kernel *k, double *stack) {
    Py_ssize_t need = k->nin + k->nout + k->scratch;
    if (need <= SP_STACK) return stack;
    double *p = PyMem_Malloc((size_t)need * sizeof(double));
    if (p == NULL) PyErr_NoMemory();
    return p;
}

static PyObject *sp_finish(Kernel *k, PyObject *dest, double *in, double *stack) {
    sp_point_fn f = (sp_point_fn)sp_loaded(k, 0);
    PyObject *r = NULL;
#ifdef SYMPILE_NUMPY
    if (f != NULL && PyTuple_CheckExact(dest)) { /* one array: the kernel writes into it */
        r = sp_new_array(dest, k->nout);
        if (r != NULL) f(in, (double *)PyArray_DATA((PyArrayObject *)r));
        f = NULL;
    }
#endif
    if (f != NULL) {
        double *out = in + k->nin;
        f(in, out);
        r = sp_result(k, dest, out);
    }
    if (in != stack) PyMem_Free(in);
    return r;
}

static PyObject *sp_point(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    double stack[SP_STACK];
    if (k->ntop < 0 || k->itemsize != 8 || nargs != 1 + k->ntop) Py_RETURN_NOTIMPLEMENTED;
    double *in = sp_numbers(k, stack);
    if (in == NULL) return NULL;
    if (!sp_unpack(k, args + 1, in, in + k->nin + k->nout)) {
        if (in != stack) PyMem_Free(in);
        Py_RETURN_NOTIMPLEMENTED;
    }
    return sp_finish(k, args[0], in, stack);
}

#ifdef SYMPILE_NUMPY
/* point_of_arrays(dest, shapes, *args): numpify's entry. Argument k is a Python float where
   shapes[k] is (), else a C-contiguous, aligned, native float64 ndarray of shape shapes[k]; their
   entries, in order, are the inputs. NotImplemented when anything differs (the caller's slow path
   converts or explains). */
static PyObject *sp_point_of_arrays(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    double stack[SP_STACK];
    if (k->itemsize != 8 || nargs < 2 || !PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != nargs - 2)
        Py_RETURN_NOTIMPLEMENTED;
    double *in = sp_numbers(k, stack);
    if (in == NULL) return NULL;
    Py_ssize_t used = 0;
    int ok = 1;
    for (Py_ssize_t a = 2; a < nargs && ok; a++) {
        PyObject *v = args[a], *shape = PyTuple_GET_ITEM(args[1], a - 2);
        if (!PyTuple_CheckExact(shape)) {
            ok = 0;
            break;
        }
        int nd = (int)PyTuple_GET_SIZE(shape);
        if (nd == 0) {
            ok = PyFloat_CheckExact(v) && used < k->nin;
            if (ok) in[used++] = PyFloat_AS_DOUBLE(v);
            continue;
        }
        PyArrayObject *arr = (PyArrayObject *)v;
        ok = PyArray_CheckExact(v) && PyArray_TYPE(arr) == NPY_DOUBLE && PyArray_NDIM(arr) == nd &&
             PyArray_ISCARRAY_RO(arr) && PyArray_ISNOTSWAPPED(arr);
        Py_ssize_t size = 1;
        for (int d = 0; d < nd && ok; d++) {
            Py_ssize_t want = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
            if (want == -1 && PyErr_Occurred()) {
                if (in != stack) PyMem_Free(in);
                return NULL;
            }
            ok = PyArray_DIM(arr, d) == want;
            size *= want;
        }
        ok = ok && size <= k->nin - used;
        if (ok) {
            memcpy(in + used, PyArray_DATA(arr), (size_t)size * sizeof(double));
            used += size;
        }
    }
    if (!ok || used != k->nin) {
        if (in != stack) PyMem_Free(in);
        Py_RETURN_NOTIMPLEMENTED;
    }
    return sp_finish(k, args[0], in, stack);
}
#endif

static PyObject *sp_eval(Kernel *k, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 + k->nin) {
        PyErr_SetString(PyExc_TypeError, "sympile kernel: eval takes out, point_major, threads and the inputs");
        return NULL;
    }
    int point_major = PyObject_IsTrue(args[1]);
    long threads = PyLong_AsLong(args[2]);
    if (point_major < 0 || (threads == -1 && PyErr_Occurred())) return NULL;
    sp_eval_fn f = (sp_eval_fn)sp_loaded(k, 1);
    if (f == NULL) return NULL;
    const char *format = k->itemsize == 8 ? "d" : "f";
    Py_ssize_t nin1 = k->nin > 0 ? k->nin : 1;
    Py_buffer ov, *iv = PyMem_Malloc((size_t)nin1 * (sizeof(Py_buffer) + sizeof(void *) + sizeof(int64_t)));
    if (iv == NULL) return PyErr_NoMemory();
    const void **in = (const void **)(iv + nin1);
    int64_t *stride = (int64_t *)(in + nin1);
    if (PyObject_GetBuffer(args[0], &ov, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) {
        PyMem_Free(iv);
        return NULL;
    }
    int64_t n = k->nout ? (int64_t)(ov.len / k->itemsize / k->nout) : 0;
    Py_ssize_t held = 0;
    const char *problem = NULL;
    if (!ov.format || strcmp(ov.format, format) != 0 || ov.len != n * k->nout * k->itemsize)
        problem = "the output buffer has the wrong type or size";
    for (Py_ssize_t i = 0; i < k->nin && !problem; i++) {
        if (PyObject_GetBuffer(args[3 + i], &iv[i], PyBUF_STRIDES | PyBUF_FORMAT) != 0) break;
        held++;
        Py_ssize_t count = iv[i].len / k->itemsize;
        in[i] = iv[i].buf;
        if (!iv[i].format || strcmp(iv[i].format, format) != 0)
            problem = "an input has the wrong type";
        else if (count == 1 && n != 1)
            stride[i] = 0;
        else if (count != n)
            problem = "an input does not have one value per point";
        else if (iv[i].ndim == 1)
            stride[i] = iv[i].strides[0] / k->itemsize;
        else if (PyBuffer_IsContiguous(&iv[i], 'C'))
            stride[i] = 1;
        else
            problem = "an input is neither contiguous nor one-dimensional";
    }
    int used = 0;
    if (!problem && held == k->nin) {
        Py_BEGIN_ALLOW_THREADS
        used = f(n, in, stride, ov.buf, point_major, (int)threads);
        Py_END_ALLOW_THREADS
    } else if (problem) {
        PyErr_Format(PyExc_ValueError, "sympile kernel: %s", problem);
    }
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&iv[i]);
    PyBuffer_Release(&ov);
    PyMem_Free(iv);
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromLong(used);
}

static void sp_kernel_free(Kernel *k) {
    PyMem_Free(k->ndim);
    PyMem_Free(k->dims);
    PyMem_Free(k->dim_at);
    PyMem_Free(k->slot_at);
    PyMem_Free(k->count);
    PyMem_Free(k->slots);
    PyMem_Free(k->run);
    PyMem_Free(k->boolean);
    Py_XDECREF(k->load);
    Py_TYPE(k)->tp_free((PyObject *)k);
}

/* Kernel(itemsize, n_in, n_out, arguments, boolean, load): see the header comment. */
static PyObject *sp_kernel_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    Py_ssize_t itemsize, nin, nout;
    PyObject *arguments, *boolean, *load;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Kernel takes no keywords");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "nnnOSO", &itemsize, &nin, &nout, &arguments, &boolean, &load)) return NULL;
    if ((itemsize != 8 && itemsize != 4) || nin < 0 || nout < 0 || PyBytes_GET_SIZE(boolean) != nout ||
        (arguments != Py_None && !PyTuple_Check(arguments))) {
        PyErr_SetString(PyExc_ValueError, "Kernel: bad sizes or arguments");
        return NULL;
    }
    Kernel *k = (Kernel *)type->tp_alloc(type, 0);
    if (k == NULL) return NULL;
    k->itemsize = itemsize, k->nin = nin, k->nout = nout;
    k->ntop = arguments == Py_None ? -1 : PyTuple_GET_SIZE(arguments);
    Py_INCREF(load);
    k->load = load;
    Py_ssize_t ntop = k->ntop > 0 ? k->ntop : 1, ndims = 0, nslots = 0;
    for (Py_ssize_t a = 0; a < k->ntop; a++) {
        PyObject *item = PyTuple_GET_ITEM(arguments, a);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(item, 0)) ||
            !PyTuple_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_ValueError, "Kernel: each argument is (shape, slots)");
            goto fail;
        }
        ndims += PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 0));
        nslots += PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 1));
    }
    k->ndim = PyMem_Calloc((size_t)ntop, sizeof(int));
    k->run = PyMem_Calloc((size_t)ntop, sizeof(int));
    k->dim_at = PyMem_Calloc((size_t)ntop, sizeof(Py_ssize_t));
    k->slot_at = PyMem_Calloc((size_t)ntop, sizeof(Py_ssize_t));
    k->count = PyMem_Calloc((size_t)ntop, sizeof(Py_ssize_t));
    k->dims = PyMem_Calloc((size_t)(ndims + 1), sizeof(Py_ssize_t));
    k->slots = PyMem_Calloc((size_t)(nslots + 1), sizeof(Py_ssize_t));
    k->boolean = PyMem_Calloc((size_t)(nout + 1), 1);
    if (!k->ndim || !k->run || !k->dim_at || !k->slot_at || !k->count || !k->dims || !k->slots || !k->boolean) {
        PyErr_NoMemory();
        goto fail;
    }
    memcpy(k->boolean, PyBytes_AS_STRING(boolean), (size_t)nout);
    ndims = nslots = 0;
    for (Py_ssize_t a = 0; a < k->ntop; a++) {
        PyObject *shape = PyTuple_GET_ITEM(PyTuple_GET_ITEM(arguments, a), 0);
        PyObject *slots = PyTuple_GET_ITEM(PyTuple_GET_ITEM(arguments, a), 1);
        Py_ssize_t size = 1, count = PyTuple_GET_SIZE(slots);
        k->ndim[a] = (int)PyTuple_GET_SIZE(shape), k->dim_at[a] = ndims, k->slot_at[a] = nslots, k->count[a] = count;
        for (int d = 0; d < k->ndim[a]; d++) {
            Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
            k->dims[ndims++] = n;
            size *= n;
        }
        int run = 1;
        for (Py_ssize_t i = 0; i < count; i++) {
            Py_ssize_t s = PyLong_AsSsize_t(PyTuple_GET_ITEM(slots, i));
            if (s < 0 || s >= nin) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "Kernel: a slot outside the inputs");
                goto fail;
            }
            k->slots[nslots++] = s;
            run = run && s == k->slots[k->slot_at[a]] + i;
        }
        if (PyErr_Occurred()) goto fail;
        if (size != count) {
            PyErr_SetString(PyExc_ValueError, "Kernel: an argument's shape does not hold its slots");
            goto fail;
        }
        k->run[a] = run;
        if (count > k->scratch) k->scratch = count;
    }
    return (PyObject *)k;
fail:
    Py_DECREF(k);
    return NULL;
}

static PyMethodDef sp_kernel_methods[] = {
    {"point", (PyCFunction)(void (*)(void))sp_point, METH_FASTCALL, "Evaluate at one point given as numbers."},
    {"eval", (PyCFunction)(void (*)(void))sp_eval, METH_FASTCALL, "Evaluate over buffers."},
#ifdef SYMPILE_NUMPY
    {"point_of_arrays", (PyCFunction)(void (*)(void))sp_point_of_arrays, METH_FASTCALL,
     "Evaluate at one point given as float64 arrays and floats of known shapes."},
#endif
    {NULL, NULL, 0, NULL},
};

static PyTypeObject sp_kernel_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = SP_STR(SYMPILE_MODULE) ".Kernel",
    .tp_basicsize = sizeof(Kernel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One graph's compiled functions in one dtype, as Python calls them.",
    .tp_new = sp_kernel_new,
    .tp_dealloc = (destructor)sp_kernel_free,
    .tp_methods = sp_kernel_methods,
};

static struct PyModuleDef sp_module = {PyModuleDef_HEAD_INIT, SP_STR(SYMPILE_MODULE), NULL, -1, NULL};

PyMODINIT_FUNC SP_CAT(PyInit_, SYMPILE_MODULE)(void) {
#ifdef SYMPILE_NUMPY
    import_array();
#endif
    if (PyType_Ready(&sp_kernel_type) < 0) return NULL;
    PyObject *m = PyModule_Create(&sp_module);
    if (m == NULL) return NULL;
    Py_INCREF(&sp_kernel_type);
    if (PyModule_AddObject(m, "Kernel", (PyObject *)&sp_kernel_type) != 0 ||
#ifdef SYMPILE_NUMPY
        PyModule_AddIntConstant(m, "arrays", 1) != 0 ||
#endif
        0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

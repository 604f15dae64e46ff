/* python.c: a sympile kernel as a CPython extension module, compiled in when Python's headers are
   there (the compiler's flags define SYMPILE_PYTHON, SYMPILE_MODULE (the module's name) and, when
   NumPy's headers are there too, SYMPILE_NUMPY). Its functions: point(dest, *args) for Python
   numbers, eval(out, point_major, threads, *inputs) over buffers, and, with NumPy,
   point_of_arrays(dest, shapes, *args); without Python's headers the library is loaded by ctypes
   instead (compile.py's CtypesKernel).

   Expects, before it: sp_real, SP_NIN, SP_NIN1, SP_NOUT, SP_NOUT1, SP_NTOP, Python.h and
   <string.h> (prelude.h), sympile_eval and sympile_point (driver.c), and the generated
   sp_boolean[SP_NOUT1] (1 for each output that is a truth value) and sp_unpack(args, in) (the
   top-level arguments -> the inputs, with the declaration of sp_nested, defined here, that it
   calls). See prelude.h for how a kernel is assembled. */

#ifdef SYMPILE_PYTHON
#ifdef SYMPILE_NUMPY
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#endif
/* The CPython entry points: point(dest, *args) for Python numbers, eval(out, point_major,
   threads, *inputs) over buffers. Argument checks here keep a bad call from reading or
   writing outside a buffer, whatever the Python side passes. */
#define SP_STR2(x) #x
#define SP_STR(x) SP_STR2(x)
#define SP_CAT2(a, b) a##b
#define SP_CAT(a, b) SP_CAT2(a, b)
#define SP_FORMAT (sizeof(sp_real) == 8 ? "d" : "f")

static int sp_scalar(PyObject *v, sp_real *x) {
    if (PyFloat_Check(v)) {
        *x = (sp_real)PyFloat_AS_DOUBLE(v);
        return 1;
    }
    if (PyLong_CheckExact(v)) {
        double d = PyLong_AsDouble(v);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        *x = (sp_real)d;
        return 1;
    }
    return 0;
}

/* A number (ndim 0), or nested lists/tuples of numbers, or a C-contiguous float buffer, of the given shape. */
static int sp_nested(PyObject *v, sp_real *x, int ndim, const Py_ssize_t *shape) {
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
        if (PyArray_TYPE(a) != (sizeof(sp_real) == 8 ? NPY_DOUBLE : NPY_FLOAT) || PyArray_NDIM(a) != ndim ||
            !PyArray_ISCARRAY_RO(a) || !PyArray_ISNOTSWAPPED(a))
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
    int ok = view.ndim == ndim && view.format && strcmp(view.format, SP_FORMAT) == 0;
    for (int d = 0; ok && d < ndim; d++) ok = view.shape[d] == shape[d];
    if (ok) memcpy(x, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    return ok;
}

static PyObject *sp_box(sp_real v, int boolean) {
    if (boolean) return PyBool_FromLong(v != 0);
    return PyFloat_FromDouble((double)v);
}

/* The outputs at one point, as dest asks: None -> a number or a tuple of them; a shape (a tuple) ->
   a new array of it; else a writable buffer to fill, which is returned. */
static PyObject *sp_result(PyObject *dest, const sp_real *out) {
    if (dest == Py_None) {
        if (SP_NOUT == 1) return sp_box(out[0], sp_boolean[0]);
        PyObject *t = PyTuple_New(SP_NOUT);
        if (t == NULL) return NULL;
        for (int k = 0; k < SP_NOUT; k++) {
            PyObject *item = sp_box(out[k], sp_boolean[k]);
            if (item == NULL) {
                Py_DECREF(t);
                return NULL;
            }
            PyTuple_SET_ITEM(t, k, item);
        }
        return t;
    }
#ifdef SYMPILE_NUMPY
    if (PyTuple_CheckExact(dest)) { /* a shape: a new array of it, without a call back into Python */
        npy_intp dims[32], total = 1;
        int nd = (int)PyTuple_GET_SIZE(dest);
        for (int d = 0; d < nd && d < 32; d++) {
            dims[d] = PyLong_AsSsize_t(PyTuple_GET_ITEM(dest, d));
            total *= dims[d];
        }
        if (PyErr_Occurred()) return NULL;
        if (nd > 32 || total != SP_NOUT) {
            PyErr_SetString(PyExc_ValueError, "sympile kernel: the output shape has the wrong size");
            return NULL;
        }
        PyObject *a = PyArray_SimpleNew(nd, dims, sizeof(sp_real) == 8 ? NPY_DOUBLE : NPY_FLOAT);
        if (a != NULL) memcpy(PyArray_DATA((PyArrayObject *)a), out, SP_NOUT * sizeof(sp_real));
        return a;
    }
#endif
    Py_buffer view;
    if (PyObject_GetBuffer(dest, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) return NULL;
    if (!view.format || strcmp(view.format, SP_FORMAT) != 0 || view.len != SP_NOUT * (Py_ssize_t)sizeof(sp_real)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "sympile kernel: the output buffer has the wrong type or size");
        return NULL;
    }
    memcpy(view.buf, out, SP_NOUT * sizeof(sp_real));
    PyBuffer_Release(&view);
    Py_INCREF(dest);
    return dest;
}


static PyObject *sp_point(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    sp_real in[SP_NIN1], out[SP_NOUT1];
    (void)self;
    if (nargs != 1 + SP_NTOP) Py_RETURN_NOTIMPLEMENTED;
    if (!sp_unpack(args + 1, in)) Py_RETURN_NOTIMPLEMENTED;
    sympile_point(in, out);
    return sp_result(args[0], out);
}

#ifdef SYMPILE_NUMPY
/* point_of_arrays(dest, shapes, *args): numpify's entry. Argument k is a Python float where
   shapes[k] is (), else a C-contiguous, aligned, native float64 ndarray of shape shapes[k]; their
   entries, in order, are the inputs. NotImplemented when anything differs (the caller's slow path
   converts or explains). */
static PyObject *sp_point_of_arrays(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    sp_real in[SP_NIN1], out[SP_NOUT1];
    (void)self;
    if (nargs < 2 || !PyTuple_CheckExact(args[1]) || PyTuple_GET_SIZE(args[1]) != nargs - 2) Py_RETURN_NOTIMPLEMENTED;
    Py_ssize_t used = 0;
    for (Py_ssize_t k = 2; k < nargs; k++) {
        PyObject *v = args[k], *shape = PyTuple_GET_ITEM(args[1], k - 2);
        if (!PyTuple_CheckExact(shape)) Py_RETURN_NOTIMPLEMENTED;
        int nd = (int)PyTuple_GET_SIZE(shape);
        if (nd == 0) {
            if (!PyFloat_CheckExact(v) || used >= SP_NIN) Py_RETURN_NOTIMPLEMENTED;
            in[used++] = (sp_real)PyFloat_AS_DOUBLE(v);
            continue;
        }
        if (!PyArray_CheckExact(v)) Py_RETURN_NOTIMPLEMENTED;
        PyArrayObject *a = (PyArrayObject *)v;
        if (PyArray_TYPE(a) != NPY_DOUBLE || PyArray_NDIM(a) != nd || !PyArray_ISCARRAY_RO(a) ||
            !PyArray_ISNOTSWAPPED(a))
            Py_RETURN_NOTIMPLEMENTED;
        Py_ssize_t size = 1;
        for (int d = 0; d < nd; d++) {
            Py_ssize_t want = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, d));
            if (want == -1 && PyErr_Occurred()) return NULL;
            if (PyArray_DIM(a, d) != want) Py_RETURN_NOTIMPLEMENTED;
            size *= want;
        }
        if (size > SP_NIN - used) Py_RETURN_NOTIMPLEMENTED;
        const double *data = (const double *)PyArray_DATA(a);
        for (Py_ssize_t i = 0; i < size; i++) in[used + i] = (sp_real)data[i];
        used += size;
    }
    if (used != SP_NIN) Py_RETURN_NOTIMPLEMENTED;
    sympile_point(in, out);
    return sp_result(args[0], out);
}
#endif

static PyObject *sp_eval(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3 + SP_NIN) {
        PyErr_SetString(PyExc_TypeError, "sympile kernel: eval takes out, point_major, threads and the inputs");
        return NULL;
    }
    int point_major = PyObject_IsTrue(args[1]);
    long threads = PyLong_AsLong(args[2]);
    if (point_major < 0 || (threads == -1 && PyErr_Occurred())) return NULL;
    Py_buffer ov, iv[SP_NIN1];
    if (PyObject_GetBuffer(args[0], &ov, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) != 0) return NULL;
    int64_t n = SP_NOUT ? (int64_t)(ov.len / (Py_ssize_t)sizeof(sp_real) / SP_NOUT) : 0;
    const sp_real *in[SP_NIN1];
    int64_t stride[SP_NIN1];
    int held = 0;
    const char *problem = NULL;
    if (!ov.format || strcmp(ov.format, SP_FORMAT) != 0 || ov.len != n * SP_NOUT * (Py_ssize_t)sizeof(sp_real))
        problem = "the output buffer has the wrong type or size";
    for (int k = 0; k < SP_NIN && !problem; k++) {
        if (PyObject_GetBuffer(args[3 + k], &iv[k], PyBUF_STRIDES | PyBUF_FORMAT) != 0) break;
        held++;
        Py_ssize_t count = iv[k].len / (Py_ssize_t)sizeof(sp_real);
        in[k] = (const sp_real *)iv[k].buf;
        if (!iv[k].format || strcmp(iv[k].format, SP_FORMAT) != 0)
            problem = "an input has the wrong type";
        else if (count == 1 && n != 1)
            stride[k] = 0;
        else if (count != n)
            problem = "an input does not have one value per point";
        else if (iv[k].ndim == 1)
            stride[k] = iv[k].strides[0] / (Py_ssize_t)sizeof(sp_real);
        else if (PyBuffer_IsContiguous(&iv[k], 'C'))
            stride[k] = 1;
        else
            problem = "an input is neither contiguous nor one-dimensional";
    }
    int used = 0;
    if (!problem && held == SP_NIN) {
        Py_BEGIN_ALLOW_THREADS
        used = sympile_eval(n, in, stride, (sp_real *)ov.buf, point_major, (int)threads);
        Py_END_ALLOW_THREADS
    } else if (problem) {
        PyErr_Format(PyExc_ValueError, "sympile kernel: %s", problem);
    }
    for (int k = 0; k < held; k++) PyBuffer_Release(&iv[k]);
    PyBuffer_Release(&ov);
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromLong(used);
}

static PyMethodDef sp_methods[] = {
    {"point", (PyCFunction)(void (*)(void))sp_point, METH_FASTCALL, "Evaluate at one point given as numbers."},
    {"eval", (PyCFunction)(void (*)(void))sp_eval, METH_FASTCALL, "Evaluate over buffers."},
#ifdef SYMPILE_NUMPY
    {"point_of_arrays", (PyCFunction)(void (*)(void))sp_point_of_arrays, METH_FASTCALL,
     "Evaluate at one point given as float64 arrays and floats of known shapes."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef sp_module = {PyModuleDef_HEAD_INIT, SP_STR(SYMPILE_MODULE), NULL, -1, sp_methods};

PyMODINIT_FUNC SP_CAT(PyInit_, SYMPILE_MODULE)(void) {
#ifdef SYMPILE_NUMPY
    import_array();
#endif
    PyObject *m = PyModule_Create(&sp_module);
#ifdef SYMPILE_NUMPY
    if (m != NULL && PyModule_AddIntConstant(m, "arrays", 1) != 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    return m;
}
#endif

/* helpers.h: the small helper functions of a sympile C kernel, written once and compiled for
   the kernel's dtype (SP(powi) is powi_float64 or powi_float32). The spelling table in
   backend.py calls them: integer powers, sign, min and max, Python's modulo, and the
   matrix-vector product of a linear block in the one-point body.

   Expects, from prelude.h and the generated defines before it: sp_real (double or float),
   SP(name), and <tgmath.h>. See prelude.h for how a kernel is assembled. */

/* x**n by squaring; n is 64-bit: a C int would wrap a huge exponent (2**40 to 0). */
static inline sp_real SP(powi)(sp_real x, int64_t n) {
    if (n < 0) return (sp_real)1 / SP(powi)(x, -n);
    sp_real r = 1;
    while (n) {
        if (n & 1) r *= x;
        n >>= 1;
        if (n) x *= x;
    }
    return r;
}
static inline sp_real SP(sign)(sp_real x) { return x > 0 ? (sp_real)1 : x < 0 ? (sp_real)-1 : x; }
static inline sp_real SP(min)(sp_real a, sp_real b) { return a <= b ? a : b < a ? b : a + b; }
static inline sp_real SP(max)(sp_real a, sp_real b) { return a >= b ? a : b > a ? b : a + b; }
/* Python's and NumPy's modulo: the sign of the divisor. */
static inline sp_real SP(mod)(sp_real a, sp_real b) {
    sp_real r = fmod(a, b);
    if (r != 0) return (r < 0) != (b < 0) ? r + b : r;
    return copysign((sp_real)0, b);
}
/* Gamma, exact at the integers 1 .. 171 ((n-1)! rounded once, from the generated table
   sp_factorials): libm's tgamma is a few ulps off there from 13 on, so floor(gamma(13)) would be 12! - 1. */
static inline sp_real SP(gamma)(sp_real x) {
    if (x >= 1 && x <= 171 && x == floor(x)) return (sp_real)sp_factorials[(int)x - 1];
    return tgamma(x);
}
/* y = b + C x for a linear block (C column-major, rows x cols): the rows run as vectors. */
static inline sp_real SP(matvec)(int rows, int cols, const sp_real *restrict c, const sp_real *restrict b,
                                 const sp_real *restrict x, sp_real *restrict y) {
    for (int r = 0; r < rows; r++) y[r] = b[r];
    for (int k = 0; k < cols; k++) {
        const sp_real xk = x[k];
#pragma omp simd
        for (int r = 0; r < rows; r++) y[r] += c[k * rows + r] * xk;
    }
    return 0;
}

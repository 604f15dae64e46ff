/* prelude.h: the start of every sympile C kernel library (backend.py's kernel_source assembles them).

   Holds the includes, the declarations of glibc's libmvec vector functions (SP_MVEC is 1 where
   they are declared, and then sp_cos_double and sp_cos_float are cos and cosf under another name),
   and the float64 log-gamma that threads may share (sp_lgamma). Nothing needs to be defined before it. A kernel includes
   no Python header: the CPython side of every kernel is one fixed module, runner.c, compiled once.

   A graph has two kernel libraries, each compiled on first use: the loop over points (sympile_eval)
   and the one-point function (sympile_point). Each is one translation unit, its parts pasted as
   text in this order:

     prelude.h          this file
     generated          typedef sp_real (double or float); sp_cos; SP(name) (name##_float64 or
                        name##_float32); the sizes SP_NIN, SP_NIN1, SP_NOUT, SP_NOUT1 (at least 1),
                        SP_NSLOT, SP_NSLOT1, SP_BLOCK; SP_COST, SP_PARALLEL_MIN; the table
                        sp_factorials[171] ((n-1)! at n = 1 .. 171, for SP(gamma))
     helpers.h          SP(powi), SP(sign), ...: the helpers compiled per dtype
     generated          the outputs' table: sp_slot[SP_NOUT1] (output k is the body's value
                        sp_slot[k], or the constant sp_outconst[k] where sp_slot[k] < 0)
     generated          sp_block (the loop over a block of points), or sp_point_body (one point,
                        straight-line) with its constant tables: each computes the SP_NSLOT values
     loop.c or point.c  sympile_eval or sympile_point, the library's C entry point

   The header comment of each file (this one) is left out of the kernel; the rest (here, from the
   next line) is pasted verbatim. tests/backends/test_c_backend.py compiles the files on their own,
   with a harness that defines what the generated parts would. */
/* A sympile kernel: generated code. Inputs are a0, a1, ...; the outputs' values are slots 0, 1, ... */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* glibc's libmvec has vector versions of these; declaring them lets the loop call them
   (the header declares them only under -ffast-math, which would break NaN and inf). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) \
    && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 22)
#define SP_SIMD(f) _Pragma("omp declare simd notinbranch") double f(double); \
    _Pragma("omp declare simd notinbranch") float f##f(float);
#define SP_SIMD2(f) _Pragma("omp declare simd notinbranch") double f(double, double); \
    _Pragma("omp declare simd notinbranch") float f##f(float, float);
SP_SIMD(sin) SP_SIMD(cos) SP_SIMD(exp) SP_SIMD(log) SP_SIMD2(pow)
#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 35
SP_SIMD(acos) SP_SIMD(acosh) SP_SIMD(asin) SP_SIMD(asinh) SP_SIMD(atan) SP_SIMD(atanh)
SP_SIMD(cbrt) SP_SIMD(cosh) SP_SIMD(erf) SP_SIMD(erfc) SP_SIMD(expm1) SP_SIMD(log1p)
SP_SIMD(sinh) SP_SIMD(tan) SP_SIMD(tanh) SP_SIMD2(atan2)
#endif
/* cos under another name: GCC merges sin(x) and cos(x) into one complex cexpi(x), which
   does not vectorise, so the loop would run scalar. */
_Pragma("omp declare simd notinbranch") __attribute__((const)) double sp_cos_double(double) __asm__("cos");
_Pragma("omp declare simd notinbranch") __attribute__((const)) float sp_cos_float(float) __asm__("cosf");
#define SP_MVEC 1
#else
#define SP_MVEC 0
#endif
#include <tgmath.h>

/* lgamma_r: lgamma writes the global signgam, a race between threads. */
static double sp_lgamma(double x) {
#if defined(__GLIBC__) || defined(__APPLE__)
    int sign;
    return lgamma_r(x, &sign);
#else
    return lgamma(x);
#endif
}

/* driver.c: the C entry points of a sympile kernel. sympile_eval runs the generated loop over n
   points, block by block (gathering strided inputs, scattering point-major outputs), on OpenMP
   threads when the work pays for them; sympile_point evaluates one point. The ctypes loader calls
   sympile_eval directly, the CPython module (python.c) calls both.

   Expects, before it: sp_real, SP_NIN, SP_NIN1, SP_NOUT, SP_NOUT1, SP_BLOCK, SP_COST,
   SP_PARALLEL_MIN, SP_POINT_BODY, <stdint.h> and, under _OPENMP, <omp.h> (prelude.h), and the
   generated sp_block(m, x, o) and, where SP_POINT_BODY, sp_point_body(in, out). See prelude.h for
   how a kernel is assembled. */

static int sp_threads(int requested, int64_t n, int64_t blocks) {
#ifdef _OPENMP
    int t = requested > 0 ? requested : ((double)n * SP_COST < SP_PARALLEL_MIN ? 1 : omp_get_max_threads());
    return blocks < t ? (int)(blocks > 0 ? blocks : 1) : t;
#else
    (void)requested; (void)n; (void)blocks;
    return 1;
#endif
}

/* n points. Input k is in[k][i * stride[k]] (stride 0: a scalar). Output k of point i is
   out[i * SP_NOUT + k] when point_major, else out[k * n + i]. Returns the threads used. */
int sympile_eval(int64_t n, const sp_real *const *in, const int64_t *stride, sp_real *out,
                 int point_major, int threads) {
    int64_t blocks = (n + SP_BLOCK - 1) / SP_BLOCK;
    int nt = sp_threads(threads, n, blocks);
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t start = b * SP_BLOCK, m = n - start < SP_BLOCK ? n - start : SP_BLOCK;
        sp_real buf[SP_NIN1][SP_BLOCK], tmp[SP_NOUT1][SP_BLOCK];
        const sp_real *x[SP_NIN1];
        sp_real *o[SP_NOUT1];
        for (int k = 0; k < SP_NIN; k++) {
            if (stride[k] == 1) {
                x[k] = in[k] + start;
            } else {
                const sp_real *p = in[k] + start * stride[k];
                for (int64_t j = 0; j < m; j++) buf[k][j] = p[j * stride[k]];
                x[k] = buf[k];
            }
        }
        for (int k = 0; k < SP_NOUT; k++) o[k] = point_major && SP_NOUT > 1 ? tmp[k] : out + k * n + start;
        sp_block(m, x, o);
        if (point_major && SP_NOUT > 1)
            for (int64_t j = 0; j < m; j++)
                for (int k = 0; k < SP_NOUT; k++) out[(start + j) * SP_NOUT + k] = tmp[k][j];
    }
    return nt;
}

/* One point: in[k] is input k, out[k] output k. The Python entry point has a straight-line
   copy of the body: out of the loop, the compiler packs independent operations (the entries
   of a Hessian) into vector instructions, a quarter faster than the loop run once. */
void sympile_point(const sp_real *in, sp_real *out) {
#if SP_POINT_BODY
    sp_point_body(in, out);
#else
    const sp_real *x[SP_NIN1];
    sp_real *o[SP_NOUT1];
    for (int k = 0; k < SP_NIN; k++) x[k] = in + k;
    for (int k = 0; k < SP_NOUT; k++) o[k] = out + k;
    sp_block(1, x, o);
#endif
}

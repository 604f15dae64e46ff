/* loop.c: the loop over points of a sympile kernel. sympile_eval runs the generated sp_block over n
   points, block by block (gathering strided inputs, and scattering the body's values to the
   outputs by the table sp_slot), on OpenMP threads when the work pays for them. The CPython
   module (runner.c) and the ctypes loader call it.

   Expects, before it: sp_real, SP_NIN, SP_NIN1, SP_NOUT, SP_NOUT1, SP_NSLOT1, SP_BLOCK, SP_COST,
   SP_PARALLEL_MIN, SP_PAD, SP_DIRECT, <stdint.h>, <string.h> and, under _OPENMP, <omp.h> (prelude.h), the
   generated tables sp_slot and sp_outconst, and the generated sp_block(m, x, v): the body's values
   of m points, rounded up to a multiple of SP_PAD, into v, value s of point j at
   v[s * SP_BLOCK + j]. The rounding spares the compiler a scalar copy of the body for the
   remainder of the vector loop (a third of the compile time): the inputs of a block's last
   points are the block's last point again. See prelude.h for how a kernel is assembled. */

static int sp_threads(int requested, int64_t n, int64_t blocks) {
#ifdef _OPENMP
    int t = requested > 0 ? requested : ((double)n * SP_COST < SP_PARALLEL_MIN ? 1 : omp_get_max_threads());
    return blocks < t ? (int)(blocks > 0 ? blocks : 1) : t;
#else
    (void)requested; (void)n; (void)blocks;
    return 1;
#endif
}

/* Blocks of values up to this many numbers are on the stack (a thread's stack may be small). */
#define SP_STACK_VALUES 16384

/* n points. Input k is in[k][i * stride[k]] (stride 0: a scalar). Output k of point i is
   out[i * SP_NOUT + k] when point_major, else out[k * n + i]. Returns the threads used. */
int sympile_eval(int64_t n, const sp_real *const *in, const int64_t *stride, sp_real *out,
                 int point_major, int threads) {
    int64_t blocks = (n + SP_BLOCK - 1) / SP_BLOCK;
    int nt = sp_threads(threads, n, blocks);
    point_major = point_major && SP_NOUT > 1;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < blocks; b++) {
        int64_t start = b * SP_BLOCK, m = n - start < SP_BLOCK ? n - start : SP_BLOCK;
        sp_real buf[SP_NIN1][SP_BLOCK];
#if SP_NSLOT1 * SP_BLOCK > SP_STACK_VALUES
        sp_real *v = malloc(sizeof(sp_real) * SP_NSLOT1 * SP_BLOCK); /* a large body's values */
        if (!v) abort();
#else
        sp_real v[SP_NSLOT1 * SP_BLOCK];
#endif
        const sp_real *x[SP_NIN1];
        int64_t padded = (m + SP_PAD - 1) / SP_PAD * SP_PAD;
        for (int k = 0; k < SP_NIN; k++) {
            if (stride[k] == 1 && padded == m) {
                x[k] = in[k] + start;
            } else {
                const sp_real *p = in[k] + start * stride[k];
                for (int64_t j = 0; j < m; j++) buf[k][j] = p[j * stride[k]];
                for (int64_t j = m; j < padded; j++) buf[k][j] = buf[k][m - 1];
                x[k] = buf[k];
            }
        }
#if SP_DIRECT /* one output, the body's one value: into place, unless the padding would overrun it */
        if (padded == m) {
            sp_block(m, x, out + start);
            continue;
        }
#endif
        sp_block(m, x, v);
        if (point_major) {
            for (int64_t j = 0; j < m; j++)
                for (int k = 0; k < SP_NOUT; k++)
                    out[(start + j) * SP_NOUT + k] = sp_slot[k] >= 0 ? v[sp_slot[k] * SP_BLOCK + j] : sp_outconst[k];
        } else {
            for (int k = 0; k < SP_NOUT; k++) {
                sp_real *o = out + k * n + start;
                if (sp_slot[k] >= 0) {
                    memcpy(o, v + sp_slot[k] * SP_BLOCK, (size_t)m * sizeof(sp_real));
                } else {
                    for (int64_t j = 0; j < m; j++) o[j] = sp_outconst[k];
                }
            }
        }
#if SP_NSLOT1 * SP_BLOCK > SP_STACK_VALUES
        free(v);
#endif
    }
    return nt;
}

/* point.c: the one-point function of a sympile kernel. sympile_point runs the generated
   straight-line sp_point_body once and scatters its values to the outputs by the table sp_slot.
   Out of a loop over points, the compiler packs independent operations (the entries of a Hessian)
   into vector instructions. The CPython module (runner.c) calls it; it is float64 only.

   Expects, before it: sp_real, SP_NOUT, SP_NOUT1, SP_NSLOT (prelude.h and the generated
   defines), the generated tables sp_outconst and sp_gather (output k is v[sp_gather[k]], a value
   of the body or, from SP_NSLOT on, the literal sp_outconst[k]), and the generated sp_point_body(in, v): the body's
   values at the point in[0 .. SP_NIN-1] into v. See prelude.h for how a kernel is assembled. */

/* One point: in[k] is input k, out[k] output k. */
void sympile_point(const sp_real *restrict in, sp_real *restrict out) {
    sp_real v[SP_NSLOT + SP_NOUT1]; /* the values, then the literals: each output is one of them */
    sp_point_body(in, v);
    memcpy(v + SP_NSLOT, sp_outconst, sizeof(sp_outconst));
    for (int k = 0; k < SP_NOUT; k++) out[k] = v[sp_gather[k]];
}

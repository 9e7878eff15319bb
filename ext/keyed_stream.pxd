# Cython declarations of the keyed Philox stream of keyed_stream.h.
#
# Cimported by every kernel module that draws.
#
# paget_stream_t is a NumPy bitgen_t's state; the samplers (samplers.pxd) call
# paget_stream_next_double directly, inlined, rather than through the bitgen_t's
# pointer, since every bitgen_t of the kernels draws from a paget stream.
from libc.stdint cimport uint64_t
from numpy.random cimport bitgen_t

cdef extern from "keyed_stream.h" nogil:
    ctypedef struct paget_stream_t:
        uint64_t key[2]
        uint64_t ctr[4]
        uint64_t buf[4]
        int pos
    void paget_philox4x64_10(const uint64_t *ctr, const uint64_t *key, uint64_t *out)
    uint64_t paget_stream_next64(void *st)
    double paget_stream_next_double(void *st)
    void paget_stream_init(paget_stream_t *s, bitgen_t *bg, uint64_t seed,
                           uint64_t uid, uint64_t step, uint64_t purpose,
                           uint64_t patient)
    void paget_stream_set_block(paget_stream_t *s, uint64_t seed, uint64_t uid,
                                uint64_t step, uint64_t purpose, uint64_t patient,
                                const uint64_t *block, int pos)
    double paget_word_double(uint64_t w)
    uint64_t paget_mix64(uint64_t z)

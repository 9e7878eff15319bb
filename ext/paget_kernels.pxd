# The contract of paget's compiled kernels (cimported by ext/kernels.pyx): types shared by the kernels and the
# engine, and the C-level helpers other Cython modules may cimport.
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint64_t
from numpy.random cimport bitgen_t

ctypedef int64_t count_t       # whole numbers of cells or CTCs in a draw
ctypedef double cells_t         # the lesion table's cell column (see engine docs)
ctypedef int16_t organ_t        # index into Body.organs
ctypedef uint8_t flag_t

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

# What a draw is for: the third word of the stream counter.
cdef enum:
    PGT_PURPOSE_STEP = 1          # birth-death-shedding step of a lesion row
    PGT_PURPOSE_DISSEMINATE = 2   # fates of the CTCs one row shed in one step
    PGT_PURPOSE_TEST = 99         # tests and benchmarks of the stream itself

# Row flags of the lesion table.
cdef enum:
    PGT_FLAG_DORMANT = 1          # a pool of solitary dormant cells
    PGT_FLAG_PRIMARY = 2          # the primary tumour of its patient

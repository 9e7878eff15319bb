# The typedefs and enums every module of paget's kernels shares (numpy.random's _common.pxd).
#
# The typedefs name what a number is, so that a signature says it: a count of
# cells in a draw, the table's cell column, a per-cell rate, an organ index, a
# row's flags, a lesion's identity, a patient's index.  Each is the C type of the
# lesion table's column it stands for (paget.state.LesionTable).
from libc.stdint cimport int16_t, int64_t, uint8_t, uint64_t

ctypedef int64_t count_t       # whole numbers of cells or CTCs in a draw
ctypedef double cells_t         # the lesion table's cell column (see paget.ext.kernels)
ctypedef double rate_t          # a per-cell rate (1/day) or cells shed per day
ctypedef int16_t organ_t        # index into Body.organs
ctypedef uint8_t flag_t         # the row flags below, OR-ed
ctypedef uint64_t uid_t         # a lesion's identity (paget.ext.tables.derive_uids)
ctypedef int64_t patient_t      # a patient's index in the cohort

# What a draw is for: the third word of the stream counter.
cdef enum:
    PGT_PURPOSE_STEP = 1          # birth-death-shedding step of a lesion row
    PGT_PURPOSE_DISSEMINATE = 2   # fates of the CTCs one row shed in one step
    PGT_PURPOSE_MUTATION = 3      # uniforms of the paget_mutation hook (new clones' genotypes)
    PGT_PURPOSE_TEST = 99         # tests and benchmarks of the stream itself

# Row flags of the lesion table.
cdef enum:
    PGT_FLAG_DORMANT = 1          # a pool of solitary dormant cells
    PGT_FLAG_PRIMARY = 2          # the primary tumour of its patient

/*
 * The engine's check of what a hook implementation wrote: does an array of
 * doubles hold NaN, +-inf or a value outside [lo, hi]?
 *
 * It runs after every hook implementation on every rate array it may have
 * written, so it is written for speed: on x86-64 with SSE2 intrinsics (part of
 * the x86-64 baseline), four doubles an iteration in two independent masks,
 * because GCC 12 does not vectorise the scalar loop (a double comparison
 * feeding an integer mask); elsewhere, and for the last few elements, the same
 * test one element at a time.  The answer is the same either way: ordered
 * comparisons are false for NaN, and |x| < inf excludes the infinities.
 */
#ifndef PAGET_BOUNDS_H
#define PAGET_BOUNDS_H

#include <math.h>
#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int paget_out_of_bounds_f64(const double *p, ptrdiff_t m, double lo, double hi)
{
    ptrdiff_t i = 0;
    int ok = 1;
#if defined(__SSE2__)
    const __m128d vlo = _mm_set1_pd(lo), vhi = _mm_set1_pd(hi);
    const __m128d vinf = _mm_set1_pd(INFINITY), sign = _mm_set1_pd(-0.0);
    __m128d ok0 = _mm_cmpeq_pd(vinf, vinf), ok1 = ok0;   /* all bits set */
    __m128d x0, x1;
    for (; i + 4 <= m; i += 4) {
        x0 = _mm_loadu_pd(p + i);
        x1 = _mm_loadu_pd(p + i + 2);
        ok0 = _mm_and_pd(ok0, _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(x0, vlo), _mm_cmple_pd(x0, vhi)),
                                         _mm_cmplt_pd(_mm_andnot_pd(sign, x0), vinf)));
        ok1 = _mm_and_pd(ok1, _mm_and_pd(_mm_and_pd(_mm_cmpge_pd(x1, vlo), _mm_cmple_pd(x1, vhi)),
                                         _mm_cmplt_pd(_mm_andnot_pd(sign, x1), vinf)));
    }
    ok = _mm_movemask_pd(_mm_and_pd(ok0, ok1)) == 3;
#endif
    for (; i < m; i++) {
        double x = p[i];
        ok &= (x >= lo) & (x <= hi) & (fabs(x) < INFINITY);
    }
    return !ok;
}

#endif

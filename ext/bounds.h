/*
 * The engine's check of what a hook implementation wrote: does an array of
 * doubles hold NaN, +-inf or a value outside [lo, hi]?
 *
 * It runs after every hook implementation on every rate array it may have
 * written (~70 arrays of the table's rows a step of the default cohort), so it
 * is written for speed.  The finite-and-in-range test takes two comparisons an
 * element, not three: with lo' = max(lo, -DBL_MAX) and hi' = min(hi, DBL_MAX),
 * lo' <= x <= hi' holds exactly where lo <= x <= hi and x is finite (ordered
 * comparisons are false for NaN, and the clamped bounds exclude the
 * infinities; a NaN bound stays NaN and fails every element, as it did).  On
 * x86-64 with SSE2 intrinsics (part of the x86-64 baseline), eight doubles an
 * iteration in four independent masks, because GCC 12 does not vectorise the
 * scalar loop (a double comparison feeding an integer mask); elsewhere, and for
 * the last few elements, the same test one element at a time.  The answer is
 * the same either way.
 */
#ifndef PAGET_BOUNDS_H
#define PAGET_BOUNDS_H

#include <float.h>
#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int paget_out_of_bounds_f64(const double *p, ptrdiff_t m, double lo, double hi)
{
    ptrdiff_t i = 0;
    int ok = 1;
    /* (written so that a NaN bound stays NaN) */
    const double a = lo < -DBL_MAX ? -DBL_MAX : lo;
    const double b = hi > DBL_MAX ? DBL_MAX : hi;
#if defined(__SSE2__)
    const __m128d va = _mm_set1_pd(a), vb = _mm_set1_pd(b);
    const __m128d all = _mm_castsi128_pd(_mm_set1_epi32(-1));
    __m128d ok0 = all, ok1 = all, ok2 = all, ok3 = all;
    __m128d x0, x1, x2, x3;
    for (; i + 8 <= m; i += 8) {
        x0 = _mm_loadu_pd(p + i);
        x1 = _mm_loadu_pd(p + i + 2);
        x2 = _mm_loadu_pd(p + i + 4);
        x3 = _mm_loadu_pd(p + i + 6);
        ok0 = _mm_and_pd(ok0, _mm_and_pd(_mm_cmpge_pd(x0, va), _mm_cmple_pd(x0, vb)));
        ok1 = _mm_and_pd(ok1, _mm_and_pd(_mm_cmpge_pd(x1, va), _mm_cmple_pd(x1, vb)));
        ok2 = _mm_and_pd(ok2, _mm_and_pd(_mm_cmpge_pd(x2, va), _mm_cmple_pd(x2, vb)));
        ok3 = _mm_and_pd(ok3, _mm_and_pd(_mm_cmpge_pd(x3, va), _mm_cmple_pd(x3, vb)));
    }
    ok = _mm_movemask_pd(_mm_and_pd(_mm_and_pd(ok0, ok1), _mm_and_pd(ok2, ok3))) == 3;
#endif
    for (; i < m; i++) {
        double x = p[i];
        ok &= (x >= a) & (x <= b);
    }
    return !ok;
}

#endif

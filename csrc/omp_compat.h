/* OpenMP when the build has it, serial stand-ins when it does not. */
#ifndef MINIGRAD_OMP_COMPAT_H
#define MINIGRAD_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
static inline int mg_omp_available(void) { return 1; }
static inline int mg_omp_get_max_threads(void) { return omp_get_max_threads(); }
static inline void mg_omp_set_num_threads(int n) { omp_set_num_threads(n); }
#else
static inline int mg_omp_available(void) { return 0; }
static inline int mg_omp_get_max_threads(void) { return 1; }
static inline void mg_omp_set_num_threads(int n) { (void)n; }
#endif
#endif

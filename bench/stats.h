/* Small statistics the benchmarks share. */
#ifndef AERIE_BENCH_STATS_H
#define AERIE_BENCH_STATS_H

/* The median of v[0..n-1] (n >= 1); sorts v in place. */
double bench_median(double *v, int n);

#endif

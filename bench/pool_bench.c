/* pool_bench.c - cost of a pool_alloc() + pool_release() pair against a
 * malloc() + free() pair of the same size, on one thread and on two
 * threads at once (each with its own tid), with and without a limit.
 *
 * Usage: pool_bench [pairs-per-run] (default 5000000). Prints plain text:
 * the median over several runs of the nanoseconds per pair.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pool/pool.h"

#define RUNS     7
#define BUFSIZE  16384
#define NTHR     2

/* Results go here so the compiler cannot drop the work. */
static void *volatile sink;

enum kind { K_POOL, K_MALLOC };

struct job {
	enum kind kind;
	struct pool *pool;
	unsigned tid;
	uint64_t pairs;
	pthread_barrier_t *start;
	double ns_per_pair;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs the job's pairs and stores its cost per pair. */
static void *job_run(void *arg)
{
	struct job *j = arg;
	uint64_t t0;

	if (j->start)
		pthread_barrier_wait(j->start);
	t0 = now_ns();
	if (j->kind == K_POOL) {
		for (uint64_t i = 0; i < j->pairs; i++) {
			struct buf b = BUF_NULL;

			if (pool_alloc(j->pool, j->tid, POOL_CRIT_REQUEST, &b)) {
				fprintf(stderr, "pool_alloc failed\n");
				exit(1);
			}
			sink = b.area;
			pool_release(j->pool, j->tid, &b);
		}
	} else {
		for (uint64_t i = 0; i < j->pairs; i++) {
			void *m = malloc(BUFSIZE);

			if (!m) {
				fprintf(stderr, "malloc failed\n");
				exit(1);
			}
			sink = m;
			free(m);
		}
	}
	j->ns_per_pair = (double)(now_ns() - t0) / (double)j->pairs;
	return NULL;
}

/* Returns the mean cost per pair of <nthr> threads running at once. */
static double run_once(enum kind kind, struct pool *p, unsigned nthr, uint64_t pairs)
{
	struct job jobs[NTHR];
	pthread_t th[NTHR];
	pthread_barrier_t start;
	double sum = 0;

	if (nthr == 1) {
		jobs[0] = (struct job){ .kind = kind, .pool = p, .tid = 0, .pairs = pairs };
		job_run(&jobs[0]);
		return jobs[0].ns_per_pair;
	}
	pthread_barrier_init(&start, NULL, nthr);
	for (unsigned i = 0; i < nthr; i++) {
		jobs[i] = (struct job){ .kind = kind, .pool = p, .tid = i, .pairs = pairs, .start = &start };
		if (pthread_create(&th[i], NULL, job_run, &jobs[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	for (unsigned i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		sum += jobs[i].ns_per_pair;
	}
	pthread_barrier_destroy(&start);
	return sum / nthr;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Returns the median of the <n> values of <v> (sorts <v>). */
static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Medians over the runs of malloc, pool without and with a limit, the
 * medians of the per-run ratios, and the best runs. */
struct figures {
	double malloc_ns, pool_ns, limited_ns, ratio, limited_ratio, pool_min, malloc_min;
};

/* Measures <nthr> threads. The three kinds run back to back within each
 * run, so that a noisy neighbour weighs on them alike, and the ratios are
 * taken run by run before their median. */
static struct figures measure(struct pool *unl, struct pool *lim, unsigned nthr, uint64_t pairs)
{
	double m[RUNS], u[RUNS], l[RUNS], ru[RUNS], rl[RUNS];
	struct figures f;

	run_once(K_MALLOC, NULL, nthr, pairs / 10); /* warm up */
	run_once(K_POOL, unl, nthr, pairs / 10);
	run_once(K_POOL, lim, nthr, pairs / 10);
	for (int i = 0; i < RUNS; i++) {
		m[i] = run_once(K_MALLOC, NULL, nthr, pairs);
		u[i] = run_once(K_POOL, unl, nthr, pairs);
		l[i] = run_once(K_POOL, lim, nthr, pairs);
		ru[i] = u[i] / m[i];
		rl[i] = l[i] / m[i];
	}
	f.ratio = median_of(ru, RUNS);
	f.limited_ratio = median_of(rl, RUNS);
	f.malloc_ns = median_of(m, RUNS);
	f.pool_ns = median_of(u, RUNS);
	f.limited_ns = median_of(l, RUNS);
	f.malloc_min = m[0];
	f.pool_min = u[0];
	return f;
}

static struct pool *mkpool(uint64_t limit)
{
	struct pool_config cfg = { .bufsize = BUFSIZE, .nbthread = NTHR, .limit = limit };
	struct pool *p = pool_create(&cfg);

	if (!p) {
		perror("pool_create");
		exit(1);
	}
	return p;
}

/* Returns the file of the library that malloc() resolves to. */
static const char *malloc_origin(void)
{
	Dl_info info;
	void *(*fn)(size_t) = malloc;

	if (dladdr(*(void **)&fn, &info) && info.dli_fname)
		return info.dli_fname;
	return "?";
}

int main(int argc, char **argv)
{
	uint64_t pairs = argc > 1 ? strtoull(argv[1], NULL, 10) : 5000000;
	struct pool *unl = mkpool(0), *lim = mkpool(1024);
	struct figures f1, f2;

	if (!pairs)
		pairs = 5000000;
	printf("pool_bench: bufsize %d, %llu pairs per run, median of %d runs\n",
	       BUFSIZE, (unsigned long long)pairs, RUNS);
	printf("malloc comes from: %s\n", malloc_origin());

	f1 = measure(unl, lim, 1, pairs);
	f2 = measure(unl, lim, NTHR, pairs);

	printf("%-36s %9s %9s\n", "ns per alloc+release pair", "1 thread", "2 threads");
	printf("%-36s %9.2f %9.2f\n", "malloc+free", f1.malloc_ns, f2.malloc_ns);
	printf("%-36s %9.2f %9.2f\n", "pool, no limit (thread cache)", f1.pool_ns, f2.pool_ns);
	printf("%-36s %9.2f %9.2f\n", "pool, limit 1024 (under the lock)", f1.limited_ns, f2.limited_ns);
	printf("%-36s %9.2f %9.2f\n", "best run: malloc+free", f1.malloc_min, f2.malloc_min);
	printf("%-36s %9.2f %9.2f\n", "best run: pool, no limit", f1.pool_min, f2.pool_min);
	printf("%-36s %9.2f %9.2f  (target <= 0.50)\n", "ratio pool no limit / malloc", f1.ratio, f2.ratio);
	printf("%-36s %9.2f %9.2f\n", "ratio pool limit / malloc", f1.limited_ratio, f2.limited_ratio);

	pool_destroy(unl);
	pool_destroy(lim);
	return 0;
}

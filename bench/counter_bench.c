/* counter_bench.c - what a per-thread counter costs when threads bump their
 * own counters at once, in three layouts:
 *
 *   unpadded   uint64_t c[nthr]: every thread's counter on one line (the
 *              layout the engine must NOT have; the control case);
 *   padded     one counter per 128-byte line pair (two lines: the
 *              adjacent-line prefetcher moves 64-byte lines in pairs);
 *   thr_ctx    the engine's own struct thr_ctx (engine/core/ctx.h),
 *              allocated as engine.c does, bumped with CNT_INC: the layout
 *              the request path really uses.
 *
 * Each increment is what CNT_INC does: a relaxed load and a relaxed store
 * (no read-modify-write), written only by its thread. Each run lasts a
 * fixed time and every thread runs throughout (see pool_bench.c for why);
 * the figure is ns of the thread's own CPU time per increment, median of
 * RUNS runs. Shared lines show as a cost that grows with the threads
 * running at once on different cores; on a machine with fewer cores than
 * threads the threads take turns and the effect shrinks (marked oversub).
 *
 * Exits 1 when the thr_ctx layout puts two threads' counters within one
 * 128-byte line pair (checked by address, whatever the timings say).
 *
 * Usage: counter_bench [ms-per-run [max-threads]] (default 200 and the
 * online CPUs, at least 2; at most 64).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/core/ctx.h"

#define RUNS     5
#define BATCH    4096   /* increments between two looks at the stop flag */
#define MAX_THR  64
#define LINE_PAIR 128

enum layout { L_UNPADDED, L_PADDED, L_THRCTX, L_COUNT };

static const char *const layout_name[L_COUNT] = {
	"unpadded (8 per 64-byte line)", "padded (one per 128 bytes)",
	"engine thr_ctx (CNT_INC)",
};

struct padded {
	_Alignas(LINE_PAIR) uint64_t v;
};

struct job {
	enum layout layout;
	uint64_t *ctr;              /* unpadded and padded layouts */
	struct thr_ctx *tc;         /* thr_ctx layout */
	const int *stop;            /* atomic */
	pthread_barrier_t *start;
	uint64_t incs;
	double cpu_ns;
	double wall_ns;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Adds 1 to <*c> the way CNT_INC does (single writer, relaxed). */
static inline void bump(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* Thread body: bumps its counter in batches until the stop flag is set.
 * Returns NULL. */
static void *job_run(void *arg)
{
	struct job *j = arg;
	uint64_t c0, w0;

	pthread_barrier_wait(j->start);
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	while (!__atomic_load_n(j->stop, __ATOMIC_RELAXED)) {
		if (j->layout == L_THRCTX)
			for (int i = 0; i < BATCH; i++)
				CNT_INC(j->tc, req_received);
		else
			for (int i = 0; i < BATCH; i++)
				bump(j->ctr);
		j->incs += BATCH;
	}
	j->cpu_ns = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
	j->wall_ns = (double)(clock_ns(CLOCK_MONOTONIC) - w0);
	return NULL;
}

/* The three layouts' storage for up to MAX_THR threads. */
struct arena {
	uint64_t *flat;
	struct padded *pad;
	struct thr_ctx *tcs;
};

/* One run's figures: mean CPU ns per increment over the threads, and how
 * many of them ran at once on average (sum of thread CPU / wall time): a
 * shared line can only cost something while threads overlap. */
struct fig {
	double ns, overlap;
};

/* Returns the figures of <nthr> threads bumping their own counters of
 * <layout> for <ms> milliseconds. */
static struct fig run_once(struct arena *a, enum layout layout, unsigned nthr, unsigned ms)
{
	struct job jobs[MAX_THR];
	pthread_t th[MAX_THR];
	pthread_barrier_t start;
	struct timespec nap = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	struct fig f = { 0, 0 };
	double wall = 0;
	int stop = 0;

	if (pthread_barrier_init(&start, NULL, nthr + 1)) {
		perror("pthread_barrier_init");
		exit(1);
	}
	for (unsigned i = 0; i < nthr; i++) {
		jobs[i] = (struct job){ .layout = layout, .stop = &stop, .start = &start,
					.ctr = layout == L_UNPADDED ? &a->flat[i] : &a->pad[i].v,
					.tc = &a->tcs[i] };
		if (pthread_create(&th[i], NULL, job_run, &jobs[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	while (nanosleep(&nap, &nap) < 0)
		;
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		f.ns += jobs[i].cpu_ns / (double)jobs[i].incs / nthr;
		f.overlap += jobs[i].cpu_ns;
		wall = jobs[i].wall_ns > wall ? jobs[i].wall_ns : wall;
	}
	f.overlap /= wall > 0 ? wall : 1;
	pthread_barrier_destroy(&start);
	return f;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Returns 0 when no two of the first <n> thread contexts have counters
 * within one 128-byte line pair, else prints the culprits and returns 1. */
static int check_thrctx_layout(const struct thr_ctx *tcs, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i++) {
		uintptr_t last = (uintptr_t)(&tcs[i].cnt + 1) - 1;
		uintptr_t next = (uintptr_t)&tcs[i + 1];

		if (last / LINE_PAIR == next / LINE_PAIR) {
			fprintf(stderr, "FAIL: thr_ctx %u's counters and thr_ctx %u share the "
				"128-byte pair at %#lx\n", i, i + 1,
				(unsigned long)(next / LINE_PAIR * LINE_PAIR));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned ms = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200;
	unsigned max = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : (unsigned)(ncpu > 2 ? ncpu : 2);
	struct arena a;
	unsigned sweep[8], nsweep = 0;
	double fig[8][L_COUNT], ovl[8][L_COUNT];
	int bad;

	if (!ms || ms > 60000)
		ms = 200;
	if (!max || max > MAX_THR)
		max = MAX_THR;
	a.flat = aligned_alloc(LINE_PAIR, MAX_THR * sizeof(*a.flat));
	a.pad = aligned_alloc(LINE_PAIR, MAX_THR * sizeof(*a.pad));
	/* as engine.c allocates them */
	a.tcs = aligned_alloc(ENG_LINE, MAX_THR * sizeof(*a.tcs));
	if (!a.flat || !a.pad || !a.tcs) {
		perror("aligned_alloc");
		return 1;
	}
	memset(a.flat, 0, MAX_THR * sizeof(*a.flat));
	memset(a.pad, 0, MAX_THR * sizeof(*a.pad));
	memset(a.tcs, 0, MAX_THR * sizeof(*a.tcs));
	bad = check_thrctx_layout(a.tcs, MAX_THR);
	for (unsigned n = 1; n <= max && nsweep < 8; n *= 2)
		sweep[nsweep++] = n;
	printf("counter_bench: runs of %u ms, median of %d, %ld CPUs online; sizeof(struct "
	       "thr_ctx) %zu, counters at offset %zu (%zu bytes)\n", ms, RUNS, ncpu,
	       sizeof(struct thr_ctx), offsetof(struct thr_ctx, cnt), sizeof(struct eng_counters));
	for (unsigned s = 0; s < nsweep; s++)
		for (int l = 0; l < L_COUNT; l++) {
			double v[RUNS], o[RUNS];

			run_once(&a, (enum layout)l, sweep[s], ms / 5 + 1); /* warm up */
			for (int r = 0; r < RUNS; r++) {
				struct fig f = run_once(&a, (enum layout)l, sweep[s], ms);

				v[r] = f.ns;
				o[r] = f.overlap;
			}
			qsort(v, RUNS, sizeof(v[0]), cmp_double);
			qsort(o, RUNS, sizeof(o[0]), cmp_double);
			fig[s][l] = v[RUNS / 2];
			ovl[s][l] = o[RUNS / 2];
		}
	printf("%-34s", "threads");
	for (unsigned s = 0; s < nsweep; s++)
		printf(" %8u", sweep[s]);
	printf("\n%-34s", "");
	for (unsigned s = 0; s < nsweep; s++)
		printf(" %8s", sweep[s] > (unsigned)ncpu ? "oversub" : "");
	printf("\nCPU ns per increment, per thread\n");
	for (int l = 0; l < L_COUNT; l++) {
		printf("  %-32s", layout_name[l]);
		for (unsigned s = 0; s < nsweep; s++)
			printf(" %8.2f", fig[s][l]);
		printf("\n");
	}
	printf("threads running at once (CPU / wall; contention needs > 1)\n");
	for (int l = 0; l < L_COUNT; l++) {
		printf("  %-32s", layout_name[l]);
		for (unsigned s = 0; s < nsweep; s++)
			printf(" %8.2f", ovl[s][l]);
		printf("\n");
	}
	printf("thr_ctx layout: %s\n", bad ? "FAIL (counters share a line pair)"
					   : "ok (each thread's counters on line pairs of their own)");
	free(a.flat);
	free(a.pad);
	free(a.tcs);
	return bad;
}

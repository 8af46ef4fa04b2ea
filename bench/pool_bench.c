/* pool_bench.c - cost of a pool_alloc() + pool_release() pair against a
 * malloc() + free() pair of the same size, without and with a limit, on a
 * sweep of 1, 2, 4 ... 64 threads calling at once (each with its own tid).
 *
 * On a machine with fewer cores than threads the wall-clock figures fall
 * with the thread count for a plain reason (the threads take turns); the
 * CPU time each thread spends per pair does not, unless the threads fight
 * over shared cache lines or the pool lock. So next to the wall-clock cost
 * the sweep reports, per thread, pairs per CPU-second of that thread
 * (CLOCK_THREAD_CPUTIME_ID): flat means no contention, falling means the
 * threads slow each other down.
 *
 * Each run lasts a fixed time and every thread of it runs for that whole
 * time, so that with more threads than cores the threads still overlap
 * (a fixed number of pairs per thread would let short threads run one
 * after the other within a time slice and hide any contention). With many
 * more threads than cores on a busy machine, some threads may not have
 * been scheduled at all when the time is up: the run then goes on until
 * every thread has done at least one batch, so that every thread counts.
 *
 * Under a limit the pool keeps per-thread credit: two limited cases are
 * measured, a limit far above need (1024 for at most 16 blocks in use),
 * and a limit near it: 64 per thread, each thread holding 60 blocks while
 * it runs its pairs, above limit - threads x batch (batch 8 there) but
 * with a steady demand per thread, so each keeps the credits it needs.
 * For each, the pool lock acquisitions and the atomic operations on shared
 * lines per pair are counted by the pool itself (pool_stats).
 *
 * The far case checks the credit scheme's promise: while in-use stays
 * below limit - threads x batch (here at most <threads> blocks in use
 * against a limit of 256 per thread and a batch of 32), a thread takes the
 * pool lock at most once per 32 pairs. The median lock acquisitions per
 * pair must stay <= 1/32 at every thread count, or the run exits 1.
 * (Wake-ups per hand-off need scheduler threads: sched_handoff_bench's
 * sweep covers them up to 64 threads.)
 *
 * Usage: pool_bench [ms-per-run [max-threads]] (default 250 and 64; the
 * sweep doubles from 1 up to max-threads, at most 64). Prints plain text:
 * medians over several runs. Thread counts above the online CPUs are
 * oversubscribed and marked so.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"

#define RUNS     5
#define BATCH    64      /* pairs between two looks at the stop flag */
#define BUFSIZE  16384
#define MAX_THR  64
#define MAX_SWEEP 7
#define NEAR_PER_THR  64   /* near the limit: limit per thread */
#define NEAR_HELD     60   /* near the limit: blocks each thread holds */

static unsigned sweep[MAX_SWEEP];
static unsigned NSWEEP;

/* Results go here so the compiler cannot drop the work. */
static void *volatile sink;

enum kind { K_MALLOC, K_POOL, K_LIMITED, K_NEAR, K_COUNT };

static const char *const kind_name[K_COUNT] = {
	"malloc+free", "pool, no limit (thread cache)",
	"pool, limit max(1024, 256/thread) (far above need)",
	"pool, limit 64/thread, 60 held by each (near it, steady)",
};

struct job {
	enum kind kind;
	struct pool *pool;
	unsigned tid;
	const int *stop;        /* atomic: set when the run's time is up */
	unsigned *ran;          /* atomic: threads that finished a first batch */
	pthread_barrier_t *start;
	uint64_t pairs;         /* pairs this thread completed */
	uint64_t locks, shared; /* pool lock acquisitions, shared-line atomics */
	double wall_ns;         /* this thread's elapsed time */
	double cpu_ns;          /* this thread's CPU time */
};

/* The cost of one run: per pair and per thread, averaged over threads. */
struct cost {
	double wall;            /* ns of elapsed time per pair */
	double cpu;             /* ns of the thread's CPU time per pair */
	double locks;           /* pool lock acquisitions per pair */
	double shared;          /* shared-line atomic operations per pair */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs <pairs> pool pairs; exits on a refused allocation (the limit is far
 * above what the threads hold at once, so a refusal is a bug). */
static void pool_pairs(struct pool *p, unsigned tid, uint64_t pairs)
{
	for (uint64_t i = 0; i < pairs; i++) {
		struct buf b = BUF_NULL;

		if (pool_alloc(p, tid, POOL_CRIT_REQUEST, &b)) {
			fprintf(stderr, "pool_alloc failed\n");
			exit(1);
		}
		sink = b.area;
		pool_release(p, tid, &b);
	}
}

/* Runs <pairs> malloc+free pairs of the buffer size. */
static void malloc_pairs(uint64_t pairs)
{
	for (uint64_t i = 0; i < pairs; i++) {
		void *m = malloc(BUFSIZE);

		if (!m) {
			fprintf(stderr, "malloc failed\n");
			exit(1);
		}
		sink = m;
		free(m);
	}
}

/* Thread body: after the start barrier, runs batches of pairs until the
 * stop flag is set, and stores its count, elapsed and CPU time. Returns
 * NULL. */
static void *job_run(void *arg)
{
	struct job *j = arg;
	struct buf held[NEAR_HELD];
	struct pool_stats s0, s1;
	uint64_t w0, c0;

	if (j->kind == K_NEAR) {
		for (int i = 0; i < NEAR_HELD; i++) {
			held[i] = BUF_NULL;
			if (pool_alloc(j->pool, j->tid, POOL_CRIT_RESPONSE, &held[i])) {
				fprintf(stderr, "pool_alloc of the held blocks failed\n");
				exit(1);
			}
		}
	}
	pthread_barrier_wait(j->start);
	if (j->pool)
		pool_stats(j->pool, j->tid, &s0);
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	while (!__atomic_load_n(j->stop, __ATOMIC_RELAXED)) {
		if (j->kind == K_MALLOC)
			malloc_pairs(BATCH);
		else
			pool_pairs(j->pool, j->tid, BATCH);
		if (!j->pairs)
			__atomic_fetch_add(j->ran, 1, __ATOMIC_RELAXED);
		j->pairs += BATCH;
	}
	j->cpu_ns = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
	j->wall_ns = (double)(clock_ns(CLOCK_MONOTONIC) - w0);
	if (j->pool) {
		pool_stats(j->pool, j->tid, &s1);
		j->locks = s1.lock_acquisitions - s0.lock_acquisitions;
		j->shared = s1.shared_atomics - s0.shared_atomics;
	}
	if (j->kind == K_NEAR) {
		/* another thread may still run its pairs near the limit */
		pthread_barrier_wait(j->start);
		for (int i = 0; i < NEAR_HELD; i++)
			pool_release(j->pool, j->tid, &held[i]);
	}
	return NULL;
}

/* Returns the mean per-thread cost per pair of <nthr> threads running at
 * once for <ms> milliseconds. */
static struct cost run_once(enum kind kind, struct pool *p, unsigned nthr, unsigned ms)
{
	struct job jobs[MAX_THR];
	pthread_t th[MAX_THR];
	pthread_barrier_t start;
	struct timespec nap = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };
	struct cost c = { 0, 0, 0, 0 };
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 1000000 };
	uint64_t pairs = 0, locks = 0, shared = 0;
	unsigned ran = 0;
	int stop = 0;

	/* the main thread joins the barrier so that the clock starts with all */
	if (pthread_barrier_init(&start, NULL, nthr + 1)) {
		perror("pthread_barrier_init");
		exit(1);
	}
	for (unsigned i = 0; i < nthr; i++) {
		jobs[i] = (struct job){ .kind = kind, .pool = p, .tid = i, .stop = &stop,
					.ran = &ran, .start = &start };
		if (pthread_create(&th[i], NULL, job_run, &jobs[i])) {
			perror("pthread_create");
			exit(1);
		}
	}
	pthread_barrier_wait(&start);
	while (nanosleep(&nap, &nap) < 0)
		;
	/* every thread must have run (see the top of the file) */
	while (__atomic_load_n(&ran, __ATOMIC_RELAXED) < nthr)
		nanosleep(&tick, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	if (kind == K_NEAR)
		pthread_barrier_wait(&start);
	for (unsigned i = 0; i < nthr; i++) {
		pthread_join(th[i], NULL);
		c.wall += jobs[i].wall_ns / (double)jobs[i].pairs / nthr;
		c.cpu += jobs[i].cpu_ns / (double)jobs[i].pairs / nthr;
		pairs += jobs[i].pairs;
		locks += jobs[i].locks;
		shared += jobs[i].shared;
	}
	c.locks = (double)locks / (double)pairs;
	c.shared = (double)shared / (double)pairs;
	pthread_barrier_destroy(&start);
	return c;
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

/* Medians over the runs of one thread count, per kind, and the medians of
 * the per-run ratios (wall clock). */
struct figures {
	struct cost k[K_COUNT];
	double ratio, limited_ratio, limited_vs_pool;
	uint64_t far_limit, far_batch; /* the far-limit pool's limit and credit batch */
};

/* Returns a pool of <nbthread> threads under <limit> (0 = none). */
static struct pool *mkpool(uint64_t limit, unsigned nbthread)
{
	struct pool_config cfg = { .bufsize = BUFSIZE, .nbthread = nbthread, .limit = limit };
	struct pool *p = pool_create(&cfg);

	if (!p) {
		perror("pool_create");
		exit(1);
	}
	return p;
}

/* Measures <nthr> threads in runs of <ms> milliseconds. The kinds run back
 * to back within each run, so that a noisy neighbour weighs on them
 * alike, and the ratios are taken run by run before their median. The
 * limited pools are made for <nthr> threads, since their credit batch
 * depends on it. */
static struct figures measure(struct pool *unlimited, unsigned nthr, unsigned ms)
{
	double wall[K_COUNT][RUNS], cpu[K_COUNT][RUNS], locks[K_COUNT][RUNS], shared[K_COUNT][RUNS];
	double ru[RUNS], rl[RUNS], rlp[RUNS];
	struct pool *pools[K_COUNT] = {
		NULL, unlimited, mkpool(nthr * 256u > 1024 ? nthr * 256u : 1024, nthr),
		mkpool((uint64_t)NEAR_PER_THR * nthr, nthr),
	};
	struct figures f;

	for (int k = 0; k < K_COUNT; k++) /* warm up */
		run_once((enum kind)k, pools[k], nthr, ms / 5 + 1);
	for (int i = 0; i < RUNS; i++) {
		for (int k = 0; k < K_COUNT; k++) {
			struct cost c = run_once((enum kind)k, pools[k], nthr, ms);

			wall[k][i] = c.wall;
			cpu[k][i] = c.cpu;
			locks[k][i] = c.locks;
			shared[k][i] = c.shared;
		}
		ru[i] = wall[K_POOL][i] / wall[K_MALLOC][i];
		rl[i] = wall[K_LIMITED][i] / wall[K_MALLOC][i];
		rlp[i] = cpu[K_LIMITED][i] / cpu[K_POOL][i];
	}
	for (int k = 0; k < K_COUNT; k++) {
		f.k[k].wall = median_of(wall[k], RUNS);
		f.k[k].cpu = median_of(cpu[k], RUNS);
		f.k[k].locks = median_of(locks[k], RUNS);
		f.k[k].shared = median_of(shared[k], RUNS);
	}
	f.ratio = median_of(ru, RUNS);
	f.limited_ratio = median_of(rl, RUNS);
	f.limited_vs_pool = median_of(rlp, RUNS);
	{
		struct pool_stats ps;

		pool_stats(pools[K_LIMITED], -1u, &ps);
		f.far_limit = ps.limit;
		f.far_batch = ps.credit_batch;
	}
	pool_destroy(pools[K_LIMITED]);
	pool_destroy(pools[K_NEAR]);
	return f;
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

/* Prints one row: a label, then one value per thread count. */
static void row(const char *label, const double *v, const char *unit)
{
	printf("  %-34s", label);
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(v[i] != 0 && v[i] < 0.01 ? " %9.1e" : " %9.2f", v[i]);
	printf("%s\n", unit);
}

/* Prints the sweep: wall and CPU cost per pair, per-thread throughput by
 * both clocks, the aggregate, and the ratios against malloc. */
static void print_sweep(const struct figures *f, unsigned ncpu)
{
	double v[NSWEEP];

	printf("%-36s", "threads");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9u", sweep[i]);
	printf("\n%-36s", "");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9s", sweep[i] > ncpu ? "oversub" : "");
	printf("\n");
	for (int k = 0; k < K_COUNT; k++) {
		printf("%s\n", kind_name[k]);
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = f[i].k[k].wall;
		row("ns per pair (wall, per thread)", v, "");
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = f[i].k[k].cpu;
		row("CPU ns per pair (thread CPU)", v, "");
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = 1e3 / f[i].k[k].wall;
		row("per thread, M pairs/s (wall)", v, "");
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = 1e3 / f[i].k[k].cpu;
		row("per thread, M pairs/CPU-s", v, "  <- flat = no contention");
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = 1e3 / f[i].k[k].wall * sweep[i];
		row("all threads, M pairs/s (wall)", v, "");
		if (k < K_LIMITED)
			continue;
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = f[i].k[k].locks;
		row("pool lock acquisitions per pair", v, "");
		for (unsigned i = 0; i < NSWEEP; i++)
			v[i] = f[i].k[k].shared;
		row("shared-line atomics per pair", v, "");
	}
	for (unsigned i = 0; i < NSWEEP; i++)
		v[i] = f[i].ratio;
	printf("%-36s", "ratio pool no limit / malloc");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9.2f", v[i]);
	printf("  (target <= 0.50)\n");
	printf("%-36s", "ratio pool far limit / malloc");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9.2f", f[i].limited_ratio);
	printf("\n");
	printf("%-36s", "CPU ratio far limit / no limit");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9.2f", f[i].limited_vs_pool);
	printf("\n");
	if (sweep[NSWEEP - 1] > ncpu)
		printf("oversub: more threads than the %u online CPUs; they take turns, so the "
		       "wall-clock columns fall for that reason alone (per CPU-second is the "
		       "contention figure)\n", ncpu);
}

/* Checks, at every thread count, that the far-limit pool took its lock at
 * most once per 32 pairs while in-use (at most one block per thread) stayed
 * below limit - threads x batch. Prints the verdict; returns 0 when it
 * holds everywhere. */
static int check_far_locks(const struct figures *f)
{
	int bad = 0;

	printf("%-36s", "far limit: lock acq. per pair <= 1/32");
	for (unsigned i = 0; i < NSWEEP; i++) {
		uint64_t room = f[i].far_limit - (uint64_t)sweep[i] * f[i].far_batch;
		int ok = sweep[i] < room && f[i].k[K_LIMITED].locks <= 1.0 / 32;

		printf(" %9s", ok ? "ok" : "FAIL");
		bad |= !ok;
	}
	printf("\n%-36s", "  limit - threads x batch (> in use)");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9llu", (unsigned long long)(f[i].far_limit - (uint64_t)sweep[i] * f[i].far_batch));
	printf("\n");
	return bad;
}

int main(int argc, char **argv)
{
	unsigned ms = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 250;
	unsigned max = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : MAX_THR;
	int bad;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct pool *unlimited = mkpool(0, MAX_THR);
	struct figures f[MAX_SWEEP];

	if (!ms || ms > 60000)
		ms = 250;
	if (!max || max > MAX_THR)
		max = MAX_THR;
	for (unsigned n = 1; n <= max && NSWEEP < MAX_SWEEP; n *= 2)
		sweep[NSWEEP++] = n;
	printf("pool_bench: bufsize %d, runs of %u ms (every thread runs throughout), median of "
	       "%d runs, %ld CPUs online\n", BUFSIZE, ms, RUNS, ncpu);
	printf("malloc comes from: %s\n", malloc_origin());
	for (unsigned i = 0; i < NSWEEP; i++)
		f[i] = measure(unlimited, sweep[i], ms);
	print_sweep(f, ncpu > 0 ? (unsigned)ncpu : 1);
	bad = check_far_locks(f);
	pool_destroy(unlimited);
	if (bad)
		printf("FAIL: the far-limit pool took its lock more than once per 32 pairs\n");
	return bad;
}

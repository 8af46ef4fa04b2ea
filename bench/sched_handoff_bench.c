/* sched_handoff_bench.c - latency of the buffer hand-off and of
 * cross-thread wake-ups, and wake-ups per hand-off under contention.
 *
 * 1. hand-off latency: two tasks on two threads share a pool limited to
 *    one buffer and pass it back and forth. Measured from just before
 *    pool_release() on the holder's thread until the waiting task runs on
 *    the other thread (release, notify, inbox, eventfd kick, epoll, run).
 * 2. contention: many tasks on two threads fight for a few buffers; every
 *    BUFFER wake-up is counted, and so are those that found nothing to
 *    take (useless). Wake-ups per hand-off should be exactly 1.000.
 * 3. cross-thread tasklet wake-up latency, ping-pong between two threads,
 *    with the target asleep in epoll_wait and with it busy.
 * 4. thread-count sweep (1, 2, 4 ... 64 scheduler threads; counts above the
 *    online CPUs are oversubscribed and marked so):
 *    a. test 2 with 50 tasks per thread and a limit of 2 buffers per
 *       thread (plus a reserve of 1): buffer acquisitions per second, per
 *       thread, and per CPU-second of the whole process; hand-offs, the
 *       share of wake-ups that crossed threads, eventfd kicks.
 *    b. relay rings: 4 tokens per thread, each passed from a tasklet on
 *       thread i to one on thread i+1 (itself with one thread): pure
 *       cross-thread wake-ups, no pool.
 *    With more threads than cores the per-second figures fall for a plain
 *    reason (threads take turns); the per-CPU-second figures fall only
 *    when the threads cost each other work (the pool lock, cache lines of
 *    the inboxes, kicks of sleeping threads).
 *
 * Usage: sched_handoff_bench [rounds [quick]]   (default 20000; quick runs
 * tests 1 and 2 only). sched_handoff_bench_hold is the same program built
 * with pool.c compiled in and POOL_HOLD_STATS defined: it also prints how
 * long the pool lock was held.
 * Prints plain text; exit 1 if a run does not finish or a check fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pool/pool.h"
#include "sched/sched.h"
#include "tests/sched/testutil.h"

#define TIMEOUT_MS 60000

#ifdef POOL_HOLD_STATS
/* Built with pool.c itself (sched_handoff_bench_hold): the pool then times
 * every hold of its lock. */
void pool_hold_stats(uint64_t *ns, uint64_t *n, uint64_t *max, uint64_t *over_1us);

/* Prints, and resets, how long the pool lock was held since the last call. */
static void print_hold(const char *what)
{
	uint64_t ns, n, max, over;

	pool_hold_stats(&ns, &n, &max, &over);
	printf("   pool lock held (%s): %llu holds, mean %.0f ns, max %.1f us, %.2f %% above 1 us\n",
	       what, (unsigned long long)n, n ? (double)ns / (double)n : 0.0, (double)max / 1e3,
	       n ? 100.0 * (double)over / (double)n : 0.0);
}
#else
static void print_hold(const char *what) { (void)what; }
#endif

static unsigned rounds = 20000;

/* ---- figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Prints median, p99 and max of <n> samples (sorted in place). */
static void print_lat(const char *what, uint64_t *ns, unsigned n)
{
	if (!n) {
		printf("%-44s no samples\n", what);
		return;
	}
	qsort(ns, n, sizeof(*ns), cmp_u64);
	printf("%-44s median %7.1f us   p99 %7.1f us   max %8.1f us   (%u samples)\n", what,
	       (double)ns[n / 2] / 1e3, (double)ns[(uint64_t)n * 99 / 100] / 1e3,
	       (double)ns[n - 1] / 1e3, n);
}

/* ---- 1. hand-off latency ---- */

struct player {
	struct tasklet   tl;
	struct pool_wait wait;
	struct buf       buf;
	struct player   *peer;
	struct pool     *pool;
	unsigned         tid;
};

struct pingpong {
	struct player p[2];
	uint64_t      t0;        /* atomic: release time of the last hand-off */
	uint64_t     *lat;
	unsigned      n;         /* samples taken */
	unsigned      unexpected;
	int           done;      /* atomic */
};

static struct pingpong PP;

static void player_notify(struct pool_wait *w)
{
	struct player *pl = w->ctx;

	tasklet_wakeup(&pl->tl, SCHED_R_BUFFER);
}

/* MSG from the peer: release if holding (that serves the peer), else
 * subscribe and tell the peer. BUFFER: record the latency, take, and tell
 * the peer to wait in turn. */
static void player_cb(struct tasklet *t, unsigned reasons)
{
	struct player *pl = t->ctx;

	if (reasons & SCHED_R_BUFFER) {
		uint64_t now = tu_now_ns();

		if (!pool_wait_take(pl->pool, &pl->wait, &pl->buf)) {
			PP.unexpected++;
			return;
		}
		if (PP.n < rounds)
			PP.lat[PP.n] = now - __atomic_load_n(&PP.t0, __ATOMIC_RELAXED);
		if (++PP.n >= rounds) {
			__atomic_store_n(&PP.done, 1, __ATOMIC_RELEASE);
			return;
		}
		tasklet_wakeup(&pl->peer->tl, SCHED_R_MSG);
		return;
	}
	if (!(reasons & SCHED_R_MSG))
		return;
	if (!b_is_null(&pl->buf)) {
		__atomic_store_n(&PP.t0, tu_now_ns(), __ATOMIC_RELAXED);
		pool_release(pl->pool, pl->tid, &pl->buf);
		return;
	}
	if (pool_alloc(pl->pool, pl->tid, POOL_CRIT_RESPONSE, &pl->buf) == 0) {
		PP.unexpected++;          /* the limit of one should forbid it */
		tasklet_wakeup(&pl->peer->tl, SCHED_R_MSG);
		return;
	}
	pool_wait_subscribe(pl->pool, &pl->wait);
	tasklet_wakeup(&pl->peer->tl, SCHED_R_MSG);
}

static void kill_tasklet(void *arg)
{
	tasklet_kill(arg, 0);
}

static int bench_handoff_latency(void)
{
	struct pool_config cfg = { .bufsize = 4096, .nbthread = 2, .limit = 1, .reserve = 0 };
	struct pool *pool = pool_create(&cfg);
	struct sched *s = sched_create(2);
	struct pool_stats ps;
	unsigned i;
	int ret = 0;

	memset(&PP, 0, sizeof(PP));
	PP.lat = calloc(rounds, sizeof(*PP.lat));
	if (!pool || !s || !PP.lat) {
		perror("setup");
		return 1;
	}
	for (i = 0; i < 2; i++) {
		struct player *pl = &PP.p[i];

		pl->tid = i;
		pl->pool = pool;
		pl->peer = &PP.p[!i];
		tasklet_init(&pl->tl, sched_thread_get(s, i), player_cb, pl);
		pool_wait_init(&pl->wait, i, POOL_CRIT_RESPONSE, player_notify, pl);
	}
	/* Player 0 starts with the only buffer; player 1 starts waiting. */
	if (pool_alloc(pool, 0, POOL_CRIT_RESPONSE, &PP.p[0].buf) < 0) {
		fprintf(stderr, "first allocation failed\n");
		return 1;
	}
	tasklet_wakeup(&PP.p[1].tl, SCHED_R_MSG);
	sched_start(s);
	if (tu_wait_flag(&PP.done, TIMEOUT_MS) < 0) {
		fprintf(stderr, "FAIL: hand-off ping-pong stuck after %u rounds\n", PP.n);
		return 1;
	}
	for (i = 0; i < 2; i++)
		tu_run_on(sched_thread_get(s, i), kill_tasklet, &PP.p[i].tl, 5000);
	sched_stop(s);
	sched_join(s);
	pool_stats(pool, -1u, &ps);
	print_lat("1. hand-off, release -> waiter runs:", PP.lat, rounds);
	printf("   hand-offs %llu, notifies %llu, unexpected events %u\n",
	       (unsigned long long)ps.handoffs, (unsigned long long)ps.notifies, PP.unexpected);
	print_hold("ping-pong, limit 1");
	if (PP.unexpected || ps.handoffs != ps.notifies)
		ret = 1;
	for (i = 0; i < 2; i++) {
		pool_wait_cancel(pool, &PP.p[i].wait);
		pool_release(pool, i, &PP.p[i].buf);
	}
	sched_destroy(s);
	pool_destroy(pool);
	free(PP.lat);
	return ret;
}

/* ---- 2. wake-ups per hand-off under contention ---- */

#define CT_TASKS  200
#define CT_ITERS  50
#define CT_LIMIT  4
#define SW_TASKS_PER_THREAD 50
#define SW_ITERS            200
#define SW_RELAY_TOKENS     4      /* relay tokens per thread */
#define SW_RELAY_MS         250

/* Up to 64 threads: on a machine with fewer CPUs they are oversubscribed
 * (they take turns), which still exercises hand-offs between threads that
 * are preempted mid-operation; the exactness checks hold at every count. */
static const unsigned sweep[] = { 1, 2, 4, 8, 16, 32, 64 };
#define NSWEEP (sizeof(sweep) / sizeof(sweep[0]))

struct contender {
	struct tasklet   tl;
	struct pool_wait wait;
	struct buf       buf;
	struct pool     *pool;
	unsigned         tid, iter;
	int              waiting, holding;
	uint64_t         buffer_wakeups, useless;
};

static int ct_done;     /* atomic: contenders finished */
static unsigned ct_iters = CT_ITERS; /* buffers per contender in this run */

static void contender_notify(struct pool_wait *w)
{
	struct contender *c = w->ctx;

	tasklet_wakeup(&c->tl, SCHED_R_BUFFER);
}

/* Tries to get a buffer; returns 1 if it holds one now. */
static int contender_get(struct contender *c)
{
	if (pool_alloc(c->pool, c->tid, POOL_CRIT_REQUEST, &c->buf) == 0)
		return 1;
	pool_wait_subscribe(c->pool, &c->wait);
	c->waiting = 1;
	return 0;
}

/* Holds a buffer for one scheduler turn (a self wake-up), then releases
 * it and asks for the next one. */
static void contender_cb(struct tasklet *t, unsigned reasons)
{
	struct contender *c = t->ctx;

	if (reasons & SCHED_R_BUFFER) {
		c->buffer_wakeups++;
		if (!c->waiting || !pool_wait_take(c->pool, &c->wait, &c->buf)) {
			c->useless++;
			return;
		}
		c->waiting = 0;
		c->holding = 1;
		tasklet_wakeup(t, SCHED_R_WAKE);
		return;
	}
	if (c->holding) {
		pool_release(c->pool, c->tid, &c->buf);
		c->holding = 0;
		if (++c->iter == ct_iters) {
			__atomic_fetch_add(&ct_done, 1, __ATOMIC_RELEASE);
			return;
		}
	}
	if (!c->waiting && contender_get(c)) {
		c->holding = 1;
		tasklet_wakeup(t, SCHED_R_WAKE);
	}
}

/* Figures of one contention run. */
struct ct_result {
	uint64_t acquisitions, handoffs, buffer_wakeups, useless;
	uint64_t kicks, remote_wakeups, tasklets_run;
	double   seconds, cpu_seconds;
};

static uint64_t cpu_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs <tasks> contenders spread over <nthr> threads, <iters> buffers each,
 * under <limit> buffers (reserve 1). Returns 0 and fills <r>, or 1 when the
 * run got stuck or a check failed. */
static int run_contention(unsigned nthr, unsigned tasks, unsigned iters, unsigned limit,
			  struct ct_result *r)
{
	struct pool_config cfg = { .bufsize = 4096, .nbthread = nthr, .limit = limit, .reserve = 1 };
	struct pool *pool = pool_create(&cfg);
	struct sched *s = sched_create(nthr);
	struct contender *c = calloc(tasks, sizeof(*c));
	uint64_t start, end, cpu0;
	struct pool_stats ps;
	struct sched_stats ss;
	unsigned i;

	if (!pool || !s || !c) {
		perror("setup");
		return 1;
	}
	memset(r, 0, sizeof(*r));
	ct_done = 0;
	ct_iters = iters;
	for (i = 0; i < tasks; i++) {
		c[i].tid = i % nthr;
		c[i].pool = pool;
		tasklet_init(&c[i].tl, sched_thread_get(s, c[i].tid), contender_cb, &c[i]);
		pool_wait_init(&c[i].wait, c[i].tid, POOL_CRIT_REQUEST, contender_notify, &c[i]);
		tasklet_wakeup(&c[i].tl, SCHED_R_WAKE);
	}
	start = tu_now_ns();
	cpu0 = cpu_clock_ns();
	sched_start(s);
	while (__atomic_load_n(&ct_done, __ATOMIC_ACQUIRE) < (int)tasks) {
		if ((tu_now_ns() - start) / 1000000u > TIMEOUT_MS) {
			fprintf(stderr, "FAIL: contention run stuck (%d of %u done)\n",
				__atomic_load_n(&ct_done, __ATOMIC_ACQUIRE), tasks);
			return 1;
		}
		tu_sleep_us(1000);
	}
	end = tu_now_ns();
	r->cpu_seconds = (double)(cpu_clock_ns() - cpu0) / 1e9;
	sched_stop(s);
	sched_join(s);
	pool_stats(pool, -1u, &ps);
	sched_stats(s, -1u, &ss);
	for (i = 0; i < tasks; i++) {
		r->buffer_wakeups += c[i].buffer_wakeups;
		r->useless += c[i].useless;
	}
	r->acquisitions = (uint64_t)tasks * iters;
	r->handoffs = ps.handoffs;
	r->kicks = ss.kicks;
	r->remote_wakeups = ss.remote_wakeups;
	r->tasklets_run = ss.tasklets_run;
	r->seconds = (double)(end - start) / 1e9;
	sched_destroy(s);
	pool_destroy(pool);
	free(c);
	return r->buffer_wakeups != r->handoffs || r->useless != 0;
}

static int bench_contention(void)
{
	struct ct_result r;
	int failed = run_contention(2, CT_TASKS, CT_ITERS, CT_LIMIT, &r);

	printf("2. contention: %u tasks on 2 threads, limit %u (reserve 1), %u buffers each:\n",
	       CT_TASKS, CT_LIMIT, CT_ITERS);
	printf("   %llu hand-offs, %llu BUFFER wake-ups (%llu useless): %.3f wake-ups per hand-off\n",
	       (unsigned long long)r.handoffs, (unsigned long long)r.buffer_wakeups,
	       (unsigned long long)r.useless,
	       r.handoffs ? (double)r.buffer_wakeups / (double)r.handoffs : 0.0);
	printf("   %.0f buffer acquisitions/s, %.2f callback runs per acquisition, %llu kicks\n",
	       (double)r.acquisitions / r.seconds,
	       (double)r.tasklets_run / (double)r.acquisitions, (unsigned long long)r.kicks);
	print_hold("contention");
	return failed;
}

/* ---- 3. cross-thread tasklet wake-up latency ---- */

struct pinger {
	struct tasklet  tl;
	struct pinger  *peer;
};

struct spinner {
	struct tasklet tl;
	int            stop;    /* atomic */
};

static struct {
	struct pinger  p[2];
	struct spinner spin[2];
	uint64_t       t0;      /* atomic */
	uint64_t      *lat;
	unsigned       n;
	int            done;    /* atomic */
} PG;

static void pinger_cb(struct tasklet *t, unsigned reasons)
{
	struct pinger *p = t->ctx;
	uint64_t now = tu_now_ns();

	if (PG.n < rounds)
		PG.lat[PG.n] = now - __atomic_load_n(&PG.t0, __ATOMIC_RELAXED);
	if (++PG.n >= rounds) {
		__atomic_store_n(&PG.done, 1, __ATOMIC_RELEASE);
		return;
	}
	__atomic_store_n(&PG.t0, tu_now_ns(), __ATOMIC_RELAXED);
	tasklet_wakeup(&p->peer->tl, SCHED_R_MSG);
}

/* Keeps its thread awake: wakes itself until told to stop. */
static void spinner_cb(struct tasklet *t, unsigned reasons)
{
	struct spinner *sp = t->ctx;

	if (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE))
		tasklet_wakeup(t, SCHED_R_WAKE);
}

static int bench_wakeup_latency(int busy)
{
	struct sched *s = sched_create(2);
	struct sched_stats ss, ss0;
	uint64_t start, end;
	unsigned i;

	memset(&PG, 0, sizeof(PG));
	PG.lat = calloc(rounds, sizeof(*PG.lat));
	if (!s || !PG.lat) {
		perror("setup");
		return 1;
	}
	for (i = 0; i < 2; i++) {
		tasklet_init(&PG.p[i].tl, sched_thread_get(s, i), pinger_cb, &PG.p[i]);
		PG.p[i].peer = &PG.p[!i];
		tasklet_init(&PG.spin[i].tl, sched_thread_get(s, i), spinner_cb, &PG.spin[i]);
		if (busy)
			tasklet_wakeup(&PG.spin[i].tl, SCHED_R_WAKE);
	}
	sched_start(s);
	tu_sleep_us(10000);
	sched_stats(s, -1u, &ss0);
	start = tu_now_ns();
	__atomic_store_n(&PG.t0, tu_now_ns(), __ATOMIC_RELAXED);
	tasklet_wakeup(&PG.p[0].tl, SCHED_R_MSG);
	if (tu_wait_flag(&PG.done, TIMEOUT_MS) < 0) {
		fprintf(stderr, "FAIL: wake-up ping-pong stuck after %u rounds\n", PG.n);
		return 1;
	}
	end = tu_now_ns();
	sched_stats(s, -1u, &ss);
	for (i = 0; i < 2; i++)
		__atomic_store_n(&PG.spin[i].stop, 1, __ATOMIC_RELEASE);
	tu_sleep_us(10000);
	sched_stop(s);
	sched_join(s);
	print_lat(busy ? "3b. cross-thread wake-up, target busy:" :
			 "3a. cross-thread wake-up, target idle:", PG.lat + 1, rounds - 1);
	/* A busy target picks remote wake-ups up once per loop turn, and a
	 * turn runs up to the budget of queued callbacks first. */
	printf("   kicks per wake-up %.3f; per thread: %.2f us per loop turn, %.0f callbacks per turn\n",
	       (double)(ss.kicks - ss0.kicks) / (double)rounds,
	       (double)(end - start) / 1e3 * 2 / (double)(ss.loops - ss0.loops),
	       (double)(ss.tasklets_run - ss0.tasklets_run) / (double)(ss.loops - ss0.loops));
	sched_destroy(s);
	free(PG.lat);
	return 0;
}

/* ---- 4. thread-count sweep ---- */

/* A relay: a tasklet that passes its token on to the next relay of its
 * ring, on the next thread. One per cache line: the counters of two
 * threads never share one. */
struct relay {
	_Alignas(64) struct tasklet tl;
	struct relay *next;
	uint64_t      hops;    /* tokens this relay passed on */
};

static int relay_stop;      /* atomic: stop passing tokens */

static void relay_cb(struct tasklet *t, unsigned reasons)
{
	struct relay *r = t->ctx;

	(void)reasons;
	if (__atomic_load_n(&relay_stop, __ATOMIC_RELAXED))
		return;
	r->hops++;
	tasklet_wakeup(&r->next->tl, SCHED_R_MSG);
}

/* Figures of one relay run. */
struct relay_result {
	uint64_t hops, kicks, remote_wakeups;
	double   seconds, cpu_seconds;
};

/* Runs SW_RELAY_TOKENS rings per thread across <nthr> threads for
 * SW_RELAY_MS. Returns 0 and fills <res>, or 1 on a setup failure. */
static int run_relays(unsigned nthr, struct relay_result *res)
{
	unsigned rings = SW_RELAY_TOKENS * nthr, n = rings * nthr, i;
	struct relay *rl = aligned_alloc(64, n * sizeof(*rl));
	struct sched *s = sched_create(nthr);
	struct sched_stats ss0, ss;
	uint64_t t0, cpu0;

	if (!rl || !s) {
		perror("setup");
		return 1;
	}
	memset(rl, 0, n * sizeof(*rl));
	relay_stop = 0;
	/* relay (ring j, thread i) sits at j * nthr + i; it hands on to i + 1 */
	for (i = 0; i < n; i++) {
		unsigned ring = i / nthr, thr = i % nthr;

		rl[i].next = &rl[ring * nthr + (thr + 1) % nthr];
		tasklet_init(&rl[i].tl, sched_thread_get(s, thr), relay_cb, &rl[i]);
	}
	sched_start(s);
	tu_sleep_us(10000);
	sched_stats(s, -1u, &ss0);
	t0 = tu_now_ns();
	cpu0 = cpu_clock_ns();
	for (i = 0; i < rings; i++)
		tasklet_wakeup(&rl[i * nthr].tl, SCHED_R_MSG);
	tu_sleep_us(SW_RELAY_MS * 1000u);
	__atomic_store_n(&relay_stop, 1, __ATOMIC_RELAXED);
	res->seconds = (double)(tu_now_ns() - t0) / 1e9;
	res->cpu_seconds = (double)(cpu_clock_ns() - cpu0) / 1e9;
	sched_stats(s, -1u, &ss);
	tu_sleep_us(20000);   /* the tokens die out at their next relay */
	sched_stop(s);
	sched_join(s);
	res->hops = 0;
	for (i = 0; i < n; i++)
		res->hops += rl[i].hops;
	res->kicks = ss.kicks - ss0.kicks;
	res->remote_wakeups = ss.remote_wakeups - ss0.remote_wakeups;
	sched_destroy(s);
	free(rl);
	return 0;
}

static void sweep_header(const char *title)
{
	printf("%-44s", title);
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9u", sweep[i]);
	printf("\n%-44s", "");
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9s", (long)sweep[i] > sysconf(_SC_NPROCESSORS_ONLN) ? "oversub" : "");
	printf("\n");
}

static void sweep_row(const char *label, const double *v, int decimals, const char *note)
{
	printf("   %-41s", label);
	for (unsigned i = 0; i < NSWEEP; i++)
		printf(" %9.*f", decimals, v[i]);
	printf("%s\n", note);
}

/* Runs both sweeps and prints them. Returns non-zero when a run failed. */
static int bench_sweep(void)
{
	struct ct_result c[NSWEEP];
	struct relay_result r[NSWEEP];
	double v[NSWEEP];
	int failed = 0;
	unsigned i;

	for (i = 0; i < NSWEEP; i++) {
		failed |= run_contention(sweep[i], SW_TASKS_PER_THREAD * sweep[i], SW_ITERS,
					 2 * sweep[i] + 1, &c[i]);
		failed |= run_relays(sweep[i], &r[i]);
	}
	printf("4. thread-count sweep\n");
	sweep_header("4a. pool contention (limit 2/thread + 1)   threads");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)c[i].acquisitions / c[i].seconds / 1e3;
	sweep_row("all threads, k acquisitions/s", v, 1, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)c[i].acquisitions / c[i].seconds / 1e3 / sweep[i];
	sweep_row("per thread, k acquisitions/s (wall)", v, 1, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)c[i].acquisitions / c[i].cpu_seconds / 1e3;
	sweep_row("k acquisitions per CPU-second", v, 1, "  <- flat = no contention");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)c[i].handoffs / (double)c[i].acquisitions;
	sweep_row("hand-offs per acquisition", v, 3, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = c[i].handoffs ? (double)c[i].remote_wakeups / (double)c[i].handoffs : 0;
	sweep_row("cross-thread wake-ups per hand-off", v, 3, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)c[i].kicks / (double)c[i].acquisitions;
	sweep_row("eventfd kicks per acquisition", v, 3, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = c[i].handoffs ? (double)c[i].buffer_wakeups / (double)c[i].handoffs : 0;
	sweep_row("wake-ups per hand-off", v, 3, "  (must be 1.000)");
	sweep_header("4b. relay rings (4 tokens/thread)         threads");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)r[i].hops / r[i].seconds / 1e3;
	sweep_row("all threads, k hops/s", v, 1, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)r[i].hops / r[i].seconds / 1e3 / sweep[i];
	sweep_row("per thread, k hops/s (wall)", v, 1, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = (double)r[i].hops / r[i].cpu_seconds / 1e3;
	sweep_row("k hops per CPU-second", v, 1, "  <- flat = no contention");
	for (i = 0; i < NSWEEP; i++)
		v[i] = r[i].hops ? (double)r[i].remote_wakeups / (double)r[i].hops : 0;
	sweep_row("cross-thread wake-ups per hop", v, 3, "");
	for (i = 0; i < NSWEEP; i++)
		v[i] = r[i].hops ? (double)r[i].kicks / (double)r[i].hops : 0;
	sweep_row("eventfd kicks per hop", v, 3, "");
	return failed;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc > 1 && atoi(argv[1]) > 1)
		rounds = (unsigned)atoi(argv[1]);
	printf("sched_handoff_bench: %u rounds\n", rounds);
	failed |= bench_handoff_latency();
	failed |= bench_contention();
	/* "quick": tests 1 and 2 only, those that hand buffers across threads */
	if (argc > 2 && !strcmp(argv[2], "quick"))
		return failed;
	failed |= bench_wakeup_latency(0);
	failed |= bench_wakeup_latency(1);
	failed |= bench_sweep();
	if (failed)
		printf("FAIL\n");
	return failed;
}

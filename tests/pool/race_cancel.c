/* race_cancel.c - threads racing on the pool's hand-off: allocations,
 * subscriptions, takes, cancels (of waiting and of served entries) and
 * releases, with a limit far below demand (every operation under the lock),
 * then with per-thread credit under a limit, then without a limit. Under a
 * limit every thread checks at every step that it is not exceeded.
 *
 * 16 threads (see NTHREADS). A plain executable (no Criterion) so that it
 * also runs under TSan.
 * Each held block carries a mark (magic, owner, serial) that is checked on
 * release and on acquisition: a block owned twice shows up as a wrong mark.
 * notify() only sets a flag in the owner's entry; owners poll their flags.
 * Exits 0 when every check passed, 1 otherwise or on the time cap.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pool/pool.h"

/* 16 threads: on a 2-core machine most of them are preempted at random
 * points of their pool calls, which is what widens the race windows; the
 * credit phase then moves credits between many threads. */
#define NTHREADS   16
#define NENTRIES   3
#define NHELD      2
/* Operations per thread: about the total the 4-thread version ran (4 x
 * 150,000), a quarter of it in sanitizer builds, which run several times
 * slower and share CI's 2 cores with the rest of the suite. */
#ifdef SLUICE_SANITIZE
#define ITERS      10000
#else
#define ITERS      40000
#endif
#define CAP_S      90
#define MARK_OFS   64   /* past the pool's free-list header */
#define HELD_MAGIC 0x48454c44424c4b31ull
#define FREE_MAGIC 0x46524545424c4b30ull

struct mark {
	uint64_t magic;
	uint32_t owner;
	uint32_t serial;
};

struct entry {
	struct pool_wait w;
	atomic_int flag; /* set by notify(), cleared by the owner */
};

struct worker {
	unsigned tid;
	pthread_t th;
	struct entry e[NENTRIES];
	struct buf held[NHELD];
	uint32_t held_serial[NHELD];
	uint32_t serial;
	uint64_t rng;
	uint64_t now_ms; /* fake clock for pool_thread_idle() */
};

static struct pool *pool;
static uint64_t limit;        /* of the phase running, 0 = none */
static pthread_barrier_t go;
static atomic_uint errors;
static atomic_ulong notifies_seen;

#define FAIL(...) do { \
	fprintf(stderr, "race_cancel: " __VA_ARGS__); \
	fputc('\n', stderr); \
	atomic_fetch_add(&errors, 1); \
} while (0)

static uint64_t rnd(struct worker *wk)
{
	uint64_t x = wk->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return wk->rng = x;
}

/* Wakes the owner: sets its entry's flag. A flag already set means a
 * second notify for one hand-off. */
static void on_notify(struct pool_wait *w)
{
	struct entry *e = w->ctx;

	if (atomic_exchange_explicit(&e->flag, 1, memory_order_release))
		FAIL("entry %p notified twice", (void *)e);
	atomic_fetch_add_explicit(&notifies_seen, 1, memory_order_relaxed);
}

static struct mark *mark_of(struct buf *b)
{
	return (struct mark *)(b->area + MARK_OFS);
}

/* Releases slot <i> after checking that its block is still ours. */
static void drop(struct worker *wk, int i)
{
	struct buf *b = &wk->held[i];
	struct mark *m;

	if (b_is_null(b))
		return;
	m = mark_of(b);
	if (m->magic != HELD_MAGIC || m->owner != wk->tid || m->serial != wk->held_serial[i])
		FAIL("thread %u: block %p changed hands while held", wk->tid, (void *)b->area);
	m->magic = FREE_MAGIC;
	pool_release(pool, wk->tid, b);
	if (!b_is_null(b))
		FAIL("release did not null the buffer");
}

/* Keeps block <b>, marking it ours; makes room by releasing if needed. */
static void hold(struct worker *wk, struct buf *b)
{
	int i = (int)(rnd(wk) % NHELD);
	struct mark *m;

	if (b_is_null(b) || b->size != pool_bufsize(pool) || b->data || b->head) {
		FAIL("thread %u: got a bad buffer", wk->tid);
		return;
	}
	m = mark_of(b);
	if (m->magic == HELD_MAGIC)
		FAIL("thread %u: block %p already held by %u", wk->tid, (void *)b->area, m->owner);
	drop(wk, i);
	m->magic = HELD_MAGIC;
	m->owner = wk->tid;
	m->serial = wk->held_serial[i] = ++wk->serial;
	wk->held[i] = *b;
	*b = BUF_NULL;
}

static void cancel(struct worker *wk, struct entry *e);

/* Takes what notify() announced, or now and then finds it no longer wants
 * it and cancels, which passes the buffer on. */
static void poll_flags(struct worker *wk)
{
	for (int i = 0; i < NENTRIES; i++) {
		struct entry *e = &wk->e[i];
		struct buf b = BUF_NULL;

		if (!atomic_load_explicit(&e->flag, memory_order_acquire)) {
			/* a tasklet woken for another reason may look at the
			 * state first: once take() returns, notify() has
			 * returned too, so the flag must already be set */
			if (rnd(wk) % 8 || pool_wait_state(&e->w) != POOL_WAIT_SERVED)
				continue;
			if (pool_wait_take(pool, &e->w, &b) != 1)
				FAIL("thread %u: SERVED but nothing to take", wk->tid);
			else if (!atomic_exchange_explicit(&e->flag, 0, memory_order_acquire))
				FAIL("thread %u: taken before its notify returned", wk->tid);
			if (!b_is_null(&b))
				hold(wk, &b);
			continue;
		}
		if (rnd(wk) % 4 == 0) {
			if (pool_wait_state(&e->w) != POOL_WAIT_SERVED)
				FAIL("thread %u: notified but not served", wk->tid);
			cancel(wk, e);
			continue;
		}
		atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
		if (pool_wait_take(pool, &e->w, &b) != 1) {
			FAIL("thread %u: notified but nothing to take", wk->tid);
			continue;
		}
		hold(wk, &b);
	}
}

static struct entry *idle_entry(struct worker *wk)
{
	int start = (int)(rnd(wk) % NENTRIES);

	for (int k = 0; k < NENTRIES; k++) {
		struct entry *e = &wk->e[(start + k) % NENTRIES];

		if (pool_wait_state(&e->w) == POOL_WAIT_IDLE && !atomic_load(&e->flag))
			return e;
	}
	return NULL;
}

/* Cancels entry <e>: afterwards it is IDLE and no notify can come. */
static void cancel(struct worker *wk, struct entry *e)
{
	pool_wait_cancel(pool, &e->w);
	if (pool_wait_state(&e->w) != POOL_WAIT_IDLE)
		FAIL("thread %u: entry not idle after cancel", wk->tid);
	/* a hand-off before the cancel may have set it; none can follow */
	atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
}

static void *run(void *arg)
{
	struct worker *wk = arg;

	pthread_barrier_wait(&go);
	for (int it = 0; it < ITERS; it++) {
		uint64_t r = rnd(wk);
		struct entry *e;
		struct buf b = BUF_NULL;

		poll_flags(wk);
		if (limit) {
			struct pool_stats s;

			/* the limit holds at every step, not only at the end */
			pool_stats(pool, wk->tid, &s);
			if (s.allocated > limit)
				FAIL("thread %u: allocated %" PRIu64 " above the limit", wk->tid, s.allocated);
		}
		switch (r % 8) {
		case 0: case 1: case 2:
			if (pool_alloc(pool, wk->tid, (enum pool_crit)((r >> 8) % POOL_CRIT_COUNT), &b) == 0) {
				hold(wk, &b);
			} else if ((e = idle_entry(wk)) != NULL) {
				if (pool_wait_subscribe(pool, &e->w))
					FAIL("subscribe of an idle entry failed");
			}
			break;
		case 3: case 4:
			drop(wk, (int)((r >> 8) % NHELD));
			break;
		case 5:
			e = &wk->e[(r >> 8) % NENTRIES];
			if (pool_wait_state(&e->w) != POOL_WAIT_IDLE)
				cancel(wk, e);
			break;
		case 6:
			wk->now_ms += 1;
			pool_thread_idle(pool, wk->tid, wk->now_ms);
			break;
		default:
			if ((r >> 8) % 64 == 0)
				sched_yield();
			break;
		}
	}
	for (int i = 0; i < NHELD; i++)
		drop(wk, i);
	for (int i = 0; i < NENTRIES; i++)
		cancel(wk, &wk->e[i]);
	return NULL;
}

/* Runs one phase with <cfg>. Returns 0 when every check passed. */
static int phase(const char *name, const struct pool_config *cfg)
{
	static struct worker wk[NTHREADS];
	struct pool_stats s;
	struct timespec deadline;
	unsigned long seen;

	pool = pool_create(cfg);
	limit = cfg->limit;
	if (!pool) {
		perror("pool_create");
		return 1;
	}
	atomic_store(&notifies_seen, 0);
	pthread_barrier_init(&go, NULL, NTHREADS);
	for (unsigned t = 0; t < NTHREADS; t++) {
		memset(&wk[t], 0, sizeof(wk[t]));
		wk[t].tid = t;
		wk[t].rng = 0x9e3779b97f4a7c15ull * (t + 1);
		for (int i = 0; i < NENTRIES; i++)
			pool_wait_init(&wk[t].e[i].w, t, (enum pool_crit)((t + (unsigned)i) % POOL_CRIT_COUNT),
				       on_notify, &wk[t].e[i]);
		if (pthread_create(&wk[t].th, NULL, run, &wk[t])) {
			perror("pthread_create");
			return 1;
		}
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CAP_S;
	for (unsigned t = 0; t < NTHREADS; t++) {
		int rc = pthread_timedjoin_np(wk[t].th, NULL, &deadline);

		if (rc) {
			fprintf(stderr, "race_cancel: %s: thread %u did not finish within %d s (%s)\n",
				name, t, CAP_S, strerror(rc));
			_exit(1);
		}
	}

	pthread_barrier_destroy(&go);
	pool_stats(pool, -1u, &s);
	seen = atomic_load(&notifies_seen);
	printf("%s: allocs %" PRIu64 " failed %" PRIu64 " (injected %" PRIu64 ") waits %" PRIu64
	       " handoffs %" PRIu64 " (at subscribe %" PRIu64 ") takes %" PRIu64 " passes_on %" PRIu64
	       " cancels %" PRIu64 " trims %" PRIu64 " peak_allocated %" PRIu64 " allocated %" PRIu64 "\n",
	       name, s.allocs, s.failed, s.injected, s.waits_total, s.handoffs, s.served_at_subscribe,
	       s.takes, s.passes_on, s.cancels, s.trims, s.peak_allocated, s.allocated);
	if (s.in_use != 0)
		FAIL("%s: in_use %" PRId64 " at the end", name, s.in_use);
	if (s.waiting != 0)
		FAIL("%s: %" PRIu64 " entries still waiting", name, s.waiting);
	if (s.notifies != s.handoffs || seen != s.notifies)
		FAIL("%s: notifies %" PRIu64 " seen %lu handoffs %" PRIu64, name, s.notifies, seen, s.handoffs);
	if (s.takes + s.passes_on != s.handoffs)
		FAIL("%s: takes %" PRIu64 " + passes_on %" PRIu64 " != handoffs %" PRIu64,
		     name, s.takes, s.passes_on, s.handoffs);
	if (s.allocated != s.cached + s.global_free)
		FAIL("%s: allocated %" PRIu64 " != cached %" PRIu64 " + free %" PRIu64,
		     name, s.allocated, s.cached, s.global_free);
	if (cfg->limit && s.allocated + s.credits_cached + s.credits_free != cfg->limit)
		FAIL("%s: allocated %" PRIu64 " + bare credits %" PRIu64 " + free %" PRIu64 " != limit",
		     name, s.allocated, s.credits_cached, s.credits_free);
	if (cfg->limit && s.peak_allocated > cfg->limit)
		FAIL("%s: peak_allocated %" PRIu64 " above the limit", name, s.peak_allocated);
	if (s.allocs == 0 || s.handoffs == 0)
		FAIL("%s: the race did not happen (allocs %" PRIu64 ", handoffs %" PRIu64 ")",
		     name, s.allocs, s.handoffs);
	if (s.passes_on == 0 || (cfg->limit && s.cancels == 0))
		FAIL("%s: no pass-on or no cancel exercised", name);
	pool_destroy(pool);
	pool = NULL;
	return atomic_load(&errors) != 0;
}

int main(void)
{
	struct pool_config limited = {
		.bufsize = 256, .nbthread = NTHREADS, .limit = 3, .reserve = 1,
		.fail_ppm = 50000, .fail_seed = 1,
	};
	struct pool_config unlimited = {
		.bufsize = 256, .nbthread = NTHREADS, .cache_max = 4, .trim_ms = 10,
		.fail_ppm = 100000, .fail_seed = 2,
	};

	/* the same race with per-thread credit: batches of 2 under a limit of
	 * 10 (16 threads want up to 32 blocks), the lock only when someone
	 * waits or the fast path says no */
	struct pool_config credits = {
		.bufsize = 256, .nbthread = NTHREADS, .limit = 10, .reserve = 2,
		.credit_batch = 2, .fail_ppm = 50000, .fail_seed = 3, .trim_ms = 10,
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (phase("limited", &limited) || phase("credits", &credits) ||
	    phase("unlimited", &unlimited)) {
		fprintf(stderr, "race_cancel: %u error(s)\n", atomic_load(&errors));
		return 1;
	}
	printf("race_cancel: ok\n");
	return 0;
}

/* test_pool.c - limits, reserve, wait queues, hand-off, fault injection and
 * trimming of the buffer pool, on one thread.
 *
 * The pool's source is included so that the test can make the allocator
 * refuse (POOL_MALLOC): that is the only way a waiter can exist while a
 * block could otherwise be handed out, which the no-barging rule is about.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

static int malloc_refuses;

static void *test_malloc(size_t n)
{
	return malloc_refuses ? NULL : malloc(n);
}

#define POOL_MALLOC(n) test_malloc(n)
#include "pool/pool.c"

#define LOG_MAX 64
#define ALL     (-1u)

static struct pool_wait *notified[LOG_MAX];
static unsigned nnotified;

/* Notify callback: records which entry was woken, in order. */
static void on_notify(struct pool_wait *w)
{
	cr_assert_lt(nnotified, LOG_MAX);
	notified[nnotified++] = w;
}

static struct pool *mkpool_cfg(struct pool_config cfg)
{
	struct pool *p;

	if (!cfg.bufsize)
		cfg.bufsize = 1024;
	if (!cfg.nbthread)
		cfg.nbthread = 1;
	p = pool_create(&cfg);
	cr_assert_not_null(p, "pool_create failed");
	return p;
}

static struct pool *mkpool(uint64_t limit, uint64_t reserve)
{
	return mkpool_cfg((struct pool_config){ .limit = limit, .reserve = reserve, .fail_seed = 7 });
}

static struct pool_stats stats(struct pool *p)
{
	struct pool_stats s;

	pool_stats(p, ALL, &s);
	return s;
}

/* Checks the quiescent invariants, then destroys the pool. */
static void finish(struct pool *p)
{
	struct pool_stats s = stats(p);

	cr_assert_eq(s.in_use, 0, "in_use %lld", (long long)s.in_use);
	cr_assert_eq(s.waiting, 0);
	for (int c = 0; c < POOL_CRIT_COUNT; c++)
		cr_assert_eq(s.waiting_by_crit[c], 0);
	cr_assert_eq(s.notifies, s.handoffs);
	cr_assert_eq(s.takes + s.passes_on, s.handoffs);
	cr_assert_eq(s.allocated, s.cached + s.global_free,
		     "allocated %llu cached %llu free %llu", (unsigned long long)s.allocated,
		     (unsigned long long)s.cached, (unsigned long long)s.global_free);
	if (s.limit)
		cr_assert_leq(s.peak_allocated, s.limit);
	pool_destroy(p);
}

Test(pool, create_rejects_bad_config)
{
	struct pool_config bad[] = {
		{ .nbthread = 0 },
		{ .nbthread = 1, .bufsize = 16 },
		{ .nbthread = 1, .limit = 4, .reserve = 4 },
		{ .nbthread = 1, .fail_ppm = 1000001 },
		{ .nbthread = 1, .cache_max = 1u << 20 },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_null(pool_create(&bad[i]), "config %zu accepted", i);
		cr_assert_eq(errno, EINVAL);
	}
	cr_assert_null(pool_create(NULL));

	struct pool *p = pool_create(&(struct pool_config){ .nbthread = 1 });
	cr_assert_not_null(p);
	cr_assert_eq(pool_bufsize(p), 16384);
	finish(p);
}

Test(pool, alloc_gives_an_empty_block)
{
	struct pool *p = mkpool(0, 0);
	struct buf b = BUF_NULL;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b), 0);
	cr_assert_not_null(b.area);
	cr_assert_eq(b.size, 1024);
	cr_assert_eq(b.data, 0);
	cr_assert_eq(b.head, 0);
	memset(b.area, 0x5a, b.size);
	cr_assert_eq(stats(p).in_use, 1);
	pool_release(p, 0, &b);
	cr_assert(b_is_null(&b));
	pool_release(p, 0, &b); /* null: no-op */
	struct pool_stats s = stats(p);
	cr_assert_eq(s.releases, 1);
	cr_assert_eq(s.allocs, 1);
	cr_assert_eq(s.cached, 1);
	finish(p);
}

Test(pool, limit_is_exact)
{
	struct pool *p = mkpool(4, 0);
	struct buf b[5] = { BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL };

	for (int i = 0; i < 4; i++)
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b[i]), 0);
	for (int c = 0; c < POOL_CRIT_COUNT; c++)
		cr_assert_eq(pool_alloc(p, 0, c, &b[4]), -1);
	struct pool_stats s = stats(p);
	cr_assert_eq(s.allocated, 4);
	cr_assert_eq(s.in_use, 4);
	cr_assert_eq(s.failed, POOL_CRIT_COUNT);
	cr_assert_eq(s.injected, 0);
	pool_release(p, 0, &b[0]);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b[4]), 0);
	for (int i = 1; i < 5; i++)
		pool_release(p, 0, &b[i]);
	s = stats(p);
	cr_assert_eq(s.peak_allocated, 4);
	cr_assert_eq(s.peak_in_use, 4);
	cr_assert_eq(s.global_free, 4);
	cr_assert_eq(s.cached, 0, "no thread cache under a limit");
	finish(p);
}

/* limit 4, reserve 2: the lower levels stop when two blocks remain
 * possible, a slot holder's request when one remains (a response can
 * always get it), the upper levels go up to the limit. */
Test(pool, reserve_margin_per_level)
{
	for (int crit = 0; crit < POOL_CRIT_COUNT; crit++) {
		struct pool *p = mkpool(4, 2);
		struct buf b[5] = { BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL };
		int margin = (int)pool_crit_margin(crit, 2);
		int got = 0;

		while (got < 5 && pool_alloc(p, 0, crit, &b[got]) == 0)
			got++;
		cr_assert_eq(got, 4 - margin, "level %d got %d", crit, got);
		if (margin) {
			/* what the margin kept is there for the upper levels */
			cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &b[got]), 0);
			if (margin > 1)
				cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b[got + 1]), 0);
			cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b[got + margin]), -1);
			got += margin;
		}
		for (int i = 0; i < got; i++)
			pool_release(p, 0, &b[i]);
		finish(p);
	}
}

/* Entries are served most critical level first, FIFO within a level, one
 * release = one hand-off = one notify of the right entry. */
Test(pool, queue_order_by_criticality)
{
	struct pool *p = mkpool(1, 0);
	struct buf held = BUF_NULL, b = BUF_NULL;
	static const enum pool_crit lv[] = {
		POOL_CRIT_NEWCONN, POOL_CRIT_REQUEST, POOL_CRIT_RESPONSE,
		POOL_CRIT_EMIT, POOL_CRIT_EMIT, POOL_CRIT_REQUEST, POOL_CRIT_NEWCONN,
	};
	/* expected service order, as indexes into lv */
	static const int order[] = { 3, 4, 2, 1, 5, 0, 6 };
	struct pool_wait w[7];

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &held), 0);
	for (int i = 0; i < 7; i++) {
		pool_wait_init(&w[i], 0, lv[i], on_notify, NULL);
		cr_assert_eq(pool_wait_subscribe(p, &w[i]), 0);
		cr_assert_eq(pool_wait_state(&w[i]), POOL_WAIT_WAITING);
	}
	struct pool_stats s = stats(p);
	cr_assert_eq(s.waiting, 7);
	cr_assert_eq(s.waiting_by_crit[POOL_CRIT_EMIT], 2);
	cr_assert_eq(s.waiting_by_crit[POOL_CRIT_NEWCONN], 2);
	cr_assert_eq(nnotified, 0);

	for (int k = 0; k < 7; k++) {
		struct pool_wait *e = &w[order[k]];

		pool_release(p, 0, &held);
		cr_assert_eq(nnotified, (unsigned)k + 1, "one notify per release");
		cr_assert_eq(notified[k], e, "step %d served the wrong entry", k);
		cr_assert_eq(pool_wait_state(e), POOL_WAIT_SERVED);
		cr_assert_eq(pool_wait_take(p, e, &held), 1);
		cr_assert_not_null(held.area);
		cr_assert_eq(pool_wait_state(e), POOL_WAIT_IDLE);
		cr_assert_eq(pool_wait_take(p, e, &b), 0, "taken twice");
		cr_assert_eq(stats(p).waiting, 6u - (unsigned)k);
	}
	pool_release(p, 0, &held);
	cr_assert_eq(nnotified, 7);
	s = stats(p);
	cr_assert_eq(s.handoffs, 7);
	cr_assert_eq(s.takes, 7);
	cr_assert_eq(s.waits_total, 7);
	cr_assert_eq(s.served_at_subscribe, 0);
	finish(p);
}

/* A waiter of level L blocks every allocation at L or below, even when
 * the limit would allow it; levels above L still allocate. */
Test(pool, no_barging_limited)
{
	struct pool *p = mkpool(8, 0);
	struct buf a = BUF_NULL, b = BUF_NULL;
	struct pool_wait w;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &a), 0);
	malloc_refuses = 1;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &b), -1);
	pool_wait_init(&w, 0, POOL_CRIT_RESPONSE, on_notify, NULL);
	cr_assert_eq(pool_wait_subscribe(p, &w), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
	malloc_refuses = 0;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b), -1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b), -1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &b), -1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b), 0, "a more critical level may pass");
	cr_assert_eq(stats(p).in_use, 2);

	/* the next release goes to the waiter, not to the free list */
	pool_release(p, 0, &a);
	cr_assert_eq(nnotified, 1);
	cr_assert_eq(pool_wait_take(p, &w, &a), 1);
	cr_assert_eq(stats(p).global_free, 0);
	pool_release(p, 0, &a);
	pool_release(p, 0, &b);
	finish(p);
}

Test(pool, no_barging_unlimited)
{
	struct pool *p = mkpool(0, 0);
	struct buf a = BUF_NULL, b = BUF_NULL;
	struct pool_wait w;

	malloc_refuses = 1;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &a), -1);
	pool_wait_init(&w, 0, POOL_CRIT_REQUEST, on_notify, NULL);
	cr_assert_eq(pool_wait_subscribe(p, &w), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
	malloc_refuses = 0;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b), -1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b), -1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &a), 0);
	pool_release(p, 0, &a);
	cr_assert_eq(nnotified, 1, "release with a waiter hands off");
	cr_assert_eq(stats(p).cached, 0);
	cr_assert_eq(pool_wait_take(p, &w, &a), 1);
	pool_release(p, 0, &a);
	cr_assert_eq(stats(p).cached, 1);
	finish(p);
}

/* Under a limit with a reserve, a released block goes to a lower-level
 * waiter only once that leaves the reserve intact. */
Test(pool, handoff_respects_the_reserve)
{
	struct pool *p = mkpool(4, 1);
	struct buf b[4] = { BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL }, x = BUF_NULL;
	struct pool_wait w;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b[i]), 0);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &x), -1);
	pool_wait_init(&w, 0, POOL_CRIT_REQUEST, on_notify, NULL);
	pool_wait_subscribe(p, &w);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING, "3+1+1 > 4");
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &b[3]), 0, "the reserve is usable above");

	pool_release(p, 0, &b[0]); /* 3 held: giving it would leave 0 spare */
	cr_assert_eq(nnotified, 0);
	cr_assert_eq(stats(p).global_free, 1);
	pool_release(p, 0, &b[1]); /* 2 held: 2+1+1 <= 4 */
	cr_assert_eq(nnotified, 1);
	cr_assert_eq(notified[0], &w);
	cr_assert_eq(pool_wait_take(p, &w, &x), 1);
	cr_assert_eq(stats(p).in_use, 3);
	pool_release(p, 0, &x);
	pool_release(p, 0, &b[2]);
	pool_release(p, 0, &b[3]);
	finish(p);
}

/* Cancelling a served entry passes its block to the next waiter. */
Test(pool, cancel_served_passes_on)
{
	struct pool *p = mkpool(1, 0);
	struct buf held = BUF_NULL;
	struct pool_wait a, b;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &held), 0);
	pool_wait_init(&a, 0, POOL_CRIT_RESPONSE, on_notify, NULL);
	pool_wait_init(&b, 0, POOL_CRIT_RESPONSE, on_notify, NULL);
	pool_wait_subscribe(p, &a);
	pool_wait_subscribe(p, &b);
	pool_release(p, 0, &held);
	cr_assert_eq(nnotified, 1);
	cr_assert_eq(notified[0], &a);
	cr_assert_eq(pool_wait_state(&a), POOL_WAIT_SERVED);

	pool_wait_cancel(p, &a);
	cr_assert_eq(pool_wait_state(&a), POOL_WAIT_IDLE);
	cr_assert_eq(nnotified, 2);
	cr_assert_eq(notified[1], &b);
	cr_assert_eq(pool_wait_take(p, &a, &held), 0);
	cr_assert_eq(pool_wait_take(p, &b, &held), 1);
	struct pool_stats s = stats(p);
	cr_assert_eq(s.passes_on, 1);
	cr_assert_eq(s.handoffs, 2);
	cr_assert_eq(s.takes, 1);
	cr_assert_eq(s.cancels, 0);
	cr_assert_eq(s.in_use, 1);

	/* the last one has nobody to pass to: back to the free list */
	pool_release(p, 0, &held);
	pool_wait_subscribe(p, &a); /* served at once now */
	cr_assert_eq(pool_wait_state(&a), POOL_WAIT_SERVED);
	pool_wait_cancel(p, &a);
	s = stats(p);
	cr_assert_eq(s.passes_on, 2);
	cr_assert_eq(s.global_free, 1);
	finish(p);
}

Test(pool, cancel_waiting_entry)
{
	struct pool *p = mkpool(1, 0);
	struct buf held = BUF_NULL;
	struct pool_wait a;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &held), 0);
	pool_wait_init(&a, 0, POOL_CRIT_EMIT, on_notify, NULL);
	cr_assert_eq(pool_wait_subscribe(p, &a), 0);
	cr_assert_eq(pool_wait_subscribe(p, &a), -1, "already waiting");
	pool_wait_cancel(p, &a);
	cr_assert_eq(pool_wait_state(&a), POOL_WAIT_IDLE);
	pool_wait_cancel(p, &a); /* idle: no-op */
	struct pool_stats s = stats(p);
	cr_assert_eq(s.cancels, 1);
	cr_assert_eq(s.waiting, 0);
	pool_release(p, 0, &held);
	cr_assert_eq(nnotified, 0);
	cr_assert_eq(stats(p).handoffs, 0);
	finish(p);
}

/* An injected failure goes through the real wait path: the subscription
 * is served at once and notified, under both regimes. */
Test(pool, serve_at_subscribe)
{
	for (int limited = 0; limited < 2; limited++) {
		struct pool *p = mkpool_cfg((struct pool_config){
			.limit = limited ? 2 : 0, .fail_ppm = 1000000, .fail_seed = 1 });
		struct buf b = BUF_NULL;
		struct pool_wait w;

		nnotified = 0;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b), -1);
		pool_wait_init(&w, 0, POOL_CRIT_NEWCONN, on_notify, NULL);
		cr_assert_eq(pool_wait_subscribe(p, &w), 0);
		cr_assert_eq(nnotified, 1);
		cr_assert_eq(notified[0], &w);
		cr_assert_eq(pool_wait_take(p, &w, &b), 1);
		cr_assert_not_null(b.area);
		struct pool_stats s = stats(p);
		cr_assert_eq(s.injected, 1);
		cr_assert_eq(s.failed, 1);
		cr_assert_eq(s.served_at_subscribe, 1);
		cr_assert_eq(s.handoffs, 1);
		cr_assert_eq(s.in_use, 1);
		pool_release(p, 0, &b);
		finish(p);
	}
}

/* A subscription is not served at once when a waiter of its level or
 * above is queued, even if the allocator could give a block. */
Test(pool, subscribe_queues_behind_higher_waiters)
{
	struct pool *p = mkpool(0, 0);
	struct buf b = BUF_NULL;
	struct pool_wait hi, lo;

	malloc_refuses = 1;
	pool_wait_init(&hi, 0, POOL_CRIT_EMIT, on_notify, NULL);
	pool_wait_subscribe(p, &hi);
	cr_assert_eq(pool_wait_state(&hi), POOL_WAIT_WAITING);
	malloc_refuses = 0;
	/* the allocator works again: a new subscriber asks it for a block,
	 * which goes to the more critical entry ahead of it */
	pool_wait_init(&lo, 0, POOL_CRIT_REQUEST, on_notify, NULL);
	pool_wait_subscribe(p, &lo);
	cr_assert_eq(nnotified, 1);
	cr_assert_eq(notified[0], &hi);
	cr_assert_eq(pool_wait_state(&lo), POOL_WAIT_WAITING);
	cr_assert_eq(pool_wait_take(p, &hi, &b), 1);
	pool_release(p, 0, &b);
	cr_assert_eq(nnotified, 2);
	cr_assert_eq(notified[1], &lo);
	cr_assert_eq(pool_wait_take(p, &lo, &b), 1);
	pool_release(p, 0, &b);
	finish(p);
}

/* A waiter left by an allocator failure, with nothing in use that could
 * be released, is revived by the next idle housekeeping. */
Test(pool, idle_revives_after_allocator_failure)
{
	for (int limited = 0; limited < 2; limited++) {
		struct pool *p = mkpool(limited ? 2 : 0, 0);
		struct buf b = BUF_NULL;
		struct pool_wait w;

		nnotified = 0;
		malloc_refuses = 1;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_NEWCONN, &b), -1);
		pool_wait_init(&w, 0, POOL_CRIT_NEWCONN, on_notify, NULL);
		pool_wait_subscribe(p, &w);
		cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
		pool_thread_idle(p, 0, 0);
		cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
		malloc_refuses = 0;
		pool_thread_idle(p, 0, 1);
		cr_assert_eq(nnotified, 1);
		cr_assert_eq(pool_wait_take(p, &w, &b), 1);
		cr_assert_eq(stats(p).allocated, 1);
		pool_release(p, 0, &b);
		finish(p);
	}
}

/* Idle housekeeping pushes a thread's cached blocks to waiters. */
Test(pool, idle_feeds_waiters_from_the_cache)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .nbthread = 2 });
	struct buf b[3] = { BUF_NULL, BUF_NULL, BUF_NULL };
	struct pool_wait w;

	for (int i = 0; i < 3; i++)
		cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_REQUEST, &b[i]), 0);
	for (int i = 0; i < 3; i++)
		pool_release(p, 1, &b[i]);
	malloc_refuses = 1;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[0]), -1);
	pool_wait_init(&w, 0, POOL_CRIT_REQUEST, on_notify, NULL);
	pool_wait_subscribe(p, &w);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
	pool_thread_idle(p, 1, 0);
	malloc_refuses = 0;
	cr_assert_eq(nnotified, 1);
	cr_assert_eq(pool_wait_take(p, &w, &b[0]), 1);

	struct pool_stats s1;
	pool_stats(p, 1, &s1);
	cr_assert_eq(s1.cached, 2);
	cr_assert_eq(s1.handoffs, 1);
	cr_assert_eq(s1.in_use, 1, "thread 1 took a block out of its cache");
	pool_release(p, 0, &b[0]);
	finish(p);
}

static unsigned count_injected(uint32_t ppm, unsigned n)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .fail_ppm = ppm, .fail_seed = 12345 });
	unsigned failed = 0;

	for (unsigned i = 0; i < n; i++) {
		struct buf b = BUF_NULL;

		if (pool_alloc(p, 0, POOL_CRIT_EMIT, &b)) {
			failed++;
			continue;
		}
		pool_release(p, 0, &b);
	}
	struct pool_stats s = stats(p);
	cr_assert_eq(s.injected, failed);
	cr_assert_eq(s.failed, failed);
	cr_assert_eq(s.allocs + s.failed, n);
	finish(p);
	return failed;
}

Test(pool, fault_injection_rates)
{
	cr_assert_eq(count_injected(1000000, 1000), 1000);
	cr_assert_eq(count_injected(0, 1000), 0);
	/* 20% of 20000: mean 4000, sd 57; 6 sd either side */
	unsigned f = count_injected(200000, 20000);
	cr_assert(f > 3650 && f < 4350, "%u injected failures of 20000 at 20%%", f);
}

Test(pool, fault_injection_is_per_thread_and_deterministic)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .nbthread = 2, .fail_ppm = 500000, .fail_seed = 99 });
	unsigned seq[2][64];

	for (unsigned tid = 0; tid < 2; tid++) {
		for (int i = 0; i < 64; i++) {
			struct buf b = BUF_NULL;

			seq[tid][i] = (unsigned)pool_alloc(p, tid, POOL_CRIT_EMIT, &b);
			pool_release(p, tid, &b);
		}
	}
	finish(p);
	cr_assert_neq(memcmp(seq[0], seq[1], sizeof(seq[0])), 0, "threads draw different sequences");

	/* the same seed gives the same sequence again */
	p = mkpool_cfg((struct pool_config){ .nbthread = 2, .fail_ppm = 500000, .fail_seed = 99 });
	for (int i = 0; i < 64; i++) {
		struct buf b = BUF_NULL;

		cr_assert_eq((unsigned)pool_alloc(p, 1, POOL_CRIT_EMIT, &b), seq[1][i]);
		pool_release(p, 1, &b);
	}
	pool_set_fail_ppm(p, 0);
	struct buf b = BUF_NULL;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b), 0);
	pool_release(p, 0, &b);
	finish(p);
}

/* After a burst, periodic trimming gives every block back. */
Test(pool, trimming_after_a_burst)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .cache_max = 16 });
	struct buf b[100];
	uint64_t prev;

	for (int i = 0; i < 100; i++) {
		b[i] = BUF_NULL;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
	}
	for (int i = 0; i < 100; i++)
		pool_release(p, 0, &b[i]);
	struct pool_stats s = stats(p);
	cr_assert_eq(s.allocated, 100);
	cr_assert_leq(s.cached, 16);
	cr_assert_eq(s.cached + s.global_free, 100);

	pool_thread_idle(p, 0, 5000); /* starts the clocks */
	pool_thread_idle(p, 0, 5500); /* period not over: nothing */
	cr_assert_eq(stats(p).allocated, 100);
	prev = 100;
	for (uint64_t now = 6000; now <= 6000 + 20 * 1000; now += 1000) {
		pool_thread_idle(p, 0, now);
		s = stats(p);
		cr_assert(s.allocated < prev || s.allocated == 0,
			  "no progress at %llu: %llu", (unsigned long long)now,
			  (unsigned long long)s.allocated);
		prev = s.allocated;
	}
	s = stats(p);
	cr_assert_eq(s.allocated, 0);
	cr_assert_eq(s.trims, 100);
	cr_assert_eq(s.peak_allocated, 100);
	finish(p);
}

/* Trimming keeps what is used every period: the cache settles on the
 * working set. */
Test(pool, trimming_keeps_the_working_set)
{
	struct pool *p = mkpool(0, 0);
	struct buf b[40];

	for (int i = 0; i < 40; i++) {
		b[i] = BUF_NULL;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
	}
	for (int i = 0; i < 40; i++)
		pool_release(p, 0, &b[i]);
	pool_thread_idle(p, 0, 0);
	for (uint64_t now = 1000; now <= 12000; now += 1000) {
		for (int i = 0; i < 4; i++)
			cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
		for (int i = 0; i < 4; i++)
			pool_release(p, 0, &b[i]);
		pool_thread_idle(p, 0, now);
	}
	struct pool_stats s = stats(p);
	cr_assert_eq(s.cached, 4);
	cr_assert_eq(s.allocated, 4);
	finish(p);
}

/* Under a limit the global free list is trimmed too. */
Test(pool, trimming_limited)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .limit = 10, .trim_ms = 10 });
	struct buf b[10];

	for (int i = 0; i < 10; i++) {
		b[i] = BUF_NULL;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
	}
	for (int i = 0; i < 10; i++)
		pool_release(p, 0, &b[i]);
	for (uint64_t now = 0; now <= 200; now += 10)
		pool_thread_idle(p, 0, now);
	struct pool_stats s = stats(p);
	cr_assert_eq(s.allocated, 0);
	cr_assert_eq(s.trims, 10);
	/* and the pool still works up to its limit */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
	for (int i = 0; i < 10; i++)
		pool_release(p, 0, &b[i]);
	finish(p);
}

/* Spilling and refilling between thread caches and the global list. */
Test(pool, caches_spill_and_refill)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .nbthread = 2, .cache_max = 8 });
	struct buf b[30];

	for (int i = 0; i < 30; i++) {
		b[i] = BUF_NULL;
		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b[i]), 0);
	}
	for (int i = 0; i < 30; i++)
		pool_release(p, 0, &b[i]);
	struct pool_stats s = stats(p);
	cr_assert_leq(s.cached, 8);
	cr_assert_eq(s.global_free, 30 - s.cached);
	/* thread 1 gets blocks from the global list, not from the allocator */
	for (int i = 0; i < 20; i++)
		cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_REQUEST, &b[i]), 0);
	cr_assert_eq(stats(p).allocated, 30);
	cr_assert_eq(stats(p).in_use, 20);
	for (int i = 0; i < 20; i++)
		pool_release(p, 0, &b[i]); /* released by another thread */
	s = stats(p);
	cr_assert_eq(s.allocated, 30);
	struct pool_stats s0, s1;
	pool_stats(p, 0, &s0);
	pool_stats(p, 1, &s1);
	cr_assert_eq(s0.in_use + s1.in_use, 0);
	cr_assert_eq(s1.in_use, 20);
	finish(p);
}

Test(pool, wait_time_is_counted)
{
	struct pool *p = mkpool(1, 0);
	struct buf held = BUF_NULL;
	struct pool_wait w;

	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &held), 0);
	pool_wait_init(&w, 0, POOL_CRIT_EMIT, on_notify, NULL);
	pool_wait_subscribe(p, &w);
	nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	pool_release(p, 0, &held);
	cr_assert_geq(stats(p).wait_ns_total, 2000000);
	cr_assert_eq(pool_wait_take(p, &w, &held), 1);
	pool_release(p, 0, &held);
	finish(p);
}

/* A failed allocator under a limit undoes its reservation. */
Test(pool, allocator_failure_under_a_limit)
{
	struct pool *p = mkpool(2, 0);
	struct buf b = BUF_NULL;

	malloc_refuses = 1;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b), -1);
	malloc_refuses = 0;
	struct pool_stats s = stats(p);
	cr_assert_eq(s.allocated, 0);
	cr_assert_eq(s.in_use, 0);
	cr_assert_eq(s.failed, 1);
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &b), 0);
	pool_release(p, 0, &b);
	finish(p);
}

/* ---- notify runs after the lock, and take/cancel wait for it ---- */

struct slow_notify {
	struct pool *p;
	int lock_was_free;   /* atomic: the lock could be taken inside notify */
	int in_notify;       /* atomic: notify started */
	int notify_done;     /* atomic: notify about to return */
};

/* A notify that checks the pool lock is free, then dawdles (50 ms), so
 * that an owner racing with it would free its entry under it. */
static void slow_notify(struct pool_wait *w)
{
	struct slow_notify *sn = w->ctx;
	struct timespec nap = { 0, 50 * 1000000 };

	if (pool_trylock(sn->p, NULL)) {
		__atomic_store_n(&sn->lock_was_free, 1, __ATOMIC_RELAXED);
		pool_unlock(sn->p);
	}
	__atomic_store_n(&sn->in_notify, 1, __ATOMIC_RELEASE);
	nanosleep(&nap, NULL);
	__atomic_store_n(&sn->notify_done, 1, __ATOMIC_RELEASE);
}

struct releaser {
	struct pool *p;
	struct buf b;
};

/* Releases the one held block from another thread (tid 1). */
static void *release_from_thread(void *arg)
{
	struct releaser *r = arg;

	pool_release(r->p, 1, &r->b);
	return NULL;
}

/* Starts a release on thread 1 that serves <w>, and returns once its
 * notify runs. */
static void start_slow_handoff(struct pool *p, struct pool_wait *w, struct slow_notify *sn,
			       pthread_t *th, struct releaser *r)
{
	r->p = p;
	r->b = BUF_NULL;
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_EMIT, &r->b), 0);
	pool_wait_init(w, 0, POOL_CRIT_RESPONSE, slow_notify, sn);
	cr_assert_eq(pool_wait_subscribe(p, w), 0);
	cr_assert_eq(pthread_create(th, NULL, release_from_thread, r), 0);
	while (!__atomic_load_n(&sn->in_notify, __ATOMIC_ACQUIRE))
		sched_yield();
}

Test(pool, notify_runs_outside_the_lock_and_cancel_waits_for_it)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .limit = 1, .nbthread = 2 });
	struct slow_notify sn = { .p = p };
	struct releaser r;
	struct pool_wait w;
	pthread_t th;

	start_slow_handoff(p, &w, &sn, &th, &r);
	cr_assert(__atomic_load_n(&sn.lock_was_free, __ATOMIC_RELAXED),
		  "notify ran under the pool lock");
	/* reported served, but owned by the releaser until notify returns */
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_SERVED);
	pool_wait_cancel(p, &w);
	cr_assert(__atomic_load_n(&sn.notify_done, __ATOMIC_ACQUIRE),
		  "cancel returned while notify still ran");
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_IDLE);
	pthread_join(th, NULL);
	finish(p);
}

Test(pool, take_waits_for_the_notify)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .limit = 1, .nbthread = 2 });
	struct slow_notify sn = { .p = p };
	struct releaser r;
	struct pool_wait w;
	struct buf b = BUF_NULL;
	pthread_t th;

	start_slow_handoff(p, &w, &sn, &th, &r);
	cr_assert_eq(pool_wait_take(p, &w, &b), 1);
	cr_assert(__atomic_load_n(&sn.notify_done, __ATOMIC_ACQUIRE),
		  "take returned while notify still ran");
	pthread_join(th, NULL);
	pool_release(p, 0, &b);
	finish(p);
}

/* ---- per-thread credit under a limit ----
 * One process thread plays several pool threads (tids): the credit state
 * is per tid, which is what these tests are about. */

static struct pool *mkcredit(uint64_t limit, uint64_t reserve, unsigned nbthread, unsigned batch)
{
	struct pool *p = mkpool_cfg((struct pool_config){ .limit = limit, .reserve = reserve,
		.nbthread = nbthread, .credit_batch = batch, .trim_ms = 10 });

	cr_assert_eq(stats(p).credit_batch, batch);
	return p;
}

/* Every credit is somewhere: in use or cached (allocated), held bare, or
 * free. */
static void check_credits(struct pool *p)
{
	struct pool_stats s = stats(p);

	cr_assert_leq(s.allocated + s.credits_cached, s.limit);
	cr_assert_eq(s.allocated + s.credits_cached + s.credits_free, s.limit,
		     "allocated %llu + bare %llu + free %llu != limit %llu",
		     (unsigned long long)s.allocated, (unsigned long long)s.credits_cached,
		     (unsigned long long)s.credits_free, (unsigned long long)s.limit);
}

Test(pool, credit_default_batch)
{
	struct pool_config cfg = { .limit = 1024, .nbthread = 4 };
	struct pool *p = mkpool_cfg(cfg);

	cr_assert_eq(stats(p).credit_batch, 32, "1024 / (8 x 4) = 32");
	pool_destroy(p);
	cfg.nbthread = 16;
	p = mkpool_cfg(cfg);
	cr_assert_eq(stats(p).credit_batch, 8);
	pool_destroy(p);
	cfg.limit = 100;
	p = mkpool_cfg(cfg);
	cr_assert_eq(stats(p).credit_batch, 0, "too tight: every operation under the lock");
	pool_destroy(p);
	cfg.limit = 1024;
	cfg.credit_batch = POOL_CREDIT_NONE;
	p = mkpool_cfg(cfg);
	cr_assert_eq(stats(p).credit_batch, 0);
	pool_destroy(p);
}

/* Far below the limit, pairs of one thread take no lock and touch the
 * shared lines once per batch at most. */
Test(pool, credit_fast_path_takes_no_lock)
{
	struct pool *p = mkcredit(1024, 8, 2, 16);
	struct pool_stats s;

	for (int i = 0; i < 10000; i++) {
		struct buf b = BUF_NULL;

		cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &b), 0);
		pool_release(p, 0, &b);
	}
	pool_stats(p, 0, &s);
	cr_assert_eq(s.lock_acquisitions, 0);
	cr_assert_leq(s.shared_atomics, 2, "one batch taken, one block allocated");
	cr_assert_eq(s.cached + s.credits_cached, 16);
	check_credits(p);
	pool_thread_idle(p, 0, 0); /* gives them back before sleeping */
	pool_stats(p, 0, &s);
	cr_assert_eq(s.cached + s.credits_cached, 0);
	check_credits(p);
	finish(p);
}

/* A waiter on one thread gets the credits another thread holds as soon as
 * that thread calls into the pool (or goes idle). */
Test(pool, credits_come_back_when_a_waiter_appears)
{
	struct pool *p = mkcredit(64, 0, 2, 8);
	struct buf held[64], b = BUF_NULL;
	struct pool_wait w;
	struct pool_stats s;
	int n = 0;

	/* tid 1 keeps a cached block and 7 bare credits */
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_RESPONSE, &b), 0);
	pool_release(p, 1, &b);
	pool_stats(p, 1, &s);
	cr_assert_eq(s.cached + s.credits_cached, 8);

	while (n < 64 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_RESPONSE, &held[n]) == 0))
		n++;
	cr_assert_eq(n, 56, "all but what tid 1 holds");
	check_credits(p);
	pool_wait_init(&w, 0, POOL_CRIT_RESPONSE, on_notify, NULL);
	cr_assert_eq(pool_wait_subscribe(p, &w), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);

	/* tid 1's next call sees the waiter: its block goes to the hand-off
	 * first, then there is room for tid 1 too */
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_NEWCONN, &b), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_SERVED);
	pool_stats(p, 1, &s);
	cr_assert_eq(s.cached + s.credits_cached, 0);
	cr_assert_eq(pool_wait_take(p, &w, &held[n++]), 1);
	check_credits(p);

	/* and its bare credits are free again: a second waiter gets one of
	 * them through the allocator at once */
	cr_assert_eq(pool_wait_subscribe(p, &w), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_SERVED);
	cr_assert_eq(pool_wait_take(p, &w, &held[n++]), 1);
	while (n < 64 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_RESPONSE, &held[n]) == 0))
		n++;
	cr_assert_eq(n + 1, 64, "the limit, exactly");
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_EMIT, &held[n]), -1);
	check_credits(p);
	pool_release(p, 1, &b);
	for (int i = 0; i < n; i++)
		pool_release(p, i % 2, &held[i]);
	pool_thread_idle(p, 0, 0);
	pool_thread_idle(p, 1, 0);
	check_credits(p);
	finish(p);
}

/* A thread that goes idle gives its credits back, so a waiter that comes
 * while it sleeps is not left without them. */
Test(pool, idle_thread_keeps_no_credit)
{
	struct pool *p = mkcredit(32, 0, 2, 4);
	struct buf held[32], b = BUF_NULL;
	struct pool_wait w;
	int n = 0;

	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_RESPONSE, &b), 0);
	pool_release(p, 1, &b);
	pool_thread_idle(p, 1, 0);
	while (n < 32 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_RESPONSE, &held[n]) == 0))
		n++;
	cr_assert_eq(n, 32, "nothing stranded on the idle thread");
	pool_wait_init(&w, 0, POOL_CRIT_RESPONSE, on_notify, NULL);
	cr_assert_eq(pool_wait_subscribe(p, &w), 0);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_WAITING);
	pool_release(p, 0, &held[--n]);
	cr_assert_eq(pool_wait_state(&w), POOL_WAIT_SERVED, "a release while someone waits hands off");
	cr_assert_eq(pool_wait_take(p, &w, &held[n++]), 1);
	for (int i = 0; i < n; i++)
		pool_release(p, 0, &held[i]);
	pool_thread_idle(p, 0, 0);
	check_credits(p);
	finish(p);
}

/* The reserve under credits: whatever other threads hold, a level may
 * never leave fewer than its margin possible. limit 64, reserve 8. */
Test(pool, credit_reserve_margins)
{
	struct pool *p = mkcredit(64, 8, 2, 4);
	struct buf held[64], b = BUF_NULL, c = BUF_NULL;
	int n = 0, m;

	/* tid 1 holds 4 credits (one block cached) */
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_RESPONSE, &b), 0);
	pool_release(p, 1, &b);

	while (n < 64 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_NEWCONN, &held[n]) == 0))
		n++;
	cr_assert_eq(n, 64 - 8 - 4, "the reserve and tid 1's credits are left");
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_REQUEST, &held[n]), -1);
	m = n;
	while (n < 64 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_SLOT, &held[n]) == 0))
		n++;
	cr_assert_eq(n - m, 7, "a slot holder leaves one");
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_RESPONSE, &held[n]), 0);
	n++;
	cr_assert_eq(pool_alloc(p, 0, POOL_CRIT_EMIT, &held[n]), -1, "tid 0 sees no room");
	/* tid 1's 4 credits are the only room: the reserve's levels only,
	 * a slot holder's leaving one to a response */
	struct buf t1[4] = { BUF_NULL, BUF_NULL, BUF_NULL, BUF_NULL };

	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_NEWCONN, &b), -1);
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_REQUEST, &b), -1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_SLOT, &t1[i]), 0, "slot %d", i);
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_SLOT, &b), -1);
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_RESPONSE, &t1[3]), 0);
	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_EMIT, &c), -1);
	cr_assert_eq(stats(p).allocated, 64);
	check_credits(p);
	for (int i = 0; i < 4; i++)
		pool_release(p, 1, &t1[i]);
	for (int i = 0; i < n; i++)
		pool_release(p, 0, &held[i]);
	pool_thread_idle(p, 0, 0);
	pool_thread_idle(p, 1, 0);
	check_credits(p);
	finish(p);
}

/* Bare credits given back while several entries wait serve them all at
 * once, through the allocator, not one per loop turn. */
Test(pool, returned_credits_serve_every_waiter)
{
	struct pool *p = mkcredit(64, 0, 2, 8);
	struct buf held[64], b = BUF_NULL;
	struct pool_wait w[3];
	int n = 0;

	cr_assert_eq(pool_alloc(p, 1, POOL_CRIT_RESPONSE, &b), 0);
	pool_release(p, 1, &b);      /* tid 1: one cached block, 7 bare credits */
	while (n < 64 && (held[n] = BUF_NULL, pool_alloc(p, 0, POOL_CRIT_RESPONSE, &held[n]) == 0))
		n++;
	cr_assert_eq(n, 56);
	for (int i = 0; i < 3; i++) {
		pool_wait_init(&w[i], 0, POOL_CRIT_RESPONSE, on_notify, NULL);
		cr_assert_eq(pool_wait_subscribe(p, &w[i]), 0);
		cr_assert_eq(pool_wait_state(&w[i]), POOL_WAIT_WAITING);
	}
	pool_thread_idle(p, 1, 0);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(pool_wait_state(&w[i]), POOL_WAIT_SERVED, "entry %d", i);
		cr_assert_eq(pool_wait_take(p, &w[i], &held[n++]), 1);
	}
	cr_assert_eq(stats(p).credits_free, 5);
	check_credits(p);
	for (int i = 0; i < n; i++)
		pool_release(p, 0, &held[i]);
	pool_thread_idle(p, 0, 0);
	check_credits(p);
	finish(p);
}

/* pool.c - the buffer pool: per-thread caches, a global free list and the
 * hand-off wait queues.
 *
 * Two regimes, fixed at creation:
 *  - no limit: each thread keeps a stack of free blocks in its own struct.
 *    While nobody waits, pool_alloc()/pool_release() touch only that struct
 *    and read one shared counter (nwait, alone on its line). A full cache
 *    spills its oldest half to the global list; an empty one takes batches
 *    back or calls the allocator.
 *  - limit: the same caches, plus per-thread credit (see "limited regime"
 *    below): while nobody waits, a thread allocates and releases within
 *    the credits it took from a free count by batches, without the lock;
 *    while someone waits, every operation takes the lock, gives the
 *    thread's credits back first and decides exactly. A limit too tight
 *    for batches keeps every operation under the lock (cache_max == 0).
 * Waiting entries and the global free list live under one
 * test-and-test-and-set spinlock.
 *
 * Lost wake-ups. Under a limit, decisions taken while someone waits are
 * made under the lock, so such a release sees every waiter; one that read
 * "nobody waits" just before a subscription leaves its block in its cache
 * until its next pool call or pool_thread_idle(), as below. Without a
 * limit a release reads nwait
 * without the lock; one racing with a concurrent subscription can put its
 * block in its own cache while the entry queues. That block is not lost:
 * the same thread hands its cache to waiters on its next pool_alloc(), its
 * next release (which then sees nwait) or its next pool_thread_idle(),
 * which its scheduler calls before sleeping. A subscription itself never
 * waits while a block is free in the global list or in its own cache, or
 * while the allocator would give one (it tries it outside the lock).
 * Likewise, outside the locked path the no-barging rule applies to the
 * waiters an allocation can see: one racing with a concurrent subscription
 * may still take a block or credit of its own thread. Without a limit,
 * waiters exist only after an allocator failure.
 */
#include <errno.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef SLUICE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "pool.h"

#define POOL_DEF_BUFSIZE   16384
#define POOL_MIN_BUFSIZE   64
#define POOL_DEF_CACHE     64
#define POOL_MAX_CACHE     65536
#define POOL_DEF_TRIM_MS   1000
#define POOL_PPM           1000000u
/* Two lines: the adjacent-line prefetcher moves lines in pairs. */
#define POOL_LINE          128
/* A trim of at least this many blocks also flushes jemalloc's tcache, so
 * the blocks reach the arena and its decay can return the pages. */
#define POOL_FLUSH_MIN     8
/* Default per-thread credit batch under a limit: bounds (see
 * pool_credit_batch()). 32 makes a shared-line operation at most one per
 * 32 allocations of a thread that only allocates. */
#define POOL_CREDIT_MAX    32
#define POOL_CREDIT_MIN    4
/* Spins on a held lock before yielding the CPU (2 shared cores here). */
#define POOL_SPINS         128

/* Internal state between SERVED's preparation (under the lock) and its
 * publication (after notify() returned, outside the lock): the entry holds
 * its buffer and belongs to the releasing thread. pool_wait_state()
 * reports it as SERVED; take and cancel wait for it to end. */
#define POOL_WAIT_SERVING  3

/* Single-writer counters: a relaxed load and a relaxed store, no RMW. */
#define LD(x)      atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v)   atomic_store_explicit(&(x), (v), memory_order_relaxed)
#define BUMP(x, n) ST(x, LD(x) + (n))

/* The header written into a block while it sits on the global free list.
 * The list is a stack of batches; a batch is a chain through <next>, and
 * its first block also holds the link to the next batch and its length, so
 * batches move in O(1) under the lock. */
struct pool_free_blk {
	struct pool_free_blk *next;       /* next block of this batch */
	struct pool_free_blk *next_batch; /* next batch (batch heads only) */
	size_t n;                         /* blocks in this batch (heads only) */
};

/* Per-thread part. Written only by its thread, except that pool_stats()
 * reads the atomic fields. Aligned so that no two threads share a line. */
struct pool_thread {
	alignas(POOL_LINE) void **cache; /* stack of free blocks (no-limit only) */
	atomic_uint count;               /* blocks in <cache> */
	unsigned low;                    /* lowest <count> since the last trim */
	uint64_t rng;                    /* fault-injection xorshift state */
	uint64_t last_trim_ms;
	int trim_started;
	_Atomic int64_t in_use;          /* blocks this thread took out of storage, net */
	atomic_uint bare;                /* limit credits held without a block */
	_Atomic uint64_t lock_acqs;      /* pool lock acquisitions */
	_Atomic uint64_t shared_ops;     /* atomic RMW on shared lines (credits, counts) */
	_Atomic uint64_t allocs, releases, failed, injected;
	_Atomic uint64_t waits_total, handoffs, served_at_subscribe, notifies;
	_Atomic uint64_t takes, passes_on, cancels, trims, wait_ns_total;
};

/* Everything under <lock>. Fields that pool_stats() reads without the lock
 * are atomics written with relaxed stores. */
struct pool_global {
	atomic_int lock;
	unsigned qmask;                  /* bit c set when queue c is not empty */
	struct pool_wait *qhead[POOL_CRIT_COUNT], *qtail[POOL_CRIT_COUNT];
	_Atomic uint64_t qlen[POOL_CRIT_COUNT];
	struct pool_free_blk *batches;   /* global free list */
	_Atomic uint64_t nfree;          /* blocks on it */
	uint64_t free_low;               /* lowest <nfree> since the last trim */
	uint64_t last_trim_ms;
	int trim_started;
};

struct pool {
	/* read-mostly */
	size_t bufsize;
	uint64_t limit, reserve;
	unsigned nbthread, cache_max, batch; /* nbthread: lanes (thread indexes); under a limit, batch is the credit batch */
	uint64_t trim_ms, fail_seed;
	_Atomic uint32_t fail_ppm;
	struct pool_thread *threads;

	/* WAITING entries; read lock-free by every fast path, so it sits alone
	 * and only changes when entries come and go. */
	alignas(POOL_LINE) _Atomic uint64_t nwait;

	alignas(POOL_LINE) struct pool_global g;

	/* Under a limit: credits that no thread holds and no block carries.
	 * Changed by atomic RMW, without the lock, when a thread takes or
	 * gives back a batch, so it sits alone. */
	alignas(POOL_LINE) _Atomic uint64_t avail;

	/* changed by atomic RMW on the allocator paths only */
	alignas(POOL_LINE) _Atomic uint64_t allocated;
	_Atomic uint64_t peak_allocated;
	_Atomic uint64_t peak_in_use;
};

/* ---------------------------------------------------------------- helpers */

/* Returns a monotonic time in nanoseconds. */
static uint64_t pool_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Raises <*peak> to <v> if <v> is higher. */
static void pool_raise_peak(_Atomic uint64_t *peak, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(peak, memory_order_relaxed);

	while (v > cur && !atomic_compare_exchange_weak_explicit(peak, &cur, v,
			memory_order_relaxed, memory_order_relaxed))
		;
}

/* Tells the CPU that we spin (frees resources for the sibling thread). */
static inline void pool_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

#ifdef POOL_HOLD_STATS
/* Lock hold time, measured only in builds that define POOL_HOLD_STATS (a
 * benchmark compiles pool.c itself for that): two clock reads per hold are
 * too dear for the engine. Written under the lock, so plain atomics do. */
static _Atomic uint64_t pool_hold_ns, pool_hold_n, pool_hold_max, pool_hold_over_1us;
static _Thread_local uint64_t pool_hold_t0;

/* Notes that the lock was just taken. */
static void pool_hold_begin(void)
{
	pool_hold_t0 = pool_now_ns();
}

/* Accounts the hold that ends now. */
static void pool_hold_end(void)
{
	uint64_t d = pool_now_ns() - pool_hold_t0;

	atomic_fetch_add_explicit(&pool_hold_ns, d, memory_order_relaxed);
	atomic_fetch_add_explicit(&pool_hold_n, 1, memory_order_relaxed);
	if (d > 1000)
		atomic_fetch_add_explicit(&pool_hold_over_1us, 1, memory_order_relaxed);
	if (d > atomic_load_explicit(&pool_hold_max, memory_order_relaxed))
		atomic_store_explicit(&pool_hold_max, d, memory_order_relaxed);
}

/* Reads and resets the hold figures of every pool of the process: total ns
 * held, holds, longest hold, holds above 1 us. */
void pool_hold_stats(uint64_t *ns, uint64_t *n, uint64_t *max, uint64_t *over_1us);
void pool_hold_stats(uint64_t *ns, uint64_t *n, uint64_t *max, uint64_t *over_1us)
{
	*ns = atomic_exchange(&pool_hold_ns, 0);
	*n = atomic_exchange(&pool_hold_n, 0);
	*max = atomic_exchange(&pool_hold_max, 0);
	*over_1us = atomic_exchange(&pool_hold_over_1us, 0);
}
#else
static inline void pool_hold_begin(void) { }
static inline void pool_hold_end(void) { }
#endif

/* Takes the pool lock on behalf of <t> (counted there; NULL for none):
 * test-and-test-and-set, yielding after a while. */
static void pool_lock(struct pool *p, struct pool_thread *t)
{
	unsigned spins = 0;

	if (t)
		atomic_store_explicit(&t->lock_acqs,
			atomic_load_explicit(&t->lock_acqs, memory_order_relaxed) + 1,
			memory_order_relaxed);
	while (atomic_exchange_explicit(&p->g.lock, 1, memory_order_acquire)) {
		while (atomic_load_explicit(&p->g.lock, memory_order_relaxed)) {
			if (++spins < POOL_SPINS) {
				pool_cpu_relax();
			} else {
				/* the holder may be preempted: let it run */
				spins = 0;
				sched_yield();
			}
		}
	}
	pool_hold_begin();
}

/* Returns non-zero when the lock was free and is now ours (then counted
 * on <t> unless it is NULL). */
static int pool_trylock(struct pool *p, struct pool_thread *t)
{
	if (atomic_load_explicit(&p->g.lock, memory_order_relaxed) ||
	    atomic_exchange_explicit(&p->g.lock, 1, memory_order_acquire))
		return 0;
	if (t)
		atomic_store_explicit(&t->lock_acqs,
			atomic_load_explicit(&t->lock_acqs, memory_order_relaxed) + 1,
			memory_order_relaxed);
	pool_hold_begin();
	return 1;
}

/* Releases the pool lock; everything written under it is published. */
/* Entries served during the current hold of a pool lock by this thread,
 * in serving order, and the per-thread part to count their notifies in.
 * notify() runs after the lock is released (pool_unlock()), so that the
 * cross-thread wake-up it posts, and the eventfd write that may come with
 * it, never lengthen the hold. A thread holds at most one pool lock at a
 * time, so one list per thread suffices. */
static _Thread_local struct pool_wait *pool_tn_head, *pool_tn_tail;
static _Thread_local struct pool_thread *pool_tn_thr;

static void pool_notify_served(void);

/* Releases the pool lock, then notifies the entries served under it. */
static void pool_unlock(struct pool *p)
{
	pool_hold_end();
	atomic_store_explicit(&p->g.lock, 0, memory_order_release);
	if (pool_tn_head)
		pool_notify_served();
}

/* Returns the per-thread part of thread <tid>. */
static inline struct pool_thread *pool_thr(const struct pool *p, unsigned tid)
{
	return &p->threads[tid];
}

/* Unit tests include this file and may route block allocation through
 * their own function, to make the allocator refuse on demand. */
#ifndef POOL_MALLOC
#define POOL_MALLOC(size) malloc(size)
#endif

/* Returns a new block from the allocator, or NULL. Not counted. */
static void *pool_blk_new(const struct pool *p)
{
	return POOL_MALLOC(p->bufsize);
}

/* Counts <n> blocks obtained from the allocator, on behalf of <t>. */
static void pool_count_new(struct pool *p, struct pool_thread *t, uint64_t n)
{
	uint64_t now = atomic_fetch_add_explicit(&p->allocated, n, memory_order_relaxed) + n;

	BUMP(t->shared_ops, 1);
	pool_raise_peak(&p->peak_allocated, now);
}

/* Counts <n> blocks given back to the allocator, on behalf of <t>. */
static void pool_count_gone(struct pool *p, struct pool_thread *t, uint64_t n)
{
	atomic_fetch_sub_explicit(&p->allocated, n, memory_order_relaxed);
	BUMP(t->shared_ops, 1);
}

/* Returns 1 with probability fail_ppm / 1e6, from <t>'s own generator. */
static int pool_inject(struct pool_thread *t, uint32_t ppm)
{
	uint64_t x = t->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	t->rng = x;
	x *= 0x2545f4914f6cdd1dull;
	return (((x >> 32) * POOL_PPM) >> 32) < ppm;
}

/* Returns a well-mixed non-zero seed derived from <v> (splitmix64). */
static uint64_t pool_seed(uint64_t v)
{
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	v ^= v >> 31;
	return v ? v : 1;
}

/* Returns non-zero when level <crit> may take one block out of <room>
 * blocks that may still be taken under the limit: the limit always, and
 * for the levels below the reserve, their margin must stay possible after
 * this one. Without a limit there is always room. */
static int pool_may_take(const struct pool *p, enum pool_crit crit, uint64_t room)
{
	return !p->limit || room >= 1 + pool_crit_margin(crit, p->reserve);
}

/* Returns the room seen under the lock: free credits plus blocks on the
 * global free list, which carry theirs. Credits that threads hold are not
 * counted, so a decision taken on it is never more generous than the
 * exact one. Lock held. */
static uint64_t pool_room_locked(const struct pool *p)
{
	return LD(p->avail) + LD(p->g.nfree);
}

/* Returns the sum of the threads' in_use counts (a snapshot). */
static int64_t pool_in_use_sum(const struct pool *p)
{
	int64_t sum = 0;

	for (unsigned i = 0; i < p->nbthread; i++)
		sum += LD(p->threads[i].in_use);
	return sum;
}

/* Notes a possible new peak of blocks in use (best effort: a snapshot of
 * every thread's count, taken on slow paths only). */
static void pool_sample_in_use(struct pool *p)
{
	int64_t v = pool_in_use_sum(p);

	if (v > 0)
		pool_raise_peak(&p->peak_in_use, (uint64_t)v);
}

/* Adds <d> to the blocks that <t> took out of storage. Lock held under a
 * limit: without per-thread credit, the limit minus the room is exactly
 * what is in use (or being allocated), so the peak stays exact there. */
static void pool_in_use_add_locked(struct pool *p, struct pool_thread *t, int64_t d)
{
	BUMP(t->in_use, d);
	if (d <= 0 || !p->limit)
		return;
	if (!p->cache_max)
		pool_raise_peak(&p->peak_in_use, p->limit - pool_room_locked(p));
	else
		pool_sample_in_use(p);
}

/* ---------------------------------------------------------------- credits
 * Under a limit every block in use, in a thread's cache or on the global
 * free list carries one credit; the others are free (p->avail) or held
 * bare by a thread (t->bare: leave to ask the allocator for a block). So
 * allocated + bare credits + free credits == limit, less the credits of
 * allocations in flight: allocated never exceeds the limit. */

/* Gives <n> credits back to the free count. */
static void pool_avail_add(struct pool *p, struct pool_thread *t, uint64_t n)
{
	atomic_fetch_add_explicit(&p->avail, n, memory_order_relaxed);
	BUMP(t->shared_ops, 1);
}

/* Takes up to <want> free credits, leaving at least <keep>. Returns how
 * many it took (0 when no more than <keep> are free). */
static uint64_t pool_avail_take(struct pool *p, struct pool_thread *t, uint64_t want, uint64_t keep)
{
	uint64_t cur = LD(p->avail), k;

	do {
		if (cur <= keep)
			return 0;
		k = cur - keep < want ? cur - keep : want;
	} while (!atomic_compare_exchange_weak_explicit(&p->avail, &cur, cur - k,
			memory_order_relaxed, memory_order_relaxed));
	BUMP(t->shared_ops, 1);
	return k;
}

/* Returns how many free credits a take at level <crit> must leave, the
 * global free list holding <nfree> blocks: its margin, less what the free
 * list covers. */
static uint64_t pool_avail_keep(const struct pool *p, enum pool_crit crit, uint64_t nfree)
{
	uint64_t m = pool_crit_margin(crit, p->reserve);

	return m > nfree ? m - nfree : 0;
}

/* ------------------------------------------------------- global free list */

/* Pushes the chain <head> (its n and next links set) as one batch. */
static void pool_gfree_push_batch_locked(struct pool *p, struct pool_free_blk *head)
{
	head->next_batch = p->g.batches;
	p->g.batches = head;
	ST(p->g.nfree, LD(p->g.nfree) + head->n);
}

/* Pushes one free block on the global list. */
static void pool_gfree_push_locked(struct pool *p, void *blk)
{
	struct pool_free_blk *f = blk;

	f->next = NULL;
	f->n = 1;
	pool_gfree_push_batch_locked(p, f);
}

/* Notes that the free list shrank to <n> (for trimming). */
static void pool_gfree_note_low_locked(struct pool *p, uint64_t n)
{
	if (n < p->g.free_low)
		p->g.free_low = n;
}

/* Returns one block from the global free list, or NULL if it is empty. */
static void *pool_gfree_pop_locked(struct pool *p)
{
	struct pool_free_blk *f = p->g.batches;
	uint64_t n;

	if (!f)
		return NULL;
	if (f->n > 1) {
		struct pool_free_blk *rest = f->next;

		rest->n = f->n - 1;
		rest->next_batch = f->next_batch;
		p->g.batches = rest;
	} else {
		p->g.batches = f->next_batch;
	}
	n = LD(p->g.nfree) - 1;
	ST(p->g.nfree, n);
	pool_gfree_note_low_locked(p, n);
	return f;
}

/* Detaches whole batches while fewer than <want> blocks were taken and the
 * next batch fits in <room>. Returns them linked by next_batch, the number
 * of blocks in <*got>. */
static struct pool_free_blk *pool_gfree_take_locked(struct pool *p, unsigned want,
						    unsigned room, unsigned *got)
{
	struct pool_free_blk *first = NULL, **link = &first;
	unsigned n = 0;

	while (n < want && p->g.batches && n + p->g.batches->n <= room) {
		struct pool_free_blk *b = p->g.batches;

		p->g.batches = b->next_batch;
		n += (unsigned)b->n;
		*link = b;
		link = &b->next_batch;
	}
	*link = NULL;
	if (n) {
		uint64_t left = LD(p->g.nfree) - n;

		ST(p->g.nfree, left);
		pool_gfree_note_low_locked(p, left);
	}
	*got = n;
	return first;
}

/* ------------------------------------------------------------ wait queues */

/* Appends <w> to the queue of its level and marks it WAITING. */
static void pool_q_append_locked(struct pool *p, struct pool_wait *w)
{
	unsigned c = w->crit;

	w->next = NULL;
	w->prev = p->g.qtail[c];
	if (w->prev)
		w->prev->next = w;
	else
		p->g.qhead[c] = w;
	p->g.qtail[c] = w;
	p->g.qmask |= 1u << c;
	ST(p->g.qlen[c], LD(p->g.qlen[c]) + 1);
	ST(p->nwait, LD(p->nwait) + 1);
	__atomic_store_n(&w->state, POOL_WAIT_WAITING, __ATOMIC_RELAXED);
}

/* Removes WAITING <w> from its queue; its state is left to the caller. */
static void pool_q_unlink_locked(struct pool *p, struct pool_wait *w)
{
	unsigned c = w->crit;

	if (w->prev)
		w->prev->next = w->next;
	else
		p->g.qhead[c] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->g.qtail[c] = w->prev;
	w->next = w->prev = NULL;
	if (!p->g.qhead[c])
		p->g.qmask &= ~(1u << c);
	ST(p->g.qlen[c], LD(p->g.qlen[c]) - 1);
	ST(p->nwait, LD(p->nwait) - 1);
}

/* Returns the first entry of the most critical non-empty queue, or NULL. */
static struct pool_wait *pool_q_first_locked(const struct pool *p)
{
	if (!p->g.qmask)
		return NULL;
	return p->g.qhead[31 - __builtin_clz(p->g.qmask)];
}

/* Returns non-zero when an entry of level <crit> or above is waiting. */
static int pool_q_ahead_locked(const struct pool *p, enum pool_crit crit)
{
	return (p->g.qmask >> crit) != 0;
}

/* Returns the entry that a block should go to when <room> blocks may be
 * taken, that one included, or NULL. Only the first entry of the most
 * critical queue is considered: if it may not take the block, the less
 * critical queues may not either (their margins are no smaller). */
static struct pool_wait *pool_q_pick_locked(const struct pool *p, uint64_t room)
{
	struct pool_wait *w = pool_q_first_locked(p);

	return w && pool_may_take(p, w->crit, room) ? w : NULL;
}

/* Hands block <blk> to <w>, already unlinked, on behalf of thread <t>:
 * stores the buffer, marks <w> SERVING and queues it for its notify(),
 * which pool_unlock() calls. Until then <w> stays SERVING, a state only
 * the releasing thread leaves: the owner's take and cancel wait for it, so
 * an owner never frees its tasklet while the wake-up is still being
 * posted, though the lock is no longer held while it is. */
static void pool_serve_locked(struct pool *p, struct pool_thread *t,
			      struct pool_wait *w, void *blk)
{
	w->served = (struct buf){ .area = blk, .size = p->bufsize, .head = 0, .data = 0 };
	__atomic_store_n(&w->state, POOL_WAIT_SERVING, __ATOMIC_RELAXED);
	BUMP(t->handoffs, 1);
	/* unlinked: the queue links are ours until SERVED is published */
	w->next = NULL;
	if (pool_tn_tail)
		pool_tn_tail->next = w;
	else
		pool_tn_head = w;
	pool_tn_tail = w;
	pool_tn_thr = t;
}

/* Runs the notify() of every entry this thread served under the lock it
 * just released, then publishes each one SERVED. After that store the
 * entry belongs to its owner again and is not touched. */
static void pool_notify_served(void)
{
	struct pool_wait *w = pool_tn_head;
	struct pool_thread *t = pool_tn_thr;
	uint64_t now = pool_now_ns();

	pool_tn_head = pool_tn_tail = NULL;
	while (w) {
		struct pool_wait *next = w->next;

		w->next = NULL;
		BUMP(t->wait_ns_total, now - w->since_ns);
		if (w->notify) {
			w->notify(w);
			BUMP(t->notifies, 1);
		}
		__atomic_store_n(&w->state, POOL_WAIT_SERVED, __ATOMIC_RELEASE);
		w = next;
	}
}

/* Waits until the releasing thread has notified SERVING entry <w> and
 * published it SERVED (a few atomic operations and at most one write() on
 * another thread; that thread may be preempted, so yield after a while).
 * Owner only. Returns the state seen, with acquire ordering. */
static int pool_wait_notified(const struct pool_wait *w)
{
	unsigned spins = 0;
	int st;

	while ((st = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE)) == POOL_WAIT_SERVING) {
		if (++spins < POOL_SPINS) {
			pool_cpu_relax();
		} else {
			spins = 0;
			sched_yield();
		}
	}
	return st;
}

/* Pops the newest block of <t>'s cache, or returns NULL. Owner only. */
static void *pool_cache_pop(struct pool_thread *t)
{
	unsigned n = LD(t->count);

	if (!n)
		return NULL;
	n--;
	ST(t->count, n);
	if (n < t->low)
		t->low = n;
	return t->cache[n];
}

/* Gives every credit that <t> holds back: its cached blocks go to the
 * global free list as one batch (they keep their credits), its bare
 * credits to the free count. Lock held; no-op without a limit. Returns the
 * number of bare credits given back (credits without a block: a waiter
 * may then need the allocator, see pool_feed_unlock()). */
static unsigned pool_credit_flush_locked(struct pool *p, struct pool_thread *t)
{
	unsigned n, bare;

	if (!p->limit || !t->cache)
		return 0;
	n = LD(t->count);
	bare = LD(t->bare);
	if (bare) {
		ST(t->bare, 0);
		pool_avail_add(p, t, bare);
	}
	if (n) {
		struct pool_free_blk *head = t->cache[0];

		for (unsigned i = 0; i + 1 < n; i++)
			((struct pool_free_blk *)t->cache[i])->next = t->cache[i + 1];
		((struct pool_free_blk *)t->cache[n - 1])->next = NULL;
		head->n = n;
		ST(t->count, 0);
		t->low = 0;
		pool_gfree_push_batch_locked(p, head);
	}
	return bare;
}

/* Serves waiters, most critical first, with free blocks from the global
 * list and then from the cache of <t> (the calling thread), while the first
 * waiter may take one. */
static void pool_feed_locked(struct pool *p, struct pool_thread *t)
{
	/* while anyone waits, no credit stays in this thread's hands */
	if (p->limit && p->g.qmask)
		pool_credit_flush_locked(p, t);
	for (;;) {
		struct pool_wait *w = pool_q_pick_locked(p, pool_room_locked(p));
		void *blk;

		if (!w)
			return;
		blk = pool_gfree_pop_locked(p);
		if (!blk && t->cache)
			blk = pool_cache_pop(t);
		if (!blk)
			return;
		pool_q_unlink_locked(p, w);
		pool_in_use_add_locked(p, t, 1);
		pool_serve_locked(p, t, w, blk);
	}
}

/* ------------------------------------------------------- limited regime
 * Fast path (per-thread credit): while nobody waits, a thread allocates
 * from its cache of blocks or with a bare credit, and releases into its
 * cache, with no lock; it takes credits from the free count by batches of
 * p->batch (one CAS), never dipping it below the reserve, and gives a
 * batch back when it holds more than two. Levels with a margin read the
 * free count (not written: the line stays shared) and go to the slow path
 * unless free credits plus their own leave that margin: the reserve is
 * never used by a level that may not, whatever other threads hold.
 * Slow path (the lock): taken when someone waits, when the fast path says
 * no, or always when the limit is too small for batches (p->cache_max ==
 * 0). It first gives all of the thread's credits back, then decides
 * exactly on what it sees; credits still held by other threads come back
 * at their next pool call or before they sleep (pool_thread_idle()). */

/* Asks for a block for the first waiter when one may take it but none is
 * free: reserves a free credit for it and returns 1, the caller then
 * unlocks and calls pool_grow(). Returns 0 otherwise. This is how a waiter
 * left by an allocator failure, or waiting while free credits have no
 * block, gets served. Lock held. */
static int pool_grow_reserve_locked(struct pool *p, struct pool_thread *t)
{
	struct pool_wait *w = pool_q_pick_locked(p, pool_room_locked(p));

	if (!w || LD(p->g.nfree))
		return 0;
	if (p->limit && !pool_avail_take(p, t, 1, pool_avail_keep(p, w->crit, 0)))
		return 0;
	return 1;
}

/* Asks the allocator for the block reserved by pool_grow_reserve_locked()
 * and, with the lock taken again, puts it on the free list for the caller
 * to feed (or gives the credit back). Returns with the lock held: 1 when
 * the allocator gave a block, 0 when it refused. */
static int pool_grow(struct pool *p, struct pool_thread *t)
{
	void *blk = pool_blk_new(p);

	pool_lock(p, t);
	if (blk) {
		pool_count_new(p, t, 1);
		pool_gfree_push_locked(p, blk);
		return 1;
	}
	if (p->limit)
		pool_avail_add(p, t, 1);
	return 0;
}

/* Feeds the waiters and, while the first one could take a block that is
 * not there (free credits without blocks, or after an allocator failure),
 * asks the allocator for one, outside the lock; stops when it refuses.
 * Releases the lock. */
static void pool_feed_unlock(struct pool *p, struct pool_thread *t)
{
	int grow;

	do {
		pool_feed_locked(p, t);
		grow = pool_grow_reserve_locked(p, t);
		pool_unlock(p);
	} while (grow && pool_grow(p, t));
	if (grow)
		pool_unlock(p);  /* the allocator refused: pool_grow() kept the lock */
}

/* Takes a block for level <crit> under the limit, with the lock. Returns 0
 * with the block in <*blk> (counted in use), -1 when a rule or the
 * allocator refuses. */
static int pool_alloc_limited_slow(struct pool *p, struct pool_thread *t,
				   enum pool_crit crit, void **blk)
{
	unsigned bare;
	void *b;

	pool_lock(p, t);
	bare = pool_credit_flush_locked(p, t);
	if (p->g.qmask)
		pool_feed_locked(p, t);
	if (pool_q_ahead_locked(p, crit) || !pool_may_take(p, crit, pool_room_locked(p))) {
		if (bare)
			pool_feed_unlock(p, t);
		else
			pool_unlock(p);
		return -1;
	}
	b = pool_gfree_pop_locked(p);
	if (b) {
		pool_in_use_add_locked(p, t, 1);
		pool_unlock(p);
		*blk = b;
		return 0;
	}
	/* a credit for a new block, taken under the lock; threads taking
	 * batches meanwhile leave the reserve, so the margin check holds */
	if (!pool_avail_take(p, t, 1, pool_avail_keep(p, crit, 0))) {
		pool_unlock(p);
		return -1;
	}
	pool_in_use_add_locked(p, t, 1);
	pool_unlock(p);

	b = pool_blk_new(p);
	if (b) {
		pool_count_new(p, t, 1);
		*blk = b;
		return 0;
	}
	pool_lock(p, t);
	BUMP(t->in_use, -1);
	pool_avail_add(p, t, 1);
	/* our credit may have kept a waiter off a block released meanwhile */
	pool_feed_locked(p, t);
	pool_unlock(p);
	return -1;
}

/* Refills the empty cache of <t> under a limit: whole batches of blocks
 * from the global free list if it has some, else a batch of bare credits,
 * leaving the reserve free either way, or with nothing if it finds that
 * someone waits. Nobody waited when the caller looked; one who came after
 * the look gets back what we take at our next call. */
static void pool_credit_refill(struct pool *p, struct pool_thread *t)
{
	if (LD(p->g.nfree)) {
		struct pool_free_blk *batch;
		unsigned got, n = 0;
		uint64_t room;

		pool_lock(p, t);
		if (p->g.qmask) {
			/* someone came to wait: the free blocks and credits are
			 * theirs, and the caller's slow path feeds them */
			pool_unlock(p);
			return;
		}
		room = pool_room_locked(p);
		room = room > p->reserve ? room - p->reserve : 0;
		batch = pool_gfree_take_locked(p, p->batch,
					       room < p->cache_max ? (unsigned)room : p->cache_max, &got);
		pool_unlock(p);
		while (batch) {
			struct pool_free_blk *next_batch = batch->next_batch, *b = batch;

			while (b) {
				struct pool_free_blk *next = b->next;

				t->cache[n++] = b;
				b = next;
			}
			batch = next_batch;
		}
		if (n) {
			ST(t->count, n);
			t->low = 0;
			return;
		}
	}
	ST(t->bare, (unsigned)pool_avail_take(p, t, p->batch, p->reserve));
}

/* Takes a block for level <crit> under the limit. Returns 0 with the block
 * in <*blk> (counted in use), -1 when a rule or the allocator refuses. */
static int pool_alloc_limited(struct pool *p, struct pool_thread *t,
			      enum pool_crit crit, void **blk)
{
	uint64_t margin = pool_crit_margin(crit, p->reserve);
	unsigned n, bare, refilled = 0;

	if (!p->cache_max || LD(p->nwait))
		return pool_alloc_limited_slow(p, t, crit, blk);
	n = LD(t->count);
	bare = LD(t->bare);
	if (!n && !bare) {
		pool_credit_refill(p, t);
		n = LD(t->count);
		bare = LD(t->bare);
		if (!n && !bare)
			return pool_alloc_limited_slow(p, t, crit, blk);
		refilled = 1;
	}
	/* our own credits and the free ones must leave the margin */
	if (margin && LD(p->avail) + n + bare < 1 + margin)
		return pool_alloc_limited_slow(p, t, crit, blk);
	if (n) {
		*blk = pool_cache_pop(t);
	} else {
		*blk = pool_blk_new(p);
		if (!*blk)
			return -1;      /* the credit stays ours */
		ST(t->bare, bare - 1);
		pool_count_new(p, t, 1);
	}
	BUMP(t->in_use, 1);
	if (refilled)
		pool_sample_in_use(p);
	return 0;
}

/* Puts back a block under the limit with the lock: to the first eligible
 * waiter, else to the global free list. */
static void pool_release_limited_slow(struct pool *p, struct pool_thread *t, void *blk)
{
	struct pool_wait *w;
	unsigned bare;

	pool_lock(p, t);
	bare = pool_credit_flush_locked(p, t);
	/* the block released counts as room */
	w = pool_q_pick_locked(p, pool_room_locked(p) + 1);
	if (w) {
		pool_q_unlink_locked(p, w);
		pool_serve_locked(p, t, w, blk);
	} else {
		pool_gfree_push_locked(p, blk);
		BUMP(t->in_use, -1);
	}
	if (bare && p->g.qmask) {
		pool_feed_unlock(p, t);
		return;
	}
	if (p->g.qmask)
		pool_feed_locked(p, t); /* our cached blocks, flushed above */
	pool_unlock(p);
}

/* Moves the oldest <batch> blocks of the cache of <t> to the global list
 * (and from there to waiters, should any have come). */
static void pool_cache_spill(struct pool *p, struct pool_thread *t);

/* Puts back a block under the limit: into the cache of <t> while nobody
 * waits, giving back a batch of credits (bare ones first) when it holds
 * more than p->cache_max; else through the slow path. */
static void pool_release_limited(struct pool *p, struct pool_thread *t, void *blk)
{
	unsigned n, bare;

	if (!p->cache_max || LD(p->nwait)) {
		pool_release_limited_slow(p, t, blk);
		return;
	}
	BUMP(t->in_use, -1);
	n = LD(t->count);
	bare = LD(t->bare);
	if (n + bare >= p->cache_max) {
		unsigned k = bare < p->batch ? bare : p->batch;

		if (k) {
			ST(t->bare, bare - k);
			pool_avail_add(p, t, k);
		}
		if (n + bare - k >= p->cache_max)
			pool_cache_spill(p, t);
		n = LD(t->count);
	}
	t->cache[n] = blk;
	ST(t->count, n + 1);
}

/* ----------------------------------------------------- unlimited regime */

/* Refills the empty cache of <t> from the global list, or failing that asks
 * the allocator. Returns a block (not counted in use) or NULL. */
static void *pool_cache_refill(struct pool *p, struct pool_thread *t)
{
	void *blk;

	if (LD(p->g.nfree)) {
		struct pool_free_blk *batch;
		unsigned got, n = LD(t->count);

		pool_lock(p, t);
		batch = pool_gfree_take_locked(p, p->batch, p->cache_max - n, &got);
		pool_unlock(p);
		while (batch) {
			struct pool_free_blk *next_batch = batch->next_batch, *b = batch;

			while (b) {
				struct pool_free_blk *next = b->next;

				t->cache[n++] = b;
				b = next;
			}
			batch = next_batch;
		}
		ST(t->count, n);
		blk = pool_cache_pop(t);
		if (blk)
			return blk;
	}
	blk = pool_blk_new(p);
	if (blk)
		pool_count_new(p, t, 1);
	return blk;
}

/* Moves the oldest <batch> blocks of the full cache of <t> to the global
 * list (and from there to waiters, should any have come). */
static void pool_cache_spill(struct pool *p, struct pool_thread *t)
{
	unsigned n = LD(t->count), k = p->batch;
	struct pool_free_blk *head = t->cache[0];

	for (unsigned i = 0; i + 1 < k; i++)
		((struct pool_free_blk *)t->cache[i])->next = t->cache[i + 1];
	((struct pool_free_blk *)t->cache[k - 1])->next = NULL;
	head->n = k;
	memmove(t->cache, t->cache + k, (n - k) * sizeof(*t->cache));
	ST(t->count, n - k);
	if (t->low > n - k)
		t->low = n - k;

	pool_lock(p, t);
	pool_gfree_push_batch_locked(p, head);
	if (p->g.qmask)
		pool_feed_locked(p, t);
	pool_unlock(p);
}

/* Takes a block for level <crit> without a limit. Returns 0 with the block
 * in <*blk> (counted in use), -1 if a waiter of <crit> or above remains or
 * the allocator fails. */
static int pool_alloc_unlimited(struct pool *p, struct pool_thread *t,
				enum pool_crit crit, void **blk)
{
	unsigned n;

	if (LD(p->nwait)) {
		int ahead;

		/* our cached blocks are free blocks: waiters come first */
		pool_lock(p, t);
		pool_feed_locked(p, t);
		ahead = pool_q_ahead_locked(p, crit);
		pool_unlock(p);
		if (ahead)
			return -1;
	}
	n = LD(t->count);
	if (n) {
		n--;
		*blk = t->cache[n];
		ST(t->count, n);
		if (n < t->low)
			t->low = n;
		BUMP(t->in_use, 1);
		return 0;
	}
	*blk = pool_cache_refill(p, t);
	if (!*blk)
		return -1;
	BUMP(t->in_use, 1);
	pool_sample_in_use(p);
	return 0;
}

/* Puts back a block without a limit: to a waiter if one is queued, else to
 * the cache of <t>. */
static void pool_release_unlimited(struct pool *p, struct pool_thread *t, void *blk)
{
	unsigned n;

	if (LD(p->nwait)) {
		struct pool_wait *w;

		pool_lock(p, t);
		w = pool_q_first_locked(p);
		if (w) {
			pool_q_unlink_locked(p, w);
			pool_serve_locked(p, t, w, blk);
			pool_unlock(p);
			return;
		}
		pool_unlock(p);
	}
	BUMP(t->in_use, -1);
	n = LD(t->count);
	if (n == p->cache_max) {
		pool_cache_spill(p, t);
		n = LD(t->count);
	}
	t->cache[n] = blk;
	ST(t->count, n + 1);
}

/* ------------------------------------------------------------- public API */

/* Returns the per-thread credit batch for a limited pool: what the
 * configuration says, else an eighth of the credits above the reserve
 * spread over the threads, at most POOL_CREDIT_MAX; 0 (every operation
 * under the lock) when that leaves fewer than POOL_CREDIT_MIN, since such
 * a limit is too tight for credits to sit in threads. */
static unsigned pool_credit_batch(const struct pool_config *cfg)
{
	uint64_t b;

	if (cfg->credit_batch == POOL_CREDIT_NONE)
		return 0;
	if (cfg->credit_batch)
		return cfg->credit_batch;
	b = (cfg->limit - cfg->reserve) / (8u * (uint64_t)cfg->nbthread);
	if (b > POOL_CREDIT_MAX)
		b = POOL_CREDIT_MAX;
	return b < POOL_CREDIT_MIN ? 0 : (unsigned)b;
}

struct pool *pool_create(const struct pool_config *cfg)
{
	struct pool *p;
	size_t bufsize;
	unsigned cache_max;

	if (!cfg || !cfg->nbthread || cfg->fail_ppm > POOL_PPM ||
	    cfg->cache_max > POOL_MAX_CACHE ||
	    (cfg->credit_batch > POOL_MAX_CACHE / 2 && cfg->credit_batch != POOL_CREDIT_NONE) ||
	    (cfg->bufsize && cfg->bufsize < POOL_MIN_BUFSIZE) ||
	    (cfg->limit && cfg->reserve >= cfg->limit)) {
		errno = EINVAL;
		return NULL;
	}
	bufsize = cfg->bufsize ? cfg->bufsize : POOL_DEF_BUFSIZE;
	cache_max = cfg->cache_max ? cfg->cache_max : POOL_DEF_CACHE;

	p = aligned_alloc(POOL_LINE, sizeof(*p));
	if (!p)
		return NULL;
	memset(p, 0, sizeof(*p));
	p->bufsize = bufsize;
	p->limit = cfg->limit;
	p->reserve = cfg->limit ? cfg->reserve : 0;
	p->nbthread = cfg->lanes > cfg->nbthread ? cfg->lanes : cfg->nbthread;
	if (cfg->limit) {
		unsigned batch = pool_credit_batch(cfg);

		p->cache_max = 2 * batch;
		p->batch = batch;
		atomic_init(&p->avail, cfg->limit);
	} else {
		p->cache_max = cache_max;
		p->batch = cache_max / 2 ? cache_max / 2 : 1;
	}
	p->trim_ms = cfg->trim_ms ? cfg->trim_ms : POOL_DEF_TRIM_MS;
	p->fail_seed = cfg->fail_seed;
	atomic_init(&p->fail_ppm, cfg->fail_ppm);

	p->threads = aligned_alloc(POOL_LINE, sizeof(*p->threads) * p->nbthread);
	if (!p->threads)
		goto fail;
	memset(p->threads, 0, sizeof(*p->threads) * p->nbthread);
	for (unsigned i = 0; i < p->nbthread; i++) {
		struct pool_thread *t = &p->threads[i];

		t->rng = pool_seed(cfg->fail_seed ^ i);
		if (p->cache_max) {
			t->cache = calloc(p->cache_max, sizeof(*t->cache));
			if (!t->cache)
				goto fail;
		}
	}
	return p;
fail:
	pool_destroy(p);
	errno = ENOMEM;
	return NULL;
}

void pool_destroy(struct pool *p)
{
	if (!p)
		return;
	if (p->threads) {
		for (unsigned i = 0; i < p->nbthread; i++) {
			struct pool_thread *t = &p->threads[i];
			unsigned n = LD(t->count);

			for (unsigned j = 0; j < n; j++)
				free(t->cache[j]);
			free(t->cache);
		}
		free(p->threads);
	}
	for (void *blk; (blk = pool_gfree_pop_locked(p)) != NULL; )
		free(blk);
	free(p);
}

size_t pool_bufsize(const struct pool *p)
{
	return p->bufsize;
}

int pool_alloc(struct pool *p, unsigned tid, enum pool_crit crit, struct buf *b)
{
	struct pool_thread *t = pool_thr(p, tid);
	uint32_t ppm = LD(p->fail_ppm);
	void *blk;
	int ret;

	if (ppm && pool_inject(t, ppm)) {
		BUMP(t->failed, 1);
		BUMP(t->injected, 1);
		return -1;
	}
	if (p->limit)
		ret = pool_alloc_limited(p, t, crit, &blk);
	else
		ret = pool_alloc_unlimited(p, t, crit, &blk);
	if (ret) {
		BUMP(t->failed, 1);
		return -1;
	}
	BUMP(t->allocs, 1);
	*b = (struct buf){ .area = blk, .size = p->bufsize, .head = 0, .data = 0 };
	return 0;
}

void pool_release(struct pool *p, unsigned tid, struct buf *b)
{
	struct pool_thread *t = pool_thr(p, tid);
	void *blk = b->area;

	if (!blk)
		return;
	*b = BUF_NULL;
	BUMP(t->releases, 1);
	if (p->limit)
		pool_release_limited(p, t, blk);
	else
		pool_release_unlimited(p, t, blk);
}

void pool_wait_init(struct pool_wait *w, unsigned tid, enum pool_crit crit,
		    pool_notify_fn notify, void *ctx)
{
	*w = (struct pool_wait){
		.notify = notify, .ctx = ctx, .served = BUF_NULL,
		.tid = tid, .crit = crit, .state = POOL_WAIT_IDLE,
	};
}

/* Feeds the waiters from thread <t>. Returns non-zero when this feed is
 * what served <w>. */
static int pool_wait_fed_locked(struct pool *p, struct pool_thread *t, struct pool_wait *w)
{
	int was_waiting = __atomic_load_n(&w->state, __ATOMIC_RELAXED) == POOL_WAIT_WAITING;

	pool_feed_locked(p, t);
	return was_waiting && __atomic_load_n(&w->state, __ATOMIC_RELAXED) != POOL_WAIT_WAITING;
}

int pool_wait_subscribe(struct pool *p, struct pool_wait *w)
{
	struct pool_thread *t = pool_thr(p, w->tid);
	int served, grow;

	if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != POOL_WAIT_IDLE)
		return -1;
	w->since_ns = pool_now_ns();
	BUMP(t->waits_total, 1);

	/* Queue first, then feed: <w> is served now only if every entry ahead
	 * of it can be served too, which is exactly the no-barging rule. */
	pool_lock(p, t);
	pool_q_append_locked(p, w);
	served = pool_wait_fed_locked(p, t, w);
	grow = !served && pool_grow_reserve_locked(p, t);
	pool_unlock(p);

	if (grow) {
		/* <w> may have been served meanwhile: the new block then goes
		 * to whoever is first now, or stays free */
		pool_grow(p, t);
		served = pool_wait_fed_locked(p, t, w);
		pool_unlock(p);
	}
	if (served)
		BUMP(t->served_at_subscribe, 1);
	return 0;
}

int pool_wait_take(struct pool *p, struct pool_wait *w, struct buf *b)
{
	int st = pool_wait_notified(w);

	if (st != POOL_WAIT_SERVED)
		return 0;
	*b = w->served;
	w->served = BUF_NULL;
	__atomic_store_n(&w->state, POOL_WAIT_IDLE, __ATOMIC_RELEASE);
	BUMP(pool_thr(p, w->tid)->takes, 1);
	return 1;
}

void pool_wait_cancel(struct pool *p, struct pool_wait *w)
{
	struct pool_thread *t = pool_thr(p, w->tid);
	struct buf b;
	int st;

	/* IDLE is left only by the owner (us), and SERVED is published once
	 * notify() returned: in either state no other thread touches <w>. */
	st = pool_wait_notified(w);
	if (st == POOL_WAIT_IDLE)
		return;
	if (st == POOL_WAIT_WAITING) {
		pool_lock(p, t);
		st = __atomic_load_n(&w->state, __ATOMIC_RELAXED);
		if (st == POOL_WAIT_WAITING) {
			pool_q_unlink_locked(p, w);
			__atomic_store_n(&w->state, POOL_WAIT_IDLE, __ATOMIC_RELAXED);
			pool_unlock(p);
			BUMP(t->cancels, 1);
			return;
		}
		/* served meanwhile: its notify may still be running */
		pool_unlock(p);
		st = pool_wait_notified(w);
	}
	/* SERVED: the block is ours; hand it on */
	b = w->served;
	w->served = BUF_NULL;
	__atomic_store_n(&w->state, POOL_WAIT_IDLE, __ATOMIC_RELAXED);
	BUMP(t->passes_on, 1);
	pool_release(p, w->tid, &b);
}

int pool_wait_state(const struct pool_wait *w)
{
	int st = __atomic_load_n(&w->state, __ATOMIC_ACQUIRE);

	return st == POOL_WAIT_SERVING ? POOL_WAIT_SERVED : st;
}

/* Lets the allocator return memory after a trim of <k> blocks. */
static void pool_trimmed(uint64_t k)
{
#ifdef SLUICE_JEMALLOC
	/* freed blocks sit in this thread's tcache until flushed to the
	 * arena, whose decay then returns the pages */
	if (k >= POOL_FLUSH_MIN)
		mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
#else
	(void)k;
#endif
}

/* Gives back to the allocator half (rounded up) of the blocks that the
 * cache of <t> has not needed since the last trim: its low-water mark. */
static void pool_cache_trim(struct pool *p, struct pool_thread *t)
{
	unsigned n = LD(t->count), k = (t->low + 1) / 2;

	if (k > n)
		k = n;
	for (unsigned i = 0; i < k; i++)
		free(t->cache[i]);
	memmove(t->cache, t->cache + k, (n - k) * sizeof(*t->cache));
	ST(t->count, n - k);
	t->low = n - k;
	if (k) {
		pool_count_gone(p, t, k);
		BUMP(t->trims, k);
	}
	pool_trimmed(k);
}

/* Trims the global free list the same way, if its period elapsed and the
 * lock is free (housekeeping never waits). */
static void pool_global_trim(struct pool *p, struct pool_thread *t, uint64_t now_ms)
{
	struct pool_free_blk *chain = NULL;
	uint64_t k;

	if (!pool_trylock(p, t))
		return;
	if (!p->g.trim_started || now_ms - p->g.last_trim_ms < p->trim_ms) {
		if (!p->g.trim_started) {
			p->g.trim_started = 1;
			p->g.last_trim_ms = now_ms;
			p->g.free_low = LD(p->g.nfree);
		}
		pool_unlock(p);
		return;
	}
	k = (p->g.free_low + 1) / 2;
	for (uint64_t i = 0; i < k; i++) {
		struct pool_free_blk *f = pool_gfree_pop_locked(p);

		if (!f) {
			k = i;
			break;
		}
		f->next = chain;
		chain = f;
	}
	p->g.last_trim_ms = now_ms;
	p->g.free_low = LD(p->g.nfree);
	/* counted as gone before the lock is released: under a limit the
	 * decision to ask the allocator for more reads this count */
	if (k) {
		pool_count_gone(p, t, k);
		if (p->limit)
			pool_avail_add(p, t, k); /* their credits */
	}
	pool_unlock(p);

	while (chain) {
		struct pool_free_blk *next = chain->next;

		free(chain);
		chain = next;
	}
	BUMP(t->trims, k);
	pool_trimmed(k);
}

void pool_thread_idle(struct pool *p, unsigned tid, uint64_t now_ms)
{
	struct pool_thread *t = pool_thr(p, tid);

	if (p->limit && t->cache && (LD(t->count) || LD(t->bare))) {
		/* A sleeping thread must not sit on credits: a waiter that
		 * comes while it sleeps could not get them back. */
		pool_lock(p, t);
		pool_credit_flush_locked(p, t);
		pool_feed_unlock(p, t);
	} else if (LD(p->nwait)) {
		pool_lock(p, t);
		pool_feed_unlock(p, t);
	}
	if (!t->trim_started) {
		t->trim_started = 1;
		t->last_trim_ms = now_ms;
		t->low = LD(t->count);
		pool_global_trim(p, t, now_ms);
		return;
	}
	if (now_ms - t->last_trim_ms < p->trim_ms)
		return;
	t->last_trim_ms = now_ms;
	if (t->cache && !p->limit) /* under a limit the cache is empty here */
		pool_cache_trim(p, t);
	pool_global_trim(p, t, now_ms);
}

void pool_set_fail_ppm(struct pool *p, uint32_t fail_ppm)
{
	ST(p->fail_ppm, fail_ppm > POOL_PPM ? POOL_PPM : fail_ppm);
}

/* Adds the counters of <t> to <out>. */
static void pool_stats_add(const struct pool_thread *t, struct pool_stats *out)
{
	out->in_use += LD(t->in_use);
	out->cached += LD(t->count);
	out->credits_cached += LD(t->bare);
	out->lock_acquisitions += LD(t->lock_acqs);
	out->shared_atomics += LD(t->shared_ops);
	out->allocs += LD(t->allocs);
	out->releases += LD(t->releases);
	out->failed += LD(t->failed);
	out->injected += LD(t->injected);
	out->waits_total += LD(t->waits_total);
	out->handoffs += LD(t->handoffs);
	out->served_at_subscribe += LD(t->served_at_subscribe);
	out->notifies += LD(t->notifies);
	out->takes += LD(t->takes);
	out->passes_on += LD(t->passes_on);
	out->cancels += LD(t->cancels);
	out->trims += LD(t->trims);
	out->wait_ns_total += LD(t->wait_ns_total);
}

void pool_stats(const struct pool *p, unsigned tid, struct pool_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (tid == -1u) {
		for (unsigned i = 0; i < p->nbthread; i++)
			pool_stats_add(&p->threads[i], out);
	} else if (tid < p->nbthread) {
		pool_stats_add(&p->threads[tid], out);
	}
	out->allocated = LD(p->allocated);
	out->peak_allocated = LD(p->peak_allocated);
	out->peak_in_use = LD(p->peak_in_use);
	if (tid == -1u && out->in_use > 0 && (uint64_t)out->in_use > out->peak_in_use)
		out->peak_in_use = (uint64_t)out->in_use;
	out->waiting = LD(p->nwait);
	for (unsigned c = 0; c < POOL_CRIT_COUNT; c++)
		out->waiting_by_crit[c] = LD(p->g.qlen[c]);
	out->global_free = LD(p->g.nfree);
	out->credits_free = p->limit ? LD(p->avail) : 0;
	out->credit_batch = p->limit ? p->batch : 0;
	out->limit = p->limit;
	out->reserve = p->reserve;
	out->bufsize = p->bufsize;
}

/* pool.h - the buffer pool and its hand-off wait queues.
 *
 * Contract
 * --------
 * A pool hands out fixed-size blocks (tune.bufsize) as struct buf. It knows
 * nothing of HTTP, tasks or sockets. Each worker thread identifies itself
 * with a thread index (tid < lanes, see pool_config) and only ever passes its own index.
 *
 * Allocation states a criticality. Levels are ordered by how soon the
 * allocation leads to memory being freed: emitting to a socket frees buffers
 * soonest, a response frees a server slot, a request may sit in a queue, a
 * new connection's first read frees nothing. Levels at or above
 * POOL_CRIT_RESPONSE may use the whole reserve (tune.buffers.reserve);
 * POOL_CRIT_SLOT may use all of it but one buffer, so that a response can
 * always get one; the others fail rather than leave fewer than <reserve>
 * buffers free below the limit. Each level's margin is at least the margin
 * of every more critical level, so if the most critical waiter may not take
 * a block, no less critical one may either.
 *
 * A requester whose allocation fails may subscribe one wait entry, for one
 * buffer, and must be able to make progress with that buffer alone. When a
 * buffer is released while entries wait, the buffer is stored into the first
 * waiting entry of the most critical queue and that entry's notify callback
 * is called: one release, one hand-off, one wake-up. The owner then takes
 * the buffer with pool_wait_take() on its own thread.
 *
 * Entry states (see docs/ARCHITECTURE.md):
 *   IDLE --subscribe--> WAITING --hand-off--> SERVED --take--> IDLE
 *   WAITING --cancel--> IDLE;  SERVED --cancel--> IDLE (buffer passed on)
 *
 * Threading: pool_alloc/pool_release/pool_wait_* may be called from any
 * worker thread with its own tid. A wait entry is subscribed, taken and
 * cancelled only by its owner thread; it is served by whichever thread
 * releases a buffer. notify() runs on the releasing thread, just after the
 * pool's queue lock is released (so that the wake-up it posts, and the
 * eventfd write that may come with it, do not lengthen the lock's hold): it
 * must only post work to the owner's thread (never run the owner's code),
 * must not block and must not call back into the pool. Until notify()
 * returns, the entry stays in an internal serving state that only the
 * releasing thread leaves, and pool_wait_take()/pool_wait_cancel() wait for
 * it to end: an owner whose take or cancel returned knows that no notify
 * for its entry is in flight any more, and may free its tasklet.
 */
#ifndef SLUICE_POOL_POOL_H
#define SLUICE_POOL_POOL_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

enum pool_crit {
	POOL_CRIT_NEWCONN  = 0, /* first read on a new connection */
	POOL_CRIT_REQUEST  = 1, /* request data (may wait in a server queue) */
	POOL_CRIT_SLOT     = 2, /* request data of a stream holding a server slot:
	                         * finishing it frees the slot, so it may use the
	                         * reserve, all but one buffer: with maxconn above
	                         * the reserve, uploads to a server that answers
	                         * while it reads could otherwise take every
	                         * reserved buffer and leave none to the answers
	                         * they wait for */
	POOL_CRIT_RESPONSE = 3, /* response data, error messages: may use the reserve */
	POOL_CRIT_EMIT     = 4, /* emitting to a socket, which frees buffers */
	POOL_CRIT_COUNT
};

/* Returns how many buffers under the limit a take at level <c> must leave
 * possible, with <reserve> reserved buffers. */
static inline uint64_t pool_crit_margin(enum pool_crit c, uint64_t reserve)
{
	if (c >= POOL_CRIT_RESPONSE)
		return 0;
	if (c == POOL_CRIT_SLOT)
		return reserve ? 1 : 0;
	return reserve;
}

enum pool_wait_state {
	POOL_WAIT_IDLE = 0,
	POOL_WAIT_WAITING,
	POOL_WAIT_SERVED,
};

struct pool_wait;
/* Called on the releasing thread, once the queue lock is released, right
 * after <w> was served; the owner's take or cancel of <w> waits for it to
 * return. Must only post a wake-up to the owner thread. */
typedef void (*pool_notify_fn)(struct pool_wait *w);

/* A wait entry. Embed it in the requester (one per paused direction); set
 * it up once with pool_wait_init(). Fields are private to the pool except
 * <ctx>, which is the owner's. */
struct pool_wait {
	struct pool_wait *next, *prev; /* queue links while WAITING */
	pool_notify_fn    notify;
	void             *ctx;         /* owner's context, for notify */
	struct buf        served;      /* the buffer handed over while SERVED */
	uint64_t          since_ns;    /* when it started waiting (stats) */
	unsigned          tid;         /* owner thread */
	enum pool_crit    crit;
	int               state;       /* enum pool_wait_state, under the lock */
};

struct pool_config {
	size_t   bufsize;        /* block size in bytes; 0 means 16384 */
	unsigned nbthread;       /* number of threads that run at once (sizes the
	                          * credit batch) */
	unsigned lanes;          /* thread indexes that may call in (tid < lanes),
	                          * 0 means nbthread; more than nbthread lets an
	                          * engine reload run a new set of threads beside
	                          * the old ones on indexes of their own, with
	                          * one cap for both */
	uint64_t limit;          /* max buffers allocated at once, 0 = none */
	uint64_t reserve;        /* buffers kept for critical levels */
	uint32_t fail_ppm;       /* fault injection: failures per million allocs */
	uint64_t fail_seed;      /* seed of the fault-injection generator */
	unsigned cache_max;      /* per-thread cache cap, 0 means a default (64);
	                          * under a limit the cap is twice the credit
	                          * batch instead */
	unsigned trim_ms;        /* trimming period of pool_thread_idle(), 0 means 1000 */
	unsigned credit_batch;   /* under a limit: credits a thread takes at once;
	                          * 0 derives it from the limit, the reserve and
	                          * nbthread (see pool_create()), POOL_CREDIT_NONE
	                          * keeps every operation under the lock */
};

#define POOL_CREDIT_NONE 0xffffffffu

/* Counters. Per thread, each written only by its thread; summed by
 * pool_stats(). "in_use" and "waiting" are derived on read.
 * At any quiescent point: allocated == in_use + cached + global_free,
 * notifies == handoffs, takes + passes_on == handoffs once no entry is
 * SERVED. peak_in_use is exact under a limit; without one it is sampled on
 * the slow paths and by pool_stats() (a lower bound of the true peak).
 * A one-thread view (tid != -1u) holds that thread's counters, its cache and
 * its net in_use (what it took out minus what it put back, which may be
 * negative); the pool-wide fields (allocated, peaks, waiting, global_free,
 * configuration) are always those of the whole pool. */
struct pool_stats {
	uint64_t allocated;     /* blocks currently obtained from the allocator */
	uint64_t peak_allocated;/* highest <allocated> ever seen */
	int64_t  in_use;        /* blocks held by users right now */
	uint64_t peak_in_use;   /* highest <in_use> seen (exact under a limit) */
	uint64_t allocs;        /* successful pool_alloc() calls */
	uint64_t releases;      /* pool_release() calls */
	uint64_t failed;        /* refused allocations (incl. injected) */
	uint64_t injected;      /* of which injected by fault injection */
	uint64_t waiting;       /* entries in WAITING state right now */
	uint64_t waits_total;   /* subscriptions ever made */
	uint64_t waiting_by_crit[POOL_CRIT_COUNT];
	uint64_t handoffs;      /* buffers stored into a waiting entry */
	uint64_t served_at_subscribe; /* of which served at subscription time */
	uint64_t notifies;      /* notify() calls: must equal handoffs */
	uint64_t takes;         /* pool_wait_take() that got a buffer */
	uint64_t passes_on;     /* handed buffers that their owner gave back */
	uint64_t cancels;       /* entries cancelled while WAITING */
	uint64_t trims;         /* blocks given back to the allocator by trimming */
	uint64_t wait_ns_total; /* total time entries spent waiting */
	uint64_t limit, reserve, bufsize; /* configuration, for display */
	uint64_t cached;        /* free blocks in thread caches */
	uint64_t global_free;   /* free blocks on the global free list */
	/* Under a limit: allocated + credits_cached + credits_free == limit
	 * at any quiescent point, and allocated + credits_cached <= limit
	 * always (both read without a lock, so only nearly at once). */
	uint64_t credits_cached;/* credits threads hold without a block */
	uint64_t credits_free;  /* credits nobody holds (pool-wide) */
	uint64_t credit_batch;  /* credits a thread takes at once, 0 = none */
	/* Cost of sharing, per thread: pool lock acquisitions and atomic
	 * read-modify-writes on lines other threads write (credits, the
	 * allocated count; the lock's own exchange is not counted here). */
	uint64_t lock_acquisitions;
	uint64_t shared_atomics;
};

struct pool;

/* Creates a pool. Returns NULL with errno set on bad config or no memory:
 * EINVAL when nbthread is 0, bufsize is below 64, cache_max above 65536,
 * fail_ppm above 1000000, or a limit is set with reserve >= limit (the
 * lower levels could never allocate). Without a limit, reserve is unused. */
struct pool *pool_create(const struct pool_config *cfg);

/* Frees every cached block and the pool itself. All buffers must have been
 * released and no entry may be waiting. */
void pool_destroy(struct pool *p);

/* Returns the block size of the pool. */
size_t pool_bufsize(const struct pool *p);

/* Tries to give <b> (which must be null) a block. Returns 0 on success, or
 * -1 when the limit, the margin of level <crit>, a queued waiter of equal or
 * higher criticality (no barging), the allocator or fault injection refuses.
 * Never blocks. */
int pool_alloc(struct pool *p, unsigned tid, enum pool_crit crit, struct buf *b);

/* Gives the block of <b> back and nulls <b>; a null <b> is a no-op. If
 * entries wait, the block goes straight to the first eligible one. */
void pool_release(struct pool *p, unsigned tid, struct buf *b);

/* Sets up <w> for owner thread <tid>, level <crit>, with <notify>/<ctx>. */
void pool_wait_init(struct pool_wait *w, unsigned tid, enum pool_crit crit,
		    pool_notify_fn notify, void *ctx);

/* Subscribes <w> (which must be IDLE) for one buffer. If a buffer can be
 * given right away (a release raced with the failed allocation, or the
 * failure was injected), <w> is served at once and notified like any other
 * hand-off, so the caller always waits for its notify and never loses a
 * wake-up. Returns 0, or -1 if <w> was not IDLE. */
int pool_wait_subscribe(struct pool *p, struct pool_wait *w);

/* Owner side, usually from the tasklet that notify() woke: if <w> was
 * served, moves its buffer into <b> (which must be null), sets <w> IDLE and
 * returns 1. Returns 0 if <w> is not SERVED (still waiting, or idle). If
 * the releasing thread is still in <w>'s notify(), waits for it first. */
int pool_wait_take(struct pool *p, struct pool_wait *w, struct buf *b);

/* Owner side: stops waiting. WAITING entries leave their queue; a SERVED
 * entry's buffer is passed on to the next waiter (or the pool). After this
 * returns, <w> is IDLE and no notify for it is running or will run. Safe
 * to call on an IDLE entry. */
void pool_wait_cancel(struct pool *p, struct pool_wait *w);

/* Returns the state of <w> (a snapshot; only the owner's view is stable). */
int pool_wait_state(const struct pool_wait *w);

/* Housekeeping for thread <tid>, called when its scheduler is about to
 * sleep: hands cached blocks to waiters if any wait, and gives back to the
 * allocator what the cache has not needed since the last call that was at
 * least <trim_ms> ago. <now_ms> is a monotonic clock.
 * (<trim_ms> is pool_config.trim_ms. When the first waiter could take
 * a block but none is free, it also asks the allocator for one, which
 * revives waiters left behind by an allocator failure. Without a limit,
 * the global free list is trimmed too by whichever thread finds the lock
 * free when its own period ends.) */
void pool_thread_idle(struct pool *p, unsigned tid, uint64_t now_ms);

/* Changes the fault-injection rate at run time (tests). */
void pool_set_fail_ppm(struct pool *p, uint32_t fail_ppm);

/* Fills <out> with the sum over threads (tid == -1u) or one thread's part. */
void pool_stats(const struct pool *p, unsigned tid, struct pool_stats *out);

#endif /* SLUICE_POOL_POOL_H */

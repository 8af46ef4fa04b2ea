/* ctx.h - the engine and its per-thread context: the types every room of
 * engine/ shares (core/, server/, client/ and the engine's life above them).
 *
 * Threading model: every client connection, its stream and the server
 * connection that stream uses live on one worker thread, the one whose
 * listener accepted the client. Only three things cross threads: the buffer
 * pool (its own lock), backend queues and server slots (the backend lock),
 * and tasklet wake-ups (the scheduler inboxes). Above them, the engine
 * handle (struct sluice, below) and its list of generations are under the
 * handle's lock: reloads, stops and snapshots.
 */
#ifndef SLUICE_ENGINE_CORE_CTX_H
#define SLUICE_ENGINE_CORE_CTX_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "engine/core/cfg.h"
#include "engine/core/host.h"
#include "engine/core/list.h"
#include "engine/core/pipe.h"
#include "engine/core/tlsmem.h"
#include "engine/sluice.h"
#include "mux/h1.h"
#include "pool/pool.h"
#include "sched/sched.h"

struct stream;
struct backend;
struct thr_ctx;
struct log_target;
struct listener;
struct cli;
struct stats_hist;

/* Per-thread engine counters: one per THR or CLASS line of SLUICE_COUNTERS
 * (sluice.h), plus the closing counts that the snapshot turns into "open
 * now" gauges. Each is written only by its own thread with a relaxed
 * load+store, and read by snapshots with relaxed loads. */
#define ENG_COUNTER_FIELD(name, src, ...) ENG_COUNTER_FIELD_##src(name)
#define ENG_COUNTER_FIELD_THR(name) uint64_t name;
#define ENG_COUNTER_FIELD_CLASS(name) uint64_t name[6];
#define ENG_COUNTER_FIELD_SNAP(name)
#define ENG_COUNTER_FIELD_WAITERS(name)
#define ENG_COUNTER_FIELD_SCHED(name)

struct eng_counters {
	SLUICE_COUNTERS(ENG_COUNTER_FIELD)
	uint64_t conn_closed, h2_conn_closed, h2_srv_conn_closed;
};

/* Adds <n> to a counter owned by the calling thread. */
#define CNT_ADD(thr, field, n) \
	__atomic_store_n(&(thr)->cnt.field, __atomic_load_n(&(thr)->cnt.field, __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define CNT_INC(thr, field) CNT_ADD(thr, field, 1)

/* A frontend at run time. */
struct frontend {
	const struct cfg_frontend *cfg;
	struct backend *be;       /* default backend, NULL if only stats */
	unsigned conn_cur;        /* atomic */
	unsigned maxconn;
};

/* The unit of cache-line separation between threads: two 64-byte lines,
 * because the adjacent-line prefetcher moves them in pairs (the pool and
 * the scheduler pad to the same). */
#define ENG_LINE 128

/* Per-thread engine state, reached from every object living on the thread.
 * Its counters (cnt) are bumped on every request by this thread only and
 * summed only when a snapshot reads them; the whole struct is aligned to,
 * and a multiple of, ENG_LINE, so in the engine's tcs[] array no two
 * threads' parts share a line pair (bench/counter_bench.c checks it). */
struct thr_ctx {
	struct engine *eng;
	struct sched_thread *thr;
	unsigned tid;
	struct listener *lis;     /* nb_listeners of them (all binds) */
	unsigned nb_lis;
	struct eng_list streams;  /* every stream on this thread */
	struct eng_list idle_clis;/* kept-alive client connections parked
	                           * without a stream (client/stream_idle.c) */
	struct eng_list h2fronts; /* HTTP/2 client connections on this thread */
	struct eng_list h2backs;  /* HTTP/2 server connections on this thread */
	unsigned nb_streams;
	char *trash;              /* scratch of bufsize bytes for head rewrites */
	struct h1_msg msg;        /* scratch parse result */
	unsigned pool_tid;        /* this thread's lane in the shared pool (see struct sluice) */
	struct task house;        /* stop handling, listener resume */
	int stopping;             /* this thread has applied the stop */
	struct pipe_cache pipes;  /* empty pipes for splicing (core/pipe.h) */
	int deaf;                 /* under owner->end_mu: stopped listening */
	struct eng_counters cnt;
	struct tlsmem_cnt tlsmem; /* OpenSSL's heap counted on this thread (core/tlsmem.h) */
} __attribute__((aligned(ENG_LINE)));

_Static_assert(sizeof(struct thr_ctx) % ENG_LINE == 0,
	       "thr_ctx must fill whole line pairs so that tcs[i + 1] starts a new one");

/* One listening socket of a generation: the bind line it serves (index
 * over all frontends' binds, frontend by bind), the thread that listens on
 * it, and who may close it. A socket whose address is in the next
 * configuration too is handed to the next generation (keep), never closed:
 * closing a SO_REUSEPORT socket resets the connections in its queue. */
struct eng_lfd {
	int fd;
	unsigned bind;            /* bind line index, frontend by bind */
	unsigned thr;             /* listening thread */
	int keep;                 /* another generation owns the fd: never close it
	                           * (moved fds: until the new generation runs) */
	int adopted;              /* came from the previous generation */
	int closed;               /* closed by its thread (read after join) */
};

/* One generation: a parsed configuration running on its own threads with
 * its own frontends, backends, checks and listeners. Room code only ever
 * sees its own generation (tc->eng); the engine handle (struct sluice)
 * owns the generations and the pool they share. */
struct engine {
	struct cfg *cfg;
	struct pool *pool;        /* the owner's, shared by every generation */
	struct sched *sched;
	struct thr_ctx *tcs;
	unsigned nbthread;
	struct frontend *fes;
	unsigned nb_fes;
	struct backend **bes;
	unsigned nb_bes;
	struct eng_lfd *lfds;     /* every listening socket, bind by bind */
	unsigned nb_lfds;
	unsigned nb_binds;
	unsigned conn_cur;        /* atomic, global maxconn */
	unsigned h2_streams_cur;  /* atomic, global maxstreams */
	unsigned pipes_open;      /* atomic: pipes open (in use + cached), under
	                           * tune.pipes.limit (core/pipe.h) */
	unsigned listeners_full;  /* atomic: listeners paused by maxconn */
	int stop_mode;            /* atomic: -1 running, else enum sluice_stop_mode */
	uint64_t stop_deadline_ms;/* graceful: when to stop waiting */
	int started;
	int debug;
	uint64_t start_ms;        /* sched_clock_ms() at the handle's first start */
	struct log_target *log;   /* access log, NULL when none */
	struct cli *cli;          /* the command socket (thread 0), NULL when none */
	struct sluice *owner;     /* the handle that owns this generation */
	/* the owner's reload (sluice_reload()), handed down by the engine's
	 * top room so that the command socket's `reload` needs no call up */
	int (*reload)(struct sluice *h, const char *path, char **err);
	struct engine *next;      /* owner's list of generations, newest first */
	unsigned gen;             /* 1 for the first configuration, +1 per reload */
	unsigned slot;            /* its pool lanes: slot * owner->stride + tid */
	unsigned threads_live;    /* atomic: threads not yet past their stop hook */
	int ended;                /* atomic: every thread passed its stop hook */
	unsigned threads_ready;   /* under owner->end_mu: start hooks that succeeded */
	unsigned threads_deaf;    /* under owner->end_mu: threads that stopped listening */
	int start_err;            /* under owner->end_mu: first failed start hook's errno */
	int cli_keep_path;        /* the next generation took the stats socket path */
	int retiring;             /* stopped by a reload: an idle keep-alive client
	                           * may have sent its next request already, so it
	                           * gets that answer (with Connection: close)
	                           * instead of a close (atomic, written before
	                           * stop_mode) */
	struct stats_hist *hist;  /* the stats page's history (sampled on thread 0;
	                           * a reload starts a new one) */
	struct eng_host host;     /* the owner's registrations, copied at build
	                           * (its service array is the owner's) */
};

/* What freed generations had counted, per thread index, so that no counter
 * goes backwards across a reload. */
struct eng_carry {
	struct eng_counters cnt;
	struct sched_stats ss;
};

/* Generations that may be alive at once (one live, the rest draining). */
#define ENG_GEN_SLOTS 4

/* The engine handle (the struct sluice of the public API): it owns the
 * generations and what outlives them.
 *
 * Invariants:
 * - Exactly one generation is live (accepts) while the engine runs; older
 *   ones only drain, and each is freed (after its threads were joined) by
 *   the next reload, sluice_wait() or sluice_free(), which leaves <gens>
 *   and adds its counters to <carry> in one step under <stats_lock>: a
 *   snapshot (taken under <stats_lock>) is carry + every generation still
 *   in <gens>, so it never goes backwards.
 * - Lock order: <lock>, then <stats_lock> or end_mu; workers take only
 *   <stats_lock> and end_mu, and <lock> with a trylock.
 * - One pool for the engine's life: its cap covers every generation. A
 *   generation owns <slot>: pool lanes slot*stride .. slot*stride+nbthread-1,
 *   so two generations never share a lane; a slot is free again only once
 *   its generation's threads were joined. nbthread <= stride always.
 * - A listening fd belongs to one generation at a time for closing: a
 *   reload moves (keep) the fds of addresses in both configurations to the
 *   new generation before the old one is told to stop, so no such socket is
 *   ever closed and no queued connection is lost.
 * - The new generation is running (bound, threads started) before the old
 *   one stops accepting; a configuration that does not parse or cannot
 *   start leaves the live generation untouched. */
struct sluice {
	pthread_mutex_t lock;     /* API calls (start, stop, wait, reload), the
	                           * slots; held while a reload waits for threads,
	                           * so a worker never blocks on it (trylock) */
	pthread_mutex_t stats_lock; /* <gens>, <live>, <carry>, the reload counts:
	                           * what snapshots read, from any thread; held
	                           * briefly, never while waiting for anything */
	struct engine *live;      /* the generation that accepts */
	struct engine *gens;      /* every generation not yet freed, newest first */
	struct pool *pool;
	unsigned stride;          /* pool lanes per slot: most threads per generation */
	unsigned slots_used;      /* bit k: slot k belongs to a generation */
	struct eng_carry *carry;  /* [stride] */
	char *path;               /* the file it was built from, or NULL */
	char *text, *name;        /* the text it was built from, or NULL */
	int debug;
	int started;
	int stopping;             /* a stop was requested: no more reloads */
	uint64_t start_ms;
	uint64_t reloads, reload_failures; /* under <stats_lock> */
	struct tlsmem_cnt tls_carry; /* under <stats_lock>: freed generations'
	                           * workers' OpenSSL heap counts (only the sum
	                           * over every bucket is exact) */
	pthread_mutex_t end_mu;   /* with end_cv: a generation ended */
	pthread_cond_t end_cv;
	unsigned end_seq;         /* under end_mu: bumped at each end */
	struct eng_host host;     /* the embedding program's hooks and services:
	                           * registered before the start, then copied
	                           * into every generation */
};

/* Returns the current mono time of the calling thread's loop. */
static inline uint64_t tc_now(const struct thr_ctx *tc) { return sched_now_ms(tc->thr); }

/* Prints a debug line when debug is on. */
void eng_debug(const struct engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes the address of <ss> (without port) as text into <dst>. */
void eng_addr_text(const struct sockaddr_storage *ss, char *dst, size_t len);

/* Called by a stream when it is freed, to count it and resume paused
 * listeners. */
void eng_conn_closed(struct thr_ctx *tc, struct frontend *fe);

/* Returns non-zero when the engine is stopping (connections should close
 * after their current request). */
static inline int eng_stopping(const struct engine *e)
{
	return __atomic_load_n(&e->stop_mode, __ATOMIC_RELAXED) >= 0;
}

/* Once a reload retired a generation, a client connection (HTTP/1
 * keep-alive or HTTP/2) idle this long is closed (HTTP/2: GOAWAY): long
 * enough for a busy client's next request to have arrived, so that none
 * is refused, short enough for the generation to end soon. */
#define ENG_RETIRE_IDLE_MS 1000

/* Returns non-zero when the engine stops and closes idle keep-alive
 * connections at once (a stop, not a reload's retirement: see retiring). */
static inline int eng_closes_idle(const struct engine *e)
{
	/* acquire: <retiring> was written before <stop_mode> */
	return __atomic_load_n(&e->stop_mode, __ATOMIC_ACQUIRE) >= 0 &&
	       !__atomic_load_n(&e->retiring, __ATOMIC_RELAXED);
}

#endif /* SLUICE_ENGINE_CORE_CTX_H */

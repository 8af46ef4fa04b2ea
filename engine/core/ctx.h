/* ctx.h - the engine and its per-thread context: the types every room of
 * engine/ shares (core/, server/, client/ and the engine's life above them).
 *
 * Threading model: every client connection, its stream and the server
 * connection that stream uses live on one worker thread, the one whose
 * listener accepted the client. Only three things cross threads: the buffer
 * pool (its own lock), backend queues and server slots (the backend lock),
 * and tasklet wake-ups (the scheduler inboxes).
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
	struct eng_list h2fronts; /* HTTP/2 client connections on this thread */
	struct eng_list h2backs;  /* HTTP/2 server connections on this thread */
	unsigned nb_streams;
	char *trash;              /* scratch of bufsize bytes for head rewrites */
	struct h1_msg msg;        /* scratch parse result */
	struct task house;        /* stop handling, listener resume */
	int stopping;             /* this thread has applied the stop */
	struct pipe_cache pipes;  /* empty pipes for splicing (core/pipe.h) */
	struct eng_counters cnt;
	struct tlsmem_cnt tlsmem; /* OpenSSL's heap counted on this thread (core/tlsmem.h) */
} __attribute__((aligned(ENG_LINE)));

_Static_assert(sizeof(struct thr_ctx) % ENG_LINE == 0,
	       "thr_ctx must fill whole line pairs so that tcs[i + 1] starts a new one");

struct engine {
	struct cfg *cfg;
	struct pool *pool;
	struct sched *sched;
	struct thr_ctx *tcs;
	unsigned nbthread;
	struct frontend *fes;
	unsigned nb_fes;
	struct backend **bes;
	unsigned nb_bes;
	int *bind_fds;            /* [nbthread * nb_binds_total] bound before start */
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
	uint64_t start_ms;        /* sched_clock_ms() at sluice_start() */
	struct log_target *log;   /* access log, NULL when none */
	struct cli *cli;          /* the command socket (thread 0), NULL when none */
	struct stats_hist *hist;  /* the stats page's history (sampled on thread 0) */
	struct eng_host host;     /* the embedding program's hooks and services */
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

#endif /* SLUICE_ENGINE_CORE_CTX_H */

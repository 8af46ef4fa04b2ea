/* pipe.h - kernel pipes for splicing HTTP/1.1 bodies between sockets.
 *
 * Contract
 * --------
 * A pipe is memory too (up to 64 KiB of kernel pages while it holds data,
 * two descriptors always), so it is counted and capped like buffers, but
 * it is never waited for: pipe_get() either gives a pipe at once or fails,
 * and the caller then moves the body through pool buffers as it would
 * without splicing. A stream that could wait for a pipe while holding a
 * buffer would be one more way to hold one resource and wait for another.
 *
 * - The cap (`tune.pipes.limit`) counts every open pipe of the engine,
 *   cached or in use, on one shared counter (eng->pipes_open) touched only
 *   when a pipe is created or closed, not when it is taken from or put
 *   back into a thread's cache.
 * - Each worker thread keeps a small cache of empty pipes (struct
 *   pipe_cache in its thr_ctx); pipes are taken, used and put back on the
 *   same thread, so the cache needs no lock.
 * - A pipe holding data belongs to its stream until drained. pipe_put()
 *   closes a pipe that still holds data (an aborted transfer) instead of
 *   caching it: the next user would otherwise send someone else's bytes.
 * - Counters (per thread, SLUICE_COUNTERS in sluice.h): pipes_in_use,
 *   pipes_allocated (open: in use + cached), pipes_failed (a stream found
 *   no pipe and fell back to buffers), spliced_bytes (body bytes that
 *   went through pipes, counted on their way out).
 */
#ifndef SLUICE_ENGINE_CORE_PIPE_H
#define SLUICE_ENGINE_CORE_PIPE_H

#include <stddef.h>

/* Empty pipes a thread keeps for reuse; more are closed when put back. */
#define PIPE_CACHE_MAX 16

struct pipe_pair {
	int rd, wr;              /* the pipe's read and write ends, non-blocking */
	size_t data;             /* bytes in the pipe now */
	size_t size;             /* its capacity (F_GETPIPE_SZ) */
	struct pipe_pair *next;  /* in the thread's cache */
};

/* A thread's cache of empty pipes (a stack). */
struct pipe_cache {
	struct pipe_pair *head;
	unsigned count;
};

struct thr_ctx;

/* Prepares the calling worker thread for splicing: splice(2) has no
 * MSG_NOSIGNAL, and a peer that went away would raise SIGPIPE at the
 * writing thread, killing an embedding program that does not ignore it.
 * The signal is blocked in this thread only (the call then fails with
 * EPIPE, which the connection reports as an error). */
void pipe_thread_init(void);

/* Returns an empty pipe for the calling thread (its cache first, else a
 * new one within tune.pipes.limit), or NULL at once when none can be had
 * (limit reached, descriptors exhausted), counted in pipes_failed. */
struct pipe_pair *pipe_get(struct thr_ctx *tc);

/* Gives <p> back: cached when empty and the cache has room, else closed.
 * A pipe still holding data is always closed. NULL is accepted. */
void pipe_put(struct thr_ctx *tc, struct pipe_pair *p);

/* Closes every pipe of the thread's cache (thread stop). */
void pipe_cache_flush(struct thr_ctx *tc);

/* Returns the room left in <p>. */
static inline size_t pipe_room(const struct pipe_pair *p)
{
	return p->data < p->size ? p->size - p->data : 0;
}

#endif /* SLUICE_ENGINE_CORE_PIPE_H */

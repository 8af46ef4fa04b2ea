/* oworker.h - one origin worker thread: an epoll loop over its own
 * listening sockets (SO_REUSEPORT copies) and the connections it accepted.
 *
 * Everything a worker touches belongs to it alone; the only shared state is
 * the read-only configuration and the counters, which other threads read
 * with relaxed atomic loads (SIGUSR1 report).
 */
#ifndef SLUICE_ORIGIN_OWORKER_H
#define SLUICE_ORIGIN_OWORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define OWORKER_CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct oconn;

/* Settings shared read-only by every worker. */
struct oconfig {
	const char *name;   /* value of the X-Origin header */
	bool        quiet;  /* no warnings on stderr */
};

/* What an epoll registration points to; the kind says which struct embeds
 * it. */
enum oev_kind {
	OEV_LISTENER,
	OEV_WAKE,
	OEV_CONN,
	OEV_TIMER,
};

struct oev {
	enum oev_kind kind;
};

struct ostats {
	atomic_ulong requests;   /* request heads received */
	atomic_ulong accepted;   /* connections accepted */
	atomic_ulong open;       /* connections currently open */
};

struct olistener {
	struct oev ev;
	int        fd;
};

struct oworker {
	const struct oconfig *cfg;
	int                   epfd;
	int                   wakefd;      /* eventfd: written once to stop */
	struct oev            wake_ev;
	struct olistener     *listeners;
	size_t                nlisteners;
	struct oconn         *conns;       /* live connections */
	struct oconn         *ready;       /* yielded with work left */
	struct oconn         *dead;        /* closed, freed after the batch */
	struct ostats         stats;
	pthread_t             thread;
	bool                  started;
};

/* Prepares <w> over the listening sockets <fds> (taken over: closed by
 * oworker_destroy even on failure). Returns 0, or -1 with errno set. */
int oworker_init(struct oworker *w, const struct oconfig *cfg, const int *fds, size_t nfds);

/* Starts the worker's thread. Returns 0 or an error number. */
int oworker_start(struct oworker *w);

/* Asks a started worker to stop and waits for its thread to end. */
void oworker_stop(struct oworker *w);

/* Closes every connection and socket of a stopped (or never started)
 * worker and frees its memory. */
void oworker_destroy(struct oworker *w);

/* Queues <c> to run again after the current batch of events: it stopped
 * with work left to leave other connections their turn. */
void oworker_set_ready(struct oworker *w, struct oconn *c);

/* Unlinks the released connection <c> and frees it after the batch. */
void oworker_conn_closed(struct oworker *w, struct oconn *c);

#endif

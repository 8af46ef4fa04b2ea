/* backend.h - servers, load balancing, server slots and queues.
 *
 * A server accepts at most <maxconn> streams at once (0 = no limit). A
 * stream asks its backend for a slot with be_assign(): it gets a server, or
 * it is queued (on the server's own queue when it is pinned to a server, on
 * the backend's queue otherwise). A queue may be bounded (`maxqueue`, on the
 * server and on the backend; 0 = no limit), because a queued stream keeps
 * its request buffer: a stream that finds its server's queue full goes to
 * the other servers instead, and one that finds the backend's queue full is
 * turned away (BE_FULL) unless a server has a free slot right then. When a stream gives its slot back, the
 * slot goes straight to the first queued entry (server queue first, then
 * backend queue), exactly like a released buffer goes to a waiter: the
 * entry is marked SERVED and notified under the lock, so a slot is never
 * lost and an entry that cancels learns whether it must give one back.
 *
 * Everything here is shared by all threads and guarded by the backend's
 * spinlock, held for a few pointer writes. Idle server connections are
 * kept per thread and touched only by their thread.
 *
 * Servers added and removed at run time (be_server_add / be_server_del,
 * from the command socket or the host's C API, on any thread): a backend
 * holds an array of server pointers made once with room for BE_SRV_ADDED
 * more servers than configured, so a pointer a stream, a queue entry, an
 * idle connection or a stats snapshot holds never moves. A new server is
 * filled in completely, then published by storing it in the array and
 * then the count with release order (be_nb_srv() reads it with acquire);
 * the pickers read both under the lock. A removed server is only marked
 * gone: it is never chosen, found or shown again, and its memory stays
 * until the engine is freed, so nothing that still points at it can ever
 * read freed memory, with no grace period to wait for. The price is that
 * a backend's slots are not reused: BE_SRV_ADDED additions over its life.
 */
#ifndef SLUICE_ENGINE_BACKEND_H
#define SLUICE_ENGINE_BACKEND_H

#include <pthread.h>
#include <stdint.h>
#include "engine/core/cfg.h"
#include "engine/core/list.h"

struct check;
struct conn;
struct server;
struct qent;

/* Called under the backend lock right after <q> was given a slot: it must
 * only post a wake-up to the owner's thread. */
typedef void (*qent_notify_fn)(struct qent *q);

enum qent_state { QE_IDLE = 0, QE_QUEUED, QE_SERVED };

struct qent {
	struct qent *next, *prev;
	qent_notify_fn notify;
	void *ctx;
	struct backend *be;     /* the backend it queues on (set by be_assign) */
	struct server *qsrv;    /* the server queue it sits on, or NULL */
	struct server *srv;     /* the server whose slot was handed over */
	uint64_t since_ms;
	int state;              /* enum qent_state, under the lock */
};

struct squeue {
	struct qent *first, *last;
	unsigned len;
};

/* Idle keep-alive connections of one server on one thread. */
struct srv_idle {
	struct eng_list list;   /* of struct conn, by idle_link (server/srvconn.c) */
	unsigned count;
} __attribute__((aligned(64)));

struct server {
	const struct cfg_server *cfg;
	struct backend *be;
	unsigned maxconn;       /* 0 = unlimited */
	unsigned maxqueue;      /* entries its own queue may hold, 0 = unlimited */
	unsigned weight;        /* under the lock: what balancing uses (uweight, or 1) */
	unsigned uweight;       /* under the lock: the weight set by the configuration
	                         * or the command socket; 0: no new streams */
	int admin;              /* atomic enum srv_admin: set from the command socket */
	unsigned cur;           /* slots in use, under the lock */
	int swrr;               /* smooth weighted round robin state, under the lock */
	int down;               /* atomic: no new streams (disabled; checks later) */
	struct squeue queue;
	struct srv_idle *idle;  /* [nbthread] */
	uint64_t total;         /* atomic: streams assigned */
	uint64_t failures;      /* atomic: connection failures */
	uint64_t queue_full;    /* atomic: streams sent elsewhere, its queue being full */
	struct check *check;    /* atomic: its health check (check_start), or NULL */
	int gone;               /* atomic: removed (be_server_del): never chosen, found
	                         * or shown again; the memory stays until be_free() */
	struct cfg_server *own_cfg; /* an added server's settings (cfg points here), or NULL */
};

/* Servers a backend may gain at run time over its life (see above). */
#define BE_SRV_ADDED 1024

/* Administrative state of a server, set from the command socket. Drain and
 * maintenance both stop new streams at once and let the streams that hold
 * its slots finish; checks go on in both (so the server's health is known
 * when it comes back). */
enum srv_admin {
	SRV_ADMIN_READY = 0,
	SRV_ADMIN_DRAIN,
	SRV_ADMIN_MAINT,
};

struct backend {
	const struct cfg_backend *cfg;
	pthread_spinlock_t lock;
	struct server **srv;    /* [nb_srv] of cap_srv, configured ones first */
	unsigned nb_srv;        /* written under the lock with release order */
	unsigned cap_srv;
	struct squeue queue;
	unsigned nbthread;
	unsigned lc_next;       /* leastconn: where the next scan starts, under the lock */
	uint64_t queue_full;    /* atomic: streams turned away (BE_FULL) */
};

/* What be_assign() did with a stream. */
enum be_assign_res {
	BE_ASSIGNED = 0,        /* it holds a slot of q->srv */
	BE_QUEUED = 1,          /* it waits on a queue; its notify fires once served */
	BE_NOSRV = -1,          /* no server is usable at all (all down, disabled or weight 0) */
	BE_FULL = -2,           /* servers are usable but all busy, and the queue it
	                         * would wait on is full (`maxqueue`): nothing held,
	                         * q is IDLE; the caller answers 503 */
};

/* Returns how many servers <be> has published (removed ones included), for
 * readers outside the lock: entries below it are complete. */
static inline unsigned be_nb_srv(const struct backend *be)
{
	return __atomic_load_n(&be->nb_srv, __ATOMIC_ACQUIRE);
}

/* Returns non-zero when <srv> was removed. */
static inline int be_server_gone(const struct server *srv)
{
	return __atomic_load_n(&srv->gone, __ATOMIC_ACQUIRE);
}

/* Why be_server_add() or be_server_del() refused. */
enum be_srv_err {
	BE_SRV_OK = 0,
	BE_SRV_EXISTS = -1,     /* add: a server of that name is there */
	BE_SRV_NOROOM = -2,     /* add: BE_SRV_ADDED servers were added already */
	BE_SRV_NOMEM = -3,      /* add: out of memory */
	BE_SRV_BADADDR = -4,    /* add: not ADDR:PORT (IPv4, or IPv6 in brackets) */
	BE_SRV_NOTMAINT = -5,   /* del: put it in maintenance first */
	BE_SRV_BUSY = -6,       /* del: streams hold or wait for its slots */
	BE_SRV_CHECKED = -7,    /* del: it has a health check running */
	BE_SRV_BADARG = -8,     /* add: weight above 256 or a bad name */
};

/* Returns the message of <err> (a static string). */
const char *be_srv_strerror(int err);

/* Adds server <name> at <addr> ("IPv4:PORT" or "[IPv6]:PORT") to <be>,
 * with <weight> (0..256) and <maxconn> (0: none), in administrative state
 * <admin> (the command socket adds in maintenance, as HAProxy does), plain
 * HTTP/1 without checks. Any thread. Returns BE_SRV_OK or an enum
 * be_srv_err. */
enum be_srv_err be_server_add(struct backend *be, const char *name, const char *addr, unsigned weight,
                  unsigned maxconn, enum srv_admin admin);

/* Returns the backend named <name> among bes[0..n), or NULL. */
struct backend *be_by_name(struct backend *const *bes, unsigned n, const char *name);

/* Removes <srv>, which must be in maintenance with no stream holding or
 * waiting for its slots and no health check, as HAProxy requires. Any
 * thread. Returns BE_SRV_OK or an enum be_srv_err. Its idle connections
 * are left to close on their own threads' usual paths. */
enum be_srv_err be_server_del(struct server *srv);

/* Sets the administrative state of <srv> (any thread). Back to ready, its
 * free slots go at once to the streams queued for its backend. */
void be_server_set_admin(struct server *srv, enum srv_admin a);

/* Sets the weight of <srv> (any thread); 0 stops new streams like a drain.
 * Effective for the next pick. */
void be_server_set_weight(struct server *srv, unsigned w);

/* Returns the server <name> of <be> (never a removed one), or NULL. */
struct server *be_find_server(struct backend *be, const char *name);

/* Builds the run-time backend for <cfg>. Returns NULL on allocation failure. */
struct backend *be_new(const struct cfg_backend *cfg, unsigned nbthread);

/* Frees <be>. Idle connections must have been closed by their threads. */
void be_free(struct backend *be);

/* Sets up a queue entry owned by <ctx>, notified through <notify>. */
void qent_init(struct qent *q, qent_notify_fn notify, void *ctx);

/* Asks for a slot. <pinned> (may be NULL) restricts the choice to one
 * server while its queue has room (past its `maxqueue` the stream is
 * treated as unpinned, avoiding it); <avoid> (may be NULL) is skipped when
 * another server can take the stream. Streams do not pass the ones queued
 * before them, except to take a free slot when the queue is full. Returns
 * BE_ASSIGNED with q->srv set (a slot is now held), BE_QUEUED (q waits; its
 * notify will fire once served), BE_NOSRV when no server is usable at all,
 * or BE_FULL when the backend's queue is at its `maxqueue` and no server
 * has a free slot (nothing held). <now_ms> stamps the queue time. */
enum be_assign_res be_assign(struct backend *be, struct qent *q, struct server *pinned,
	      struct server *avoid, uint64_t now_ms);

/* Gives a slot of <srv> back: handed to the next queued entry if any. */
void be_release_slot(struct server *srv);

/* Tells the backend that <srv> came back UP: hands its free slots to the
 * streams queued on it and on its backend, as releases would. */
void be_server_up(struct server *srv);

/* Leaves the queue. Returns 0 if <q> was queued or idle (nothing held), or
 * 1 if it had been served meanwhile: q->srv's slot is then the caller's to
 * use or give back. <q> is IDLE afterwards and no notify is in flight. */
int qent_cancel(struct qent *q);

/* Takes a served entry's slot: returns the server and sets <q> IDLE, or
 * NULL if it was not served. Owner side. */
struct server *qent_take(struct qent *q);

/* Returns the number of entries queued on <be> and its servers. */
unsigned be_queued(struct backend *be);

#endif /* SLUICE_ENGINE_BACKEND_H */

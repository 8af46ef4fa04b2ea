/* check.h - health checks of servers.
 *
 * Contract
 * --------
 * A server with `check` gets one check: a task on one worker thread (the
 * engine picks it, e.g. the server's index modulo nbthread) that every
 * `inter` ms connects to the server without blocking and, with
 * `option httpchk`, sends "METHOD URI HTTP/1.0" and reads the status line.
 * Without httpchk a check passes once the TCP connection is established.
 * For a `proto h2` server the HTTP check is the HTTP/2 handshake instead:
 * it sends the connection preface and an empty SETTINGS frame and passes
 * when the server's first frame is a SETTINGS frame (the method, URI and
 * expected status are not used: no HTTP/2 request is made).
 * With httpchk it passes on the status `http-check expect status` names, or
 * on any 2xx/3xx when none is named.
 *
 * One check may last `timeout check` (the server's `inter` when unset),
 * connection included; past that it fails.
 *
 * Buffers: the request is written into a pool buffer taken at
 * POOL_CRIT_REQUEST (which never reaches the reserve) only once the
 * connection is up, and given back as soon as the request is sent; the
 * status line is read into a 64-byte array of the check, never a pool
 * buffer. When the pool refuses, the check subscribes its one wait entry
 * and sleeps with its timeout still armed: a hand-off resumes it. A
 * timeout that finds it still waiting cancels the wait (passing on a
 * buffer handed over meanwhile) and defers the check to the next interval:
 * a check that could not send its request learnt nothing about the server,
 * so it counts neither as passed nor as failed (`deferred` counts it), and
 * a shortage of buffers never turns a healthy server DOWN.
 *
 * State: a server starts UP. After `fall` failed checks in a row it goes
 * DOWN, after `rise` passed checks in a row it comes back UP. A change
 * stores server->down atomically (load balancing skips a down server at
 * once), calls be_server_up() when it comes back (queued streams get its
 * slots), and writes one line to stderr:
 *   sluice: server BACKEND/SERVER is DOWN (REASON), N active servers left
 *   sluice: server BACKEND/SERVER is UP (REASON), N active servers online
 * Servers marked `disabled` are not checked (they stay in maintenance).
 *
 * Threading: check_start() and check_stop() run on the check's own thread;
 * check_read() may run on any thread at any time; check_free() runs once
 * every worker thread has ended.
 */
#ifndef SLUICE_ENGINE_CHECK_H
#define SLUICE_ENGINE_CHECK_H

#include <stdint.h>

struct check;
struct pool;
struct server;
struct thr_ctx;

/* What the last check found (check_stats.last_reason). */
enum check_reason {
	CHK_R_NONE = 0,       /* no check finished yet */
	CHK_R_L4_OK,          /* TCP connection established */
	CHK_R_L7_OK,          /* expected status received */
	CHK_R_L4_CONN,        /* connection refused or failed (last_errno) */
	CHK_R_L4_TIMEOUT,     /* no connection before the timeout */
	CHK_R_L7_TIMEOUT,     /* no status line before the timeout */
	CHK_R_L7_STATUS,      /* unexpected status (last_status) */
	CHK_R_L7_RSP,         /* not an HTTP status line */
	CHK_R_L7_CLOSED,      /* the server closed before a status line */
	CHK_R_SOCKET,         /* send or receive failed (last_errno) */
	CHK_R_INTERNAL,       /* request larger than a buffer, no socket... */
	CHK_R_L6_RSP,         /* TLS handshake or verification failed (last_errno:
	                       * EPERM for verification) */
	CHK_R_COUNT
};

/* A consistent-enough copy of a check's counters (each exact; not all
 * taken at one instant). */
struct check_stats {
	uint64_t ok, failed;        /* checks passed / failed */
	uint64_t buf_waits;         /* times a check waited for a buffer */
	uint64_t deferred;          /* checks put off: still waiting for a buffer
	                             * at their deadline, neither passed nor failed */
	uint64_t buf_timeouts;      /* the same count as <deferred>, under the name
	                             * the stats page reads */
	uint64_t bufs_taken;        /* buffers obtained (allocated or handed over) */
	uint64_t bufs_released;     /* buffers given back: == taken when at rest */
	uint64_t changes;           /* UP/DOWN transitions */
	uint64_t last_change_ms;    /* sched_clock_ms() of the last transition, or of the start */
	int up;                     /* 1 UP, 0 DOWN */
	int running;                /* a check is in progress */
	int last_reason;            /* enum check_reason */
	int last_status;            /* status of the last HTTP answer, 0 none */
	int last_errno;             /* errno of the last L4/socket failure, 0 none */
	uint32_t last_duration_ms;  /* how long the last finished check took */
	unsigned consecutive;       /* results in a row against the state: failures while UP, passes while DOWN */
};

/* Creates and starts the check of <srv> on the calling worker thread
 * <tc>, taking buffers from <pool>, and stores it in srv->check. The
 * first check runs within one interval (spread by the server's position
 * in its backend). Returns 0, 0 without a check when <srv> has no `check`
 * or is disabled, or -1 with errno set (ENOMEM). */
int check_start(struct thr_ctx *tc, struct server *srv, struct pool *pool);

/* Stops <c> on its thread: closes its connection, gives back its buffer,
 * cancels its buffer wait and kills its task. Its counters stay readable
 * until check_free(). NULL is accepted. */
void check_stop(struct check *c);

/* Frees a stopped check once no worker thread runs. NULL is accepted. */
void check_free(struct check *c);

/* Copies the counters of <c> (any thread). */
void check_read(const struct check *c, struct check_stats *out);

/* Returns a short text for <reason>, e.g. "Layer4 connection problem". */
const char *check_reason_str(int reason);

#endif /* SLUICE_ENGINE_CHECK_H */

/* statspage.h - the stats page: a snapshot and three renderers.
 *
 * Contract
 * --------
 * statspage_collect() takes a snapshot of an engine (counters, frontends,
 * backends, servers with their check state, threads, the pool) into one
 * malloc'ed block; nothing in it points into a pool buffer, and names point
 * into the engine's configuration, so a snapshot lives as long as the
 * engine at most. The renderers only read a snapshot: they are pure, never
 * allocate, and may be used on snapshots built by hand (tests).
 *
 * Three formats: a self-contained HTML page (no script, optional meta
 * refresh), one JSON object, and the Prometheus text exposition format
 * (version 0.0.4).
 *
 * Output of any size goes out in pieces: statspage_render() fills the
 * caller's <room> bytes from a cursor and moves the cursor on. The output
 * is a sequence of items (a metric line, a table row, a JSON member); each
 * call writes whole items while they fit, so a 16 KiB buffer gets whole
 * rows. An item larger than the whole room is split across calls (the
 * cursor keeps the offset inside it), so any room > 0 makes progress. The
 * bytes produced are the same whatever the sizes of the pieces.
 *
 * JSON: the top level holds the same flat members as sluice_stats_json()
 * (so readers of that stay valid), plus "version", "uptime_ms", "pool"
 * (every pool counter, with "waiting_by_crit"), "frontends", "backends"
 * (each with its "servers") and "threads".
 *
 * Prometheus: every family has one HELP and one TYPE line and its samples
 * right after them; names start with sluice_, carry their unit (_bytes,
 * _seconds) and end in _total for counters. Labels: frontend, backend,
 * server, thread, crit (pool criticality), class (response status class),
 * kind (timeout kind), version (sluice_build_info).
 */
#ifndef SLUICE_ENGINE_STATSPAGE_H
#define SLUICE_ENGINE_STATSPAGE_H

#include <stddef.h>
#include <stdint.h>
#include "engine/sluice.h"
#include "pool/pool.h"

struct engine;

enum statspage_fmt {
	STATSPAGE_HTML = 0,
	STATSPAGE_JSON,
	STATSPAGE_PROM,
};

enum statspage_srv_state {
	STATSPAGE_UP = 0,
	STATSPAGE_DOWN,
	STATSPAGE_MAINT, /* `disabled` in the configuration */
};

/* Every number is a uint64_t so the renderers can describe fields by
 * offset; flags and enums come after them. */
struct statspage_server {
	const char *name;
	uint64_t cur;               /* streams holding a slot */
	uint64_t total;             /* streams ever assigned */
	uint64_t queue;             /* streams queued on this server */
	uint64_t failures;          /* connection failures */
	uint64_t weight, maxconn;   /* maxconn 0: no limit */
	uint64_t up;                /* 1 when in load balancing */
	uint64_t chk_ok, chk_failed;
	uint64_t chk_buf_waits, chk_buf_timeouts;
	uint64_t chk_bufs_taken, chk_bufs_released;
	uint64_t chk_changes;       /* UP/DOWN transitions */
	uint64_t last_change_s;     /* seconds since the last transition (or the start) */
	uint64_t chk_duration_ms;   /* of the last finished check */
	uint64_t chk_last_status;   /* HTTP status of the last check, 0 none */
	const char *chk_reason;     /* text of the last check's result, NULL when unchecked */
	char addr[64];              /* "127.0.0.1:8081", "[::1]:8081" */
	enum statspage_srv_state state;
	int checked;                /* health checks run on it */
};

struct statspage_backend {
	const char *name;
	uint64_t cur, total, queue, failures; /* queue: backend queue + its servers' */
	uint64_t servers, active;   /* configured servers, servers UP */
	unsigned first_srv;         /* its servers: srv[first_srv .. first_srv + servers) */
	int balance_lc;             /* leastconn (else round robin) */
};

struct statspage_frontend {
	const char *name;
	uint64_t conn_cur, maxconn, binds;
};

struct statspage_thread {
	/* scheduler */
	uint64_t loops, tasks_run, tasklets_run, timers_fired;
	uint64_t remote_wakeups, kicks, polls, io_events;
	/* this thread's share of the pool */
	uint64_t pool_allocs, pool_releases, pool_failed, pool_cached;
	/* engine */
	uint64_t conn_accepted, streams, stream_calls, io_calls, buf_waits;
};

struct statspage_data {
	struct sluice_stats st;     /* the engine-wide snapshot */
	struct pool_stats pool;     /* the whole pool, with what st leaves out */
	const char *version;
	uint64_t uptime_ms;
	uint64_t refresh_s;         /* HTML meta refresh, 0: none */
	struct statspage_frontend *fe;
	struct statspage_backend *be;
	struct statspage_server *srv;
	struct statspage_thread *thr;
	unsigned nb_fe, nb_be, nb_srv, nb_thr;
};

/* Where rendering stands. Zero it before the first call. */
struct statspage_cursor {
	unsigned sec, row;  /* next item */
	size_t off;         /* bytes of that item already written */
	int done;           /* set once the last byte was written */
};

/* Renders the next bytes of <d> in format <fmt> into dst[0..room) from
 * <cur>, advancing it. Returns the number of bytes written (no NUL): 0
 * only when room is 0 or the output is complete (cur->done). */
size_t statspage_render(enum statspage_fmt fmt, const struct statspage_data *d,
			struct statspage_cursor *cur, char *dst, size_t room);

/* Returns the Content-Type of format <fmt>. */
const char *statspage_content_type(enum statspage_fmt fmt);

/* Picks a format from the query string <q> (<len> bytes after the stats
 * URI's path, '?' or ';' included or not): "json" or "format=json" gives
 * JSON, "prom", "metrics" or "format=prometheus" gives Prometheus, "html"
 * gives HTML; anything else (or nothing) gives <dflt>. */
enum statspage_fmt statspage_fmt_parse(const char *q, size_t len, enum statspage_fmt dflt);

/* Takes a snapshot of engine <e> (any thread, while it runs or after it
 * stopped). <refresh_s> goes into the HTML page. Returns NULL without
 * memory. */
struct statspage_data *statspage_collect(const struct engine *e, unsigned refresh_s);

/* Frees a snapshot from statspage_collect(). NULL is accepted. */
void statspage_free(struct statspage_data *d);

#endif /* SLUICE_ENGINE_STATSPAGE_H */

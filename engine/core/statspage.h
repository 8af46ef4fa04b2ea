/* statspage.h - the stats page: the snapshot it shows, and three renderers.
 *
 * Contract
 * --------
 * Two modules meet here. engine/client/stats.c (stats.h) takes a
 * snapshot of an engine (statspage_collect(): counters, frontends,
 * backends, servers with their check state, threads, the pool) into one
 * malloc'ed block of plain structs; it is the only part of the stats page
 * that reads the engine. engine/core/statspage.c renders a snapshot and
 * reads nothing else: it does not include core/ctx.h, so the page's layout cannot come to depend on the
 * engine's private structures. Nothing in a snapshot points into a pool
 * buffer, and names point into the engine's configuration, so a snapshot
 * lives as long as the engine at most. The renderers are pure, never
 * allocate, and may be used on snapshots built by hand (tests).
 *
 * The figures are lists written once (X-macros): SLUICE_COUNTERS and its
 * siblings in sluice.h for the engine-wide figures, SP_THREAD_FIELDS and
 * SP_SERVER_FIELDS below for the rows; the structs, the collecting code
 * and the three formats are generated from them.
 *
 * Formats: a self-contained HTML page (no script, optional meta refresh,
 * inline SVG charts), one JSON object, HAProxy's CSV, and the Prometheus
 * figures in two exposition formats from one renderer: text 0.0.4, and
 * OpenMetrics 1.0.0 (counter families named without _total in HELP and
 * TYPE, their samples with it, and "# EOF" at the end).
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
 * (every pool counter, with "waiting_by_crit"), "rates" (per second over
 * the last 1 s and 10 s for every counter among the flat members, null
 * while the history is shorter, and "window_ms": each window's real
 * width), "frontends", "backends" (each with its "servers") and "threads".
 *
 * HTML: every counter row has its rates over the last 1 s and 10 s; the
 * charts (inline SVG, no script, font or image from elsewhere) draw the
 * snapshot's points; with <admin>, each backend is a form that posts
 * HAProxy's fields (s, action, b) to <uri>.
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
	STATSPAGE_CSV,   /* HAProxy's `;csv` columns, in its order */
	STATSPAGE_OPENMETRICS, /* the Prometheus figures as OpenMetrics 1.0.0 */
};

enum statspage_srv_state {
	STATSPAGE_UP = 0,
	STATSPAGE_DOWN,
	STATSPAGE_MAINT, /* `disabled` in the configuration, or maintenance set
	                  * from the command socket */
	STATSPAGE_DRAIN, /* draining (command socket): no new streams */
};

/* Unit of a figure in Prometheus, which wants seconds. */
enum statspage_unit { SP_RAW, SP_MS_TO_S, SP_NS_TO_S };

/* The numbers of a server row, written once: the struct, the JSON members
 * and the Prometheus families (labels backend and server) come from here.
 * The HTML row is laid out by hand (state colours, "-" for an unchecked
 * server) but reads the same fields.
 *
 * X(field, json key, type, prom, unit, help)
 *   type  counter or gauge; unit: how Prometheus shows it (SP_RAW...) */
#define SP_SERVER_FIELDS(X) \
	X(cur, "cur", gauge, "sluice_server_sessions_current", SP_RAW, "Streams holding a slot of the server.") \
	X(total, "total", counter, "sluice_server_sessions_total", SP_RAW, "Streams assigned to the server.") \
	X(queue, "queue", gauge, "sluice_server_queue_current", SP_RAW, "Streams queued on the server.") \
	X(failures, "failures", counter, "sluice_server_connection_failures_total", SP_RAW, "Failed connections to the server.") \
	X(weight, "weight", gauge, "sluice_server_weight", SP_RAW, "Load-balancing weight.") \
	X(maxconn, "maxconn", gauge, "sluice_server_maxconn", SP_RAW, "Slot limit of the server (0: none).") \
	X(up, "up", gauge, "sluice_server_up", SP_RAW, "1 when the server takes traffic.") \
	X(chk_ok, "checks_ok", counter, "sluice_server_checks_passed_total", SP_RAW, "Health checks passed.") \
	X(chk_failed, "checks_failed", counter, "sluice_server_checks_failed_total", SP_RAW, "Health checks failed.") \
	X(chk_buf_waits, "check_buf_waits", counter, "sluice_server_check_buffer_waits_total", SP_RAW, "Times a health check waited for a buffer.") \
	X(chk_buf_timeouts, "check_buf_timeouts", counter, "sluice_server_check_buffer_timeouts_total", SP_RAW, "Health checks that timed out waiting for a buffer.") \
	X(chk_bufs_taken, "check_bufs_taken", counter, "sluice_server_check_buffers_taken_total", SP_RAW, "Buffers taken by health checks.") \
	X(chk_bufs_released, "check_bufs_released", counter, "sluice_server_check_buffers_released_total", SP_RAW, "Buffers given back by health checks.") \
	X(chk_changes, "state_changes", counter, "sluice_server_state_changes_total", SP_RAW, "UP/DOWN transitions.") \
	X(last_change_s, "last_change_s", gauge, "sluice_server_last_change_seconds", SP_RAW, "Time since the last UP/DOWN transition.") \
	X(chk_duration_ms, "check_duration_ms", gauge, "sluice_server_check_duration_seconds", SP_MS_TO_S, "Duration of the last health check.") \
	X(chk_last_status, "check_status", gauge, "sluice_server_check_status", SP_RAW, "HTTP status of the last health check (0: none).")

/* The numbers of a thread row, written once: the struct, what stats.c
 * copies into it, the JSON members, the Prometheus families (label thread)
 * and the HTML columns come from here.
 *
 * X(field, src, src field, type, prom, help, head)
 *   src   SCHED: struct sched_stats of the thread; POOL: the thread's
 *         struct pool_stats; ENG: the thread's engine counter
 *   prom  NULL: not exported to Prometheus */
#define SP_THREAD_FIELDS(X) \
	X(loops, SCHED, loops, counter, "sluice_sched_loops_total", "Scheduler loop iterations.", "Loops") \
	X(tasks_run, SCHED, tasks_run, counter, "sluice_sched_tasks_run_total", "Task callbacks run.", "Tasks run") \
	X(tasklets_run, SCHED, tasklets_run, counter, "sluice_sched_tasklets_run_total", "Tasklet callbacks run (tasks excluded).", "Tasklets run") \
	X(timers_fired, SCHED, timers_fired, counter, "sluice_sched_timers_fired_total", "Timers that expired.", "Timers fired") \
	X(remote_wakeups, SCHED, remote_wakeups, counter, "sluice_sched_remote_wakeups_total", "Wake-ups posted from another thread.", "Remote wake-ups") \
	X(kicks, SCHED, kicks, counter, "sluice_sched_kicks_total", "Event-fd kicks sent to the thread.", "Kicks") \
	X(polls, SCHED, polls, counter, "sluice_sched_polls_total", "epoll_wait returns (interrupted calls excluded).", "Polls") \
	X(io_events, SCHED, io_events, counter, "sluice_sched_io_events_total", "Events returned by epoll_wait.", "I/O events") \
	X(pool_allocs, POOL, allocs, counter, "sluice_thread_pool_allocations_total", "Buffer allocations made by the thread.", "Pool allocs") \
	X(pool_releases, POOL, releases, counter, "sluice_thread_pool_releases_total", "Buffers given back by the thread.", "Pool releases") \
	X(pool_failed, POOL, failed, counter, "sluice_thread_pool_allocation_failures_total", "Buffer allocations refused to the thread.", "Pool failures") \
	X(pool_cached, POOL, cached, gauge, "sluice_thread_pool_buffers_cached", "Free buffers in the thread's cache.", "Cached buffers") \
	X(conn_accepted, ENG, conn_accepted, counter, "sluice_thread_connections_accepted_total", "Client connections accepted by the thread.", "Accepted") \
	X(streams, ENG, streams, counter, "sluice_thread_streams_total", "Transactions started on the thread.", "Streams") \
	X(stream_calls, ENG, stream_calls, counter, "sluice_thread_stream_calls_total", "Stream processing calls on the thread.", "Stream calls") \
	X(io_calls, ENG, io_calls, counter, NULL, "Connection I/O callbacks on the thread.", "I/O calls") \
	X(buf_waits, ENG, buf_waits, counter, "sluice_thread_buffer_waits_total", "Stream pauses for a buffer on the thread.", "Buffer waits")

/* Declares the uint64_t of a row list's line. */
#define SP_U64_FIELD(f, ...) uint64_t f;

/* Every number is a uint64_t so the renderers can describe fields by
 * offset; flags and enums come after them. */
struct statspage_server {
	const char *name;
	SP_SERVER_FIELDS(SP_U64_FIELD)
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
	SP_THREAD_FIELDS(SP_U64_FIELD)
};

/* The history behind the rates and the charts. The engine keeps it
 * (client/statshist.h: one sample per second, memory allocated once at
 * start); a snapshot carries a copy, so rendering reads nothing else. */

/* Every engine-wide figure at one instant, for the rate columns. */
struct statspage_sample {
	uint64_t t_ms;              /* sched_clock_ms() when it was taken */
	struct sluice_stats st;
	struct pool_stats pool;
};

/* The windows of the rate columns: the newest sample against the one
 * about 1 s and about 10 s before it (rate[SP_RATE_1S], rate[SP_RATE_10S]). */
enum { SP_RATE_NOW = 0, SP_RATE_1S, SP_RATE_10S, SP_RATE_COUNT };

/* One point of the charts: the pool's figures at t_ms. The counters are
 * cumulative; the charts draw their per-second differences. */
struct statspage_point {
	uint64_t t_ms;
	uint64_t in_use, allocated;             /* gauges */
	uint64_t waiting[POOL_CRIT_COUNT];      /* gauges */
	uint64_t handoffs, failed;              /* counters */
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
	/* rates: rate[SP_RATE_NOW] is the newest sample, the others older
	 * ones (the same when history is short); a window exists when its
	 * sample is older than the newest. nb_rate: samples filled (0: no
	 * history, the rate cells show "-") */
	struct statspage_sample rate[SP_RATE_COUNT];
	unsigned nb_rate;
	/* charts (HTML only): points oldest first, NULL when not copied;
	 * owned by the snapshot (statspage_free() frees them) */
	struct statspage_point *pts;
	unsigned nb_pts;
	uint64_t hist_span_ms;      /* time the full history covers (the
	                             * charts' widest window) */
	/* `stats admin`: the HTML page shows a form per backend that posts
	 * to <uri>; admin_result: what the last POST did ("DONE", ...), NULL */
	int admin;
	const char *uri;
	const char *admin_result;
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

/* Accept header weights of the two Prometheus exposition formats, in
 * thousandths (q=1 is 1000); -1: not listed. */
struct statspage_accept {
	int q_om;    /* application/openmetrics-text, version 1.0.0 or none */
	int q_text;  /* text/plain, text/ * or * / * */
};

/* Reads one Accept header value v[0..len) into <acc>, keeping the highest
 * weight seen for each format (call it for every Accept header, <acc>
 * starting at { -1, -1 }). */
void statspage_accept_scan(const char *v, size_t len, struct statspage_accept *acc);

/* Returns the Content-Type of format <fmt>. */
const char *statspage_content_type(enum statspage_fmt fmt);

/* Picks a format from the query string <q> (<len> bytes after the stats
 * URI's path, '?' or ';' included or not): "json" or "format=json" gives
 * JSON, "prom", "metrics" or "format=prometheus" gives Prometheus, "html"
 * gives HTML; anything else (or nothing) gives <dflt>. */
enum statspage_fmt statspage_fmt_parse(const char *q, size_t len, enum statspage_fmt dflt);


/* Writes the flat members of <s> as one JSON object and a newline into
 * <dst> (at most <room> bytes, NUL-terminated when room > 0): the body of
 * sluice_stats_json(), from the same key table as the page's JSON.
 * Returns the length it needed (like snprintf). */
int statspage_json_flat(const struct sluice_stats *s, char *dst, size_t room);

#endif /* SLUICE_ENGINE_STATSPAGE_H */

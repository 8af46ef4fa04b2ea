/* sluice.h - the public API of libsluice, the Sluice proxy engine.
 *
 * An engine is built from a configuration (a file, a text, or the built-in
 * default), started on its own worker threads, stopped gracefully or at
 * once, and observed through a snapshot of its counters. Nothing here is
 * tied to a process: several engines may live side by side, and the
 * embedding program keeps its own signal handling and main loop.
 *
 * The host API below (request hook, completion hook, services) lets the
 * program take part in each request, on the engine's own worker threads.
 *
 * Thread safety: every function of the engine's life may be called from
 * any thread that is not one of the engine's workers, except sluice_stats()
 * and sluice_reload() which any thread may call at any time. The
 * sluice_req_* and sluice_svc_* functions are called only from inside the
 * callbacks that received their object, on that worker thread (see "The
 * host API" below).
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

/* Marks the functions the shared library exports: it is built with
 * -fvisibility=hidden, so that only sluice_* symbols are part of its ABI. */
#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct sluice;

/* Returns the version string, e.g. "0.1.0". */
SLUICE_API const char *sluice_version(void);

/* Returns the built-in default configuration text. */
SLUICE_API const char *sluice_default_config(void);

/* Creates an engine from the config file <path>, or from <text> named
 * <name> in messages. Returns NULL and sets *err to a malloc'ed message
 * ("file:line: 'keyword' what is wrong") on error; the caller frees it. */
SLUICE_API struct sluice *sluice_new_from_file(const char *path, char **err);
SLUICE_API struct sluice *sluice_new_from_text(const char *text, const char *name, char **err);

/* Returns the configuration warnings (one per line) or NULL. */
SLUICE_API const char *sluice_warnings(const struct sluice *e);

/* Sets the debug level: 0 quiet, 1 events (connections, errors) to stderr. */
SLUICE_API void sluice_set_debug(struct sluice *e, int level);

/* Binds every listener and starts the worker threads. Returns 0, or -1
 * with *err set (malloc'ed) and nothing left running. */
SLUICE_API int sluice_start(struct sluice *e, char **err);

/* Stop modes for sluice_stop(). */
enum sluice_stop_mode {
	SLUICE_STOP_GRACEFUL = 0, /* stop accepting, finish in-flight requests within the grace period */
	SLUICE_STOP_SOFT     = 1, /* stop accepting, finish in-flight requests however long it takes */
	SLUICE_STOP_NOW      = 2, /* close everything at once */
};

/* Asks a started engine to stop. Returns at once; it is safe to call it
 * several times (a later, harder mode wins). Not async-signal-safe: call it
 * from a normal thread (the sluice binary uses sigwait()). */
SLUICE_API void sluice_stop(struct sluice *e, enum sluice_stop_mode mode);

/* Waits until the worker threads have ended. Returns 0 on a clean stop. */
SLUICE_API int sluice_wait(struct sluice *e);

/* Frees a stopped (or never started) engine. */
SLUICE_API void sluice_free(struct sluice *e);

/* Reloads the configuration of a started engine without losing a
 * connection: from the file <path>, or with NULL from where the engine was
 * made (its file, or its text); sluice_reload_text() from <text> named
 * <name>. The new configuration is parsed and started first (bound, its
 * threads running; the sockets of addresses it shares with the running
 * one are moved over, never closed); only then does the running one stop
 * accepting and finish its connections within its `grace`. Returns 0, or
 * -1 with *err set (malloc'ed: "file:line: 'keyword' what is wrong" for a
 * configuration error) and the running configuration untouched. Needs a
 * restart, so refused: a new tune.bufsize, nbthread above the larger of its
 * first value and the CPUs. Ignored with a warning (sluice_warnings(), valid
 * until the next reload): tune.buffers.limit/reserve. Counters carry on
 * across reloads. It returns once the old configuration stopped listening.
 * Any thread may call it, an engine's worker too (the command socket's
 * `reload` does); from a worker it is refused while another reload or a
 * stop is running, rather than wait. */
SLUICE_API int sluice_reload(struct sluice *e, const char *path, char **err);
SLUICE_API int sluice_reload_text(struct sluice *e, const char *text, const char *name, char **err);

/* The engine-wide figures, each written once: one line gives the field of
 * struct sluice_stats below, its JSON key (the field name), its Prometheus
 * family and its row on the HTML stats page; for a THR line also the
 * per-thread counter that CNT_INC() bumps and its sum over the threads.
 *
 * X(name, src, type, prom, help, label)
 *   name  field name and JSON key
 *   src   where the value comes from:
 *         THR      a per-thread counter of the same name, summed over the
 *                  threads (a new event counter is one THR line, nothing else)
 *         CLASS    six per-thread counters by response status class
 *                  (index 1..5: 1xx..5xx; 0: other), shown as rsp_1xx..
 *                  rsp_5xx, rsp_other and one Prometheus family labelled class
 *         SNAP     a gauge or another module's figure: sluice_stats()
 *                  (engine/stats.c) fills it by hand
 *         WAITERS  like SNAP; Prometheus shows it by pool criticality
 *         SCHED    like SNAP; Prometheus shows it per thread only (the family
 *                  <prom> of the thread rows), as summing samples labelled by
 *                  thread with an unlabelled total would count twice
 *   type  counter (only grows; HTML adds a rate) or gauge
 *   prom  Prometheus name; lines sharing a family follow each other and add a
 *         constant label set ("sluice_timeouts_total{kind=\"client\"}"),
 *         the first one's help is the family's HELP
 *   help  Prometheus HELP text
 *   label HTML row label (CLASS: after "1xx " and the like)
 */
#define SLUICE_COUNTERS(X) \
	X(conn_accepted, THR, counter, "sluice_connections_accepted_total", "Client connections accepted.", "Connections accepted") \
	X(conn_current, SNAP, gauge, "sluice_connections_current", "Client connections open now.", "Connections now") \
	X(conn_polled_late, THR, counter, "sluice_connections_polled_late_total", "Client connections registered with the poller after their accept, to wait for the client (one answered without waiting never is).", "Connections polled late") \
	X(conn_refused_maxconn, THR, counter, "sluice_connections_refused_maxconn_total", "Accept attempts put off by maxconn.", "Accepts put off by maxconn") \
	X(req_received, THR, counter, "sluice_requests_total", "Request heads received.", "Requests received") \
	X(rsp_sent, THR, counter, "sluice_responses_forwarded_total", "Server responses forwarded to clients in full.", "Responses forwarded") \
	X(rsp_errors, THR, counter, "sluice_responses_errors_total", "Error responses generated by Sluice.", "Error responses (ours)") \
	X(rsp_by_class, CLASS, counter, "sluice_responses_total", "Responses sent to clients by status class.", "sent") \
	X(req_aborted, THR, counter, "sluice_requests_aborted_total", "Requests that ended without any response.", "Requests aborted") \
	X(bytes_in, THR, counter, "sluice_client_received_bytes_total", "Bytes received from clients.", "Bytes from clients") \
	X(bytes_out, THR, counter, "sluice_client_sent_bytes_total", "Bytes sent to clients.", "Bytes to clients") \
	X(streams, THR, counter, "sluice_streams_total", "Transactions (sessions) started.", "Sessions (streams)") \
	X(streams_parked, THR, counter, "sluice_idle_streams_released_total", "Streams freed between two keep-alive transactions, their client connection kept.", "Idle streams released") \
	X(conn_idle_parked, THR, gauge, "sluice_connections_idle_parked", "Keep-alive client connections waiting now with no stream.", "Idle connections without stream") \
	X(stream_calls, THR, counter, "sluice_stream_calls_total", "Calls to the stream processing function.", "Stream processing calls") \
	X(io_calls, THR, counter, "sluice_io_calls_total", "Connection I/O callbacks.", "Connection I/O calls") \
	X(srv_connects, THR, counter, "sluice_connects_total", "Connections opened to servers.", "Server connects") \
	X(srv_connect_errors, THR, counter, "sluice_connect_errors_total", "Failed connections to servers.", "Server connect errors") \
	X(srv_reuses, THR, counter, "sluice_connection_reuses_total", "Idle server connections reused.", "Server connection reuses") \
	X(srv_conn_unclean, THR, counter, "sluice_server_connections_unclean_total", "Server connections closed instead of reused: bytes past their last response.", "Unclean server connections") \
	X(retries, THR, counter, "sluice_retries_total", "Connection retries.", "Retries") \
	X(redispatches, THR, counter, "sluice_redispatches_total", "Retries sent to another server.", "Redispatches") \
	X(queued_now, SNAP, gauge, "sluice_queued_current", "Streams waiting in server or backend queues now.", "Queued now") \
	X(queued_total, THR, counter, "sluice_queued_total", "Streams that had to queue for a server.", "Queued in total") \
	X(queue_timeouts, THR, counter, "sluice_queue_timeouts_total", "Streams that timed out in a queue.", "Queue timeouts") \
	X(queue_full, THR, counter, "sluice_queue_full_total", "Requests answered 503 because every queue they could wait in was at its maxqueue.", "Turned away (queue full)") \
	X(buf_wait_timeouts, THR, counter, "sluice_buffer_wait_timeouts_total", "Requests answered 503 after waiting timeout queue for a buffer.", "Buffer wait timeouts") \
	X(lingering_closes, THR, counter, "sluice_lingering_closes_total", "Client connections drained before closing, so the answer is not reset.", "Lingering closes") \
	X(timeouts_client, THR, counter, "sluice_timeouts_total{kind=\"client\"}", "Timeouts by kind.", "Client timeouts") \
	X(timeouts_server, THR, counter, "sluice_timeouts_total{kind=\"server\"}", "Timeouts by kind.", "Server timeouts") \
	X(timeouts_connect, THR, counter, "sluice_timeouts_total{kind=\"connect\"}", "Timeouts by kind.", "Connect timeouts") \
	X(timeouts_http_request, THR, counter, "sluice_timeouts_total{kind=\"http_request\"}", "Timeouts by kind.", "Request-head timeouts") \
	X(bad_requests, THR, counter, "sluice_bad_requests_total", "Requests rejected as malformed.", "Bad requests") \
	X(bad_responses, THR, counter, "sluice_bad_responses_total", "Server responses rejected as malformed.", "Bad responses") \
	X(buf_waits, THR, counter, "sluice_buffer_waits_total", "Times a stream direction paused for a buffer.", "Stream waits for a buffer") \
	/* pipes for splicing HTTP/1.1 bodies (`option splice-*`) */ \
	X(pipes_in_use, THR, gauge, "sluice_pipes_in_use", "Pipes held by streams now.", "Pipes in use") \
	X(pipes_allocated, THR, gauge, "sluice_pipes_allocated", "Pipes open now (in use and cached), under tune.pipes.limit.", "Pipes allocated") \
	X(pipes_failed, THR, counter, "sluice_pipes_failed_total", "Bodies that found no pipe and went through buffers.", "Pipe failures (buffer fallback)") \
	X(spliced_bytes, THR, counter, "sluice_spliced_bytes_total", "Body bytes moved through pipes.", "Bytes spliced") \
	/* HTTP/2 client connections (streams: sums of closed connections' \
	 * counters); resets, GOAWAYs and buffer waits count both roles */ \
	X(h2_conn_accepted, THR, counter, "sluice_h2_connections_accepted_total", "HTTP/2 client connections accepted.", "HTTP/2 connections accepted") \
	X(h2_conn_current, SNAP, gauge, "sluice_h2_connections_current", "HTTP/2 client connections open now.", "HTTP/2 connections now") \
	X(h2_streams, THR, counter, "sluice_h2_streams_total", "HTTP/2 streams opened by clients.", "HTTP/2 streams") \
	X(h2_streams_refused, THR, counter, "sluice_h2_streams_refused_total", "HTTP/2 streams refused (REFUSED_STREAM) because maxstreams were open.", "HTTP/2 streams refused (maxstreams)") \
	X(h2_resets, THR, counter, "sluice_h2_resets_total", "HTTP/2 streams reset.", "HTTP/2 resets") \
	X(h2_goaway_sent, THR, counter, "sluice_h2_goaway_sent_total", "HTTP/2 GOAWAY frames sent.", "HTTP/2 GOAWAY sent") \
	X(h2_dbuf_waits, THR, counter, "sluice_h2_demux_buffer_waits_total", "Times an HTTP/2 demux paused for a buffer.", "HTTP/2 demux buffer waits") \
	X(h2_mbuf_waits, THR, counter, "sluice_h2_mux_buffer_waits_total", "Times an HTTP/2 mux paused for a buffer.", "HTTP/2 mux buffer waits") \
	X(h2_calm_kills, THR, counter, "sluice_h2_calm_kills_total", "HTTP/2 connections ended with ENHANCE_YOUR_CALM.", "HTTP/2 connections killed (abuse)") \
	X(h2_trimmed_bytes, THR, counter, "sluice_h2_idle_released_bytes_total", "Bytes of nghttp2 pages (output buffer, empty stream map) given back to the system while their HTTP/2 connection was quiet (both roles).", "HTTP/2 idle bytes given back") \
	X(h2_heap_bytes, THR, gauge, "sluice_h2_heap_bytes", "Heap held now outside the pool by HTTP/2 connections (both roles).", "HTTP/2 heap outside the pool") \
	/* HTTP/2 server connections (`server ... proto h2`) and the request \
	 * streams opened on them */ \
	X(h2_srv_conn_opened, THR, counter, "sluice_h2_server_connections_total", "HTTP/2 connections opened to servers.", "HTTP/2 server connections opened") \
	X(h2_srv_conn_current, SNAP, gauge, "sluice_h2_server_connections_current", "HTTP/2 server connections open now.", "HTTP/2 server connections now") \
	X(h2_srv_streams, THR, counter, "sluice_h2_server_streams_total", "HTTP/2 request streams opened towards servers.", "HTTP/2 server streams") \
	/* TLS towards clients: handshakes completed (full or resumed) \
	 * and handshakes that failed, by reason */ \
	X(tls_full_handshakes, THR, counter, "sluice_tls_full_handshakes_total", "Full TLS handshakes completed with clients (no session resumed).", "TLS full handshakes") \
	X(tls_resumed, THR, counter, "sluice_tls_resumptions_total", "TLS handshakes with clients that resumed a session (ticket or session id).", "TLS resumptions") \
	X(tls_fail_plain_http, THR, counter, "sluice_tls_handshake_failures_total{reason=\"plain_http\"}", "TLS handshakes that failed, by reason.", "TLS failures: plain HTTP") \
	X(tls_fail_protocol, THR, counter, "sluice_tls_handshake_failures_total{reason=\"protocol\"}", "TLS handshakes that failed, by reason.", "TLS failures: protocol") \
	X(tls_fail_closed, THR, counter, "sluice_tls_handshake_failures_total{reason=\"closed\"}", "TLS handshakes that failed, by reason.", "TLS failures: client closed") \
	X(tls_fail_timeout, THR, counter, "sluice_tls_handshake_failures_total{reason=\"timeout\"}", "TLS handshakes that failed, by reason.", "TLS failures: timeout") \
	X(tls_fail_resource, THR, counter, "sluice_tls_handshake_failures_total{reason=\"resource\"}", "TLS handshakes that failed, by reason.", "TLS failures: out of memory") \
	X(tls_srv_handshakes, THR, counter, "sluice_tls_server_handshakes_total", "TLS handshakes completed with servers.", "TLS handshakes to servers") \
	X(tls_srv_resumed, THR, counter, "sluice_tls_server_resumptions_total", "TLS handshakes with servers that resumed a session (no-ssl-reuse: none).", "TLS resumptions to servers") \
	X(tls_srv_fail_verify, THR, counter, "sluice_tls_server_handshake_failures_total{reason=\"verify\"}", "TLS handshakes with servers that failed, by reason.", "TLS to servers: verification failed") \
	X(tls_srv_fail_other, THR, counter, "sluice_tls_server_handshake_failures_total{reason=\"other\"}", "TLS handshakes with servers that failed, by reason.", "TLS to servers: other failures") \
	X(tls_heap_counted, SNAP, gauge, "sluice_tls_heap_counted", "1 when OpenSSL's heap is counted; 0: OpenSSL allocated before Sluice could hook it, not counted.", "OpenSSL heap counted (0: not counted)") \
	X(tls_heap_bytes, SNAP, gauge, "sluice_tls_heap_bytes", "Bytes OpenSSL holds now (contexts, connections, sessions), 0 when not counted.", "OpenSSL heap (bytes)") \
	X(tls_heap_blocks, SNAP, gauge, "sluice_tls_heap_blocks", "Heap blocks OpenSSL holds now, 0 when not counted.", "OpenSSL heap blocks") \
	/* configuration reloads (sluice_reload, SIGHUP) */ \
	X(reloads, SNAP, counter, "sluice_reloads_total", "Configuration reloads done.", "Reloads") \
	X(reload_failures, SNAP, counter, "sluice_reload_failures_total", "Configuration reloads refused (the running configuration stayed).", "Reloads refused")

/* The buffer pool's figures (its "Buffer pool" table on the HTML page),
 * same columns; all are read from the pool when the snapshot is taken. */
#define SLUICE_POOL_COUNTERS(X) \
	X(pool_allocated, SNAP, gauge, "sluice_pool_buffers_allocated", "Buffers obtained from the allocator now.", "Allocated") \
	X(pool_peak_allocated, SNAP, gauge, "sluice_pool_buffers_allocated_peak", "Highest number of buffers allocated.", "Allocated, peak") \
	X(pool_in_use, SNAP, gauge, "sluice_pool_buffers_in_use", "Buffers held by users now.", "In use") \
	X(pool_peak_in_use, SNAP, gauge, "sluice_pool_buffers_in_use_peak", "Highest number of buffers in use.", "In use, peak") \
	X(pool_allocs, SNAP, counter, "sluice_pool_allocations_total", "Successful buffer allocations.", "Allocations") \
	X(pool_failed, SNAP, counter, "sluice_pool_allocation_failures_total", "Refused buffer allocations (injected included).", "Failed allocations") \
	X(pool_injected, SNAP, counter, "sluice_pool_injected_failures_total", "Allocations refused by fault injection.", "of which injected") \
	X(pool_waiting, WAITERS, gauge, "sluice_pool_waiters", "Wait entries queued for a buffer now, by criticality.", "Waiting now") \
	X(pool_waits_total, SNAP, counter, "sluice_pool_waits_total", "Wait entries ever subscribed.", "Waits in total") \
	X(pool_handoffs, SNAP, counter, "sluice_pool_handoffs_total", "Released buffers handed straight to a waiter.", "Hand-offs") \
	X(pool_notifies, SNAP, counter, "sluice_pool_notifies_total", "Wake-ups of served waiters (equal to hand-offs).", "Notifies") \
	X(pool_takes, SNAP, counter, "sluice_pool_takes_total", "Handed buffers taken by their waiter.", "Takes") \
	X(pool_passes_on, SNAP, counter, "sluice_pool_passes_on_total", "Handed buffers passed on by a waiter that no longer wanted them.", "Passes-on") \
	X(pool_trims, SNAP, counter, "sluice_pool_trims_total", "Buffers given back to the allocator by trimming.", "Trimmed") \
	X(pool_lock_acquisitions, SNAP, counter, "sluice_pool_lock_acquisitions_total", "Acquisitions of the pool's global lock.", "Pool lock acquisitions") \
	X(pool_shared_atomics, SNAP, counter, "sluice_pool_shared_atomics_total", "Atomic operations on pool cache lines shared between threads.", "Pool shared atomics") \
	X(pool_limit, SNAP, gauge, "sluice_pool_buffers_limit", "Hard cap on buffers (0: none).", "Limit (0: none)") \
	X(pool_reserve, SNAP, gauge, "sluice_pool_buffers_reserve", "Buffers kept for critical allocations.", "Reserve") \
	X(pool_bufsize, SNAP, gauge, "sluice_pool_buffer_size_bytes", "Size of one buffer.", "Buffer size (bytes)")

/* The schedulers' figures summed over the threads (per thread, they are
 * the Prometheus families named here), same columns. */
#define SLUICE_SCHED_COUNTERS(X) \
	X(sched_loops, SCHED, counter, "sluice_sched_loops_total", "Scheduler loop iterations.", "Scheduler loops") \
	X(sched_tasks_run, SCHED, counter, "sluice_sched_tasks_run_total", "Task callbacks run.", "Scheduler tasks run") \
	X(sched_tasklets_run, SCHED, counter, "sluice_sched_tasklets_run_total", "Tasklet callbacks run (tasks excluded).", "Scheduler tasklets run") \
	X(sched_timers_fired, SCHED, counter, "sluice_sched_timers_fired_total", "Timers that expired.", "Scheduler timers fired")

/* The field of one line of the lists above, by its source. */
#define SLUICE_STATS_FIELD(name, src, ...) SLUICE_STATS_FIELD_##src(name)
#define SLUICE_STATS_FIELD_THR(name) uint64_t name;
#define SLUICE_STATS_FIELD_CLASS(name) uint64_t name[6];
#define SLUICE_STATS_FIELD_SNAP(name) uint64_t name;
#define SLUICE_STATS_FIELD_WAITERS(name) uint64_t name;
#define SLUICE_STATS_FIELD_SCHED(name) uint64_t name;

/* A snapshot of the engine's counters (sums over the worker threads):
 * every uint64_t comes first, in the order of the lists, then nbthread. */
struct sluice_stats {
	SLUICE_COUNTERS(SLUICE_STATS_FIELD)
	SLUICE_POOL_COUNTERS(SLUICE_STATS_FIELD)
	SLUICE_SCHED_COUNTERS(SLUICE_STATS_FIELD)
	uint32_t nbthread;
};

/* Fills <out> with a snapshot. Counters read while the engine runs are
 * each exact but not taken at one instant. */
SLUICE_API void sluice_stats(const struct sluice *e, struct sluice_stats *out);

/* Writes the snapshot as one JSON object into <dst> (at most <room> bytes,
 * NUL-terminated). Returns the length it needed (like snprintf). */
SLUICE_API int sluice_stats_json(const struct sluice *e, char *dst, unsigned room);

/* ==== The host API: request hook, completion hook, services ====
 *
 * Threads and lifetimes, for everything below:
 *  - sluice_set_request_hook(), sluice_set_completion_hook() and
 *    sluice_register_service() are called after sluice_new_*() and before
 *    sluice_start(), from the thread that owns the engine (not a worker);
 *    afterwards they return SLUICE_E_STATE.
 *  - Every callback runs on the worker thread of the stream it concerns
 *    (the thread that accepted the client connection, HTTP/1.1 and HTTP/2
 *    alike), never on two threads at once for one request, and must never
 *    block: it holds up every connection of that thread. Work that takes
 *    time belongs to a service, which can answer later (resume).
 *  - A request view (struct sluice_req) and the strings it returns are
 *    valid only inside the callback that received it.
 *  - Inside a callback, the host may call the functions that take the
 *    object it was given (sluice_req_*, sluice_svc_*) and sluice_stats();
 *    it must not call sluice_stop(), sluice_wait() or sluice_free() there
 *    (sluice_stop() from another thread is fine).
 *  - Nothing here allocates body buffers for the host: a service writes
 *    into the stream's own pool buffer, and waits for one like the engine's
 *    own code does when the pool has none to give.
 */

/* Incremented whenever a declaration of this file changes in a way that
 * matters to a program built against it. 2: the host API. */
#define SLUICE_API_VERSION 2

/* Results of the host API's calls. */
enum sluice_result {
	SLUICE_OK = 0,
	SLUICE_E_INVALID,   /* a bad argument: an empty or non-token header name,
	                     * control characters in a value, a framing header
	                     * (Content-Length, Transfer-Encoding), a status out
	                     * of 100..599 */
	SLUICE_E_NOROOM,    /* an edit does not fit the hook's share of
	                     * tune.maxrewrite: the request will be answered 500 */
	SLUICE_E_NOTFOUND,  /* no backend or service of that name */
	SLUICE_E_NOMEM,     /* out of memory */
	SLUICE_E_STATE,     /* not now: the engine started, the answer or the
	                     * service was already chosen, the head was sent */
};

/* A byte string that is not NUL-terminated. */
struct sluice_str {
	const char *ptr;
	size_t len;
};

/* A header to send (NUL-terminated name and value). */
struct sluice_header {
	const char *name;
	const char *value;
};

/* ---- the request view ---- */

struct sluice_req; /* one request head, seen from a callback */

/* The method, the path (without the query), the query (without '?',
 * empty when none) and the whole request target, as received. */
SLUICE_API struct sluice_str sluice_req_method(const struct sluice_req *r);
SLUICE_API struct sluice_str sluice_req_path(const struct sluice_req *r);
SLUICE_API struct sluice_str sluice_req_query(const struct sluice_req *r);
SLUICE_API struct sluice_str sluice_req_uri(const struct sluice_req *r);

/* 10 or 11 for an HTTP/1.x client, 20 for an HTTP/2 one. */
SLUICE_API int sluice_req_http_version(const struct sluice_req *r);

/* The client's address as text ("127.0.0.1", "::1") and its port (0 when
 * not known, as on an HTTP/2 stream), and the frontend's name. */
SLUICE_API const char *sluice_req_client_addr(const struct sluice_req *r);
SLUICE_API unsigned sluice_req_client_port(const struct sluice_req *r);
SLUICE_API const char *sluice_req_frontend(const struct sluice_req *r);

/* Finds the first header named <name> (any case) at or after index <from>.
 * Returns its index and sets *value, or -1. Iterate over repeated headers
 * with from = previous index + 1. For an HTTP/2 client the view shows the
 * head as the engine forwards it (":authority" is "Host"). */
SLUICE_API int sluice_req_header(const struct sluice_req *r, const char *name, int from,
				 struct sluice_str *value);

/* The number of headers, and the header at index <i> (0 ..count-1).
 * Returns 0, or -1 when <i> is out of range. */
SLUICE_API unsigned sluice_req_header_count(const struct sluice_req *r);
SLUICE_API int sluice_req_header_at(const struct sluice_req *r, unsigned i,
				    struct sluice_str *name, struct sluice_str *value);

/* ---- the request hook ---- */

/* What the request hook decided. */
enum sluice_verdict {
	SLUICE_PASS = 0,     /* forward it: to the backend the rules chose, or
	                      * the one set with sluice_req_use_backend() */
	SLUICE_ANSWER,       /* answer with what sluice_req_answer() prepared
	                      * (nothing prepared: 500) */
	SLUICE_SERVICE,      /* hand it to the service set with
	                      * sluice_req_use_service() (none set: 500) */
};

/* Called once per request head, after the frontend's http-request rules
 * decided nothing final (no deny, return, redirect or use-service) and
 * before the head is rewritten for the server. */
typedef enum sluice_verdict (*sluice_request_fn)(struct sluice_req *r, void *arg);

/* Edits the request head in place, in the buffer it was received in (the
 * same rewrite as the http-request rules): set replaces every header of
 * that name by one, add appends one, del removes all (SLUICE_OK even when
 * there was none). SLUICE_E_NOROOM when the edits would grow the head by
 * more than half of tune.maxrewrite in all (the other half stays for the
 * headers the engine adds itself): the request is then answered 500
 * whatever the hook returns, logged with termination state "PR". The view
 * shows the edited head at once. Request hook only. */
SLUICE_API enum sluice_result sluice_req_set_header(struct sluice_req *r, const char *name, const char *value);
SLUICE_API enum sluice_result sluice_req_add_header(struct sluice_req *r, const char *name, const char *value);
SLUICE_API enum sluice_result sluice_req_del_header(struct sluice_req *r, const char *name);

/* Chooses the backend <name> (an HTTP backend with servers) instead of the
 * rules' choice. Request hook only. */
SLUICE_API enum sluice_result sluice_req_use_backend(struct sluice_req *r, const char *name);

/* Prepares a direct answer: <status> (200..599), the headers <hdrs>
 * (<nb> of them, no framing headers), and the body body[0..len) (the whole
 * answer must fit one pool buffer, or the client gets a 500). The hook then
 * returns SLUICE_ANSWER. The connection closes after it. Request hook only. */
SLUICE_API enum sluice_result sluice_req_answer(struct sluice_req *r, int status,
						const struct sluice_header *hdrs, unsigned nb,
						const void *body, size_t len);

/* Chooses the registered service <name> for this request; the hook then
 * returns SLUICE_SERVICE. Request hook only. */
SLUICE_API enum sluice_result sluice_req_use_service(struct sluice_req *r, const char *name);

/* Installs the request hook of every frontend (NULL removes it). */
SLUICE_API enum sluice_result sluice_set_request_hook(struct sluice *e, sluice_request_fn fn, void *arg);

/* ---- the completion hook ---- */

/* The fields of the access-log record, written once: the completion
 * hook's struct below and the log line (engine/core/log.h) are both made
 * of this list. X(type, name, what)  */
#define SLUICE_LOG_FIELDS(X) \
	X(const char *, client_addr, "numeric client address, NUL-terminated") \
	X(unsigned, client_port, "client port (0: not known)") \
	X(uint64_t, start_ms, "wall clock of the transaction's start (ms since the epoch)") \
	X(const char *, frontend, "frontend name") \
	X(const char *, backend, "backend name, NULL when none was chosen") \
	X(const char *, server, "server name, NULL when none was reached") \
	X(int, status, "status sent to the client, -1: none") \
	X(uint64_t, bytes_in, "bytes received from the client") \
	X(uint64_t, bytes_out, "bytes sent to the client") \
	X(int64_t, tq_ms, "time queued for a server (ms, -1: not reached)") \
	X(int64_t, tw_ms, "time waiting for pool buffers, all directions (ms)") \
	X(int64_t, tc_ms, "time to connect to the server (ms, -1: not reached)") \
	X(int64_t, tr_ms, "time to the response head (ms, -1: not reached)") \
	X(int64_t, tt_ms, "total time (ms)") \
	X(const char *, method, "method, <method_len> bytes, NULL: not read") \
	X(size_t, method_len, "") \
	X(const char *, uri, "request target, <uri_len> bytes, NULL: not read") \
	X(size_t, uri_len, "") \
	X(const char *, uid, "the request's unique id (unique-id-format), <uid_len> bytes, NULL: none") \
	X(size_t, uid_len, "")

#define SLUICE_LOG_FIELD(type, name, what) type name;

/* One finished transaction, as the access log writes it. */
struct sluice_log {
	SLUICE_LOG_FIELDS(SLUICE_LOG_FIELD)
	char term[3];        /* termination state, as in the log: "--" normal,
	                      * first letter C/S/c/s/R/P (who ended it), second
	                      * R/Q/C/H/D/L (where it was), NUL-terminated */
};

/* Called once per transaction, when its access-log line is due (whether
 * or not a log is configured), on the stream's thread. <rec> and its
 * strings are valid during the call only. */
typedef void (*sluice_complete_fn)(const struct sluice_log *rec, void *arg);

/* Installs the completion hook (NULL removes it). */
SLUICE_API enum sluice_result sluice_set_completion_hook(struct sluice *e, sluice_complete_fn fn, void *arg);

/* ---- services ----
 *
 * A service answers requests in host code, as an applet: config lines
 * `http-request use-service NAME [if|unless COND]` or the request hook
 * hand requests to it. It reads the request body as it arrives and writes
 * the response through the calls below, into the stream's pool buffer.
 * When the pool has no buffer (or the client has not taken the last ones
 * yet), a write says SLUICE_IO_WOULD_BLOCK; the service returns, and its
 * resume callback runs later on the same thread once it can go on: a
 * buffer was handed over (at response level: the same wait queue, reserve
 * and timeouts as the engine's own answers), the client drained, or body
 * bytes arrived. `timeout client` bounds a silent or starved service. */

struct sluice_svc; /* one request handed to a service */

/* Results of the service calls. */
enum sluice_io {
	SLUICE_IO_OK = 0,         /* done in full */
	SLUICE_IO_WOULD_BLOCK,    /* not now (or only in part): resume() will
	                           * be called when it may go on */
	SLUICE_IO_END,            /* body: no more bytes, the request ended */
	SLUICE_IO_ERROR,          /* misuse: head twice, body before head,
	                           * more than the announced length, after finish */
};

struct sluice_service_ops {
	/* A request was handed over; <r> is valid during this call only (copy
	 * what is needed). May call every sluice_svc_* function. Anything but
	 * SLUICE_OK answers 500 (when no head was written yet) and ends the
	 * request (end() is still called). */
	enum sluice_result (*start)(struct sluice_svc *svc, const struct sluice_req *r, void *arg);
	/* The service may go on: a blocked write has room again, or body
	 * bytes arrived or the body ended. Called only while the service has
	 * not finished its answer. */
	void (*resume)(struct sluice_svc *svc, void *arg);
	/* Last call for this request: answered in full (<aborted> 0), or the
	 * client went, a timeout ran out, the engine stopped (1). Free the
	 * request's state here. May be NULL. */
	void (*end)(struct sluice_svc *svc, int aborted, void *arg);
};

/* Registers the service <name> (copied; at most 63 bytes of [A-Za-z0-9._-])
 * with <ops> (kept by pointer) and <arg>. "prometheus-exporter" is
 * registered by the engine itself. SLUICE_E_STATE for a name taken. */
SLUICE_API enum sluice_result sluice_register_service(struct sluice *e, const char *name,
						      const struct sluice_service_ops *ops, void *arg);

/* The host's per-request pointer (NULL at first). */
SLUICE_API void sluice_svc_set_ctx(struct sluice_svc *svc, void *ctx);
SLUICE_API void *sluice_svc_ctx(const struct sluice_svc *svc);

/* The request's body, decoded (no chunk framing): points *data at the next
 * *len bytes received (SLUICE_IO_OK), or says none are there yet
 * (SLUICE_IO_WOULD_BLOCK: resume() comes with more) or the body ended
 * (SLUICE_IO_END; also for a request without a body). The bytes stay until
 * sluice_svc_body_consume() says they were used; a body not consumed
 * stops the client's upload (it is flow-controlled, not buffered). */
SLUICE_API enum sluice_io sluice_svc_body(struct sluice_svc *svc, const void **data, size_t *len);
SLUICE_API void sluice_svc_body_consume(struct sluice_svc *svc, size_t n);

/* Writes the response head: <status> (200..599), headers (no framing
 * headers, no Connection), and the body's length, or -1 to stream it
 * (chunked towards an HTTP/1.1 client, DATA frames for HTTP/2, until the
 * connection closes for HTTP/1.0). SLUICE_IO_WOULD_BLOCK: call it again
 * from resume(). The head must fit one buffer (SLUICE_IO_ERROR if not). */
SLUICE_API enum sluice_io sluice_svc_head(struct sluice_svc *svc, int status,
					  const struct sluice_header *hdrs, unsigned nb,
					  int64_t content_length);

/* The number of body bytes the next sluice_svc_write() takes in full
 * right now (*room), after taking a buffer if needed: SLUICE_IO_OK with
 * *room > 0, or SLUICE_IO_WOULD_BLOCK with *room = 0. */
SLUICE_API enum sluice_io sluice_svc_room(struct sluice_svc *svc, size_t *room);

/* Writes up to <len> body bytes; *written (may be NULL) says how many were
 * taken. SLUICE_IO_OK when all of them were, SLUICE_IO_WOULD_BLOCK when
 * some were left (resume() comes when there is room). */
SLUICE_API enum sluice_io sluice_svc_write(struct sluice_svc *svc, const void *data, size_t len,
					   size_t *written);

/* Ends the answer (the last chunk when streamed). SLUICE_IO_WOULD_BLOCK:
 * call it again from resume(). SLUICE_IO_ERROR when fewer bytes than the
 * announced length were written. After SLUICE_IO_OK the service gets no
 * more resume(), only end(). */
SLUICE_API enum sluice_io sluice_svc_finish(struct sluice_svc *svc);

/* Checks what can only be checked once the host has registered its
 * services: every `use-service` names a known one. Returns 0, or -1 with
 * *err set (malloc'ed, "file:line: 'http-request use-service' ...").
 * sluice_start() runs it too; `sluice -c` calls it. */
SLUICE_API int sluice_check(struct sluice *e, char **err);

/* ---- Servers from the host ----
 *
 * The embedding program changes a backend's servers from any of its own
 * threads while the workers serve requests, on a started or not yet
 * started engine (and not after sluice_free()). Each call takes effect for the
 * next server pick; streams that already hold a server keep it. The same
 * operations back the command socket's `set server`, `add server` and
 * `del server`.
 *
 * Every call returns 0, or -1 with *err (when err is not NULL) set to a
 * malloc'ed message naming what is wrong; the caller frees it.
 */

/* Administrative states of a server. Drain and maintenance both stop new
 * streams at once and let the streams holding its slots finish; drain is
 * meant for a server about to go, maintenance for one that is gone (only
 * a server in maintenance may be removed). */
enum sluice_server_state {
	SLUICE_SERVER_READY = 0,
	SLUICE_SERVER_DRAIN = 1,
	SLUICE_SERVER_MAINT = 2,
};

/* Adds server <name> to HTTP backend <backend>, at <addr> ("IPv4:PORT" or
 * "[IPv6]:PORT"), with <weight> (0..256, 0: no new streams) and <maxconn>
 * (0: no limit), in <state>. It speaks HTTP/1 without TLS and without
 * health checks. A backend takes up to 1024 added servers over its life
 * (removed ones included: a removed server's memory is kept until
 * sluice_free(), so no stream can ever touch freed memory). */
SLUICE_API int sluice_server_add(struct sluice *e, const char *backend, const char *name, const char *addr,
                      unsigned weight, unsigned maxconn, enum sluice_server_state state, char **err);

/* Removes server <name> of <backend>. Refused unless it is in maintenance
 * and no stream holds or waits for one of its slots (drain or maintenance
 * first, then retry once its streams ended), and for a server with health
 * checks. Its idle connections close on their own. */
SLUICE_API int sluice_server_del(struct sluice *e, const char *backend, const char *name, char **err);

/* Sets the state of server <name> of <backend>. Back to ready, its free
 * slots go at once to the streams queued for the backend. */
SLUICE_API int sluice_server_set_state(struct sluice *e, const char *backend, const char *name,
                            enum sluice_server_state state, char **err);

/* Sets the weight (0..256) of server <name> of <backend>; 0 stops new
 * streams as a drain does. */
SLUICE_API int sluice_server_set_weight(struct sluice *e, const char *backend, const char *name,
                             unsigned weight, char **err);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */

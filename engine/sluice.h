/* sluice.h - the public API of libsluice, the Sluice proxy engine.
 *
 * An engine is built from a configuration (a file, a text, or the built-in
 * default), started on its own worker threads, stopped gracefully or at
 * once, and observed through a snapshot of its counters. Nothing here is
 * tied to a process: several engines may live side by side, and the
 * embedding program keeps its own signal handling and main loop.
 *
 * Thread safety: every function may be called from any thread that is not
 * one of the engine's workers, except sluice_stats() and sluice_reload()
 * which any thread may call at any time.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sluice;

/* Returns the version string, e.g. "0.1.0". */
const char *sluice_version(void);

/* Returns the built-in default configuration text. */
const char *sluice_default_config(void);

/* Creates an engine from the config file <path>, or from <text> named
 * <name> in messages. Returns NULL and sets *err to a malloc'ed message
 * ("file:line: 'keyword' what is wrong") on error; the caller frees it. */
struct sluice *sluice_new_from_file(const char *path, char **err);
struct sluice *sluice_new_from_text(const char *text, const char *name, char **err);

/* Returns the configuration warnings (one per line) or NULL. */
const char *sluice_warnings(const struct sluice *e);

/* Sets the debug level: 0 quiet, 1 events (connections, errors) to stderr. */
void sluice_set_debug(struct sluice *e, int level);

/* Binds every listener and starts the worker threads. Returns 0, or -1
 * with *err set (malloc'ed) and nothing left running. */
int sluice_start(struct sluice *e, char **err);

/* Stop modes for sluice_stop(). */
enum sluice_stop_mode {
	SLUICE_STOP_GRACEFUL = 0, /* stop accepting, finish in-flight requests within the grace period */
	SLUICE_STOP_SOFT     = 1, /* stop accepting, finish in-flight requests however long it takes */
	SLUICE_STOP_NOW      = 2, /* close everything at once */
};

/* Asks a started engine to stop. Returns at once; it is safe to call it
 * several times (a later, harder mode wins). Not async-signal-safe: call it
 * from a normal thread (the sluice binary uses sigwait()). */
void sluice_stop(struct sluice *e, enum sluice_stop_mode mode);

/* Waits until the worker threads have ended. Returns 0 on a clean stop. */
int sluice_wait(struct sluice *e);

/* Frees a stopped (or never started) engine. */
void sluice_free(struct sluice *e);

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
int sluice_reload(struct sluice *e, const char *path, char **err);
int sluice_reload_text(struct sluice *e, const char *text, const char *name, char **err);

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
	X(conn_refused_maxconn, THR, counter, "sluice_connections_refused_maxconn_total", "Accept attempts put off by maxconn.", "Accepts put off by maxconn") \
	X(req_received, THR, counter, "sluice_requests_total", "Request heads received.", "Requests received") \
	X(rsp_sent, THR, counter, "sluice_responses_forwarded_total", "Server responses forwarded to clients in full.", "Responses forwarded") \
	X(rsp_errors, THR, counter, "sluice_responses_errors_total", "Error responses generated by Sluice.", "Error responses (ours)") \
	X(rsp_by_class, CLASS, counter, "sluice_responses_total", "Responses sent to clients by status class.", "sent") \
	X(req_aborted, THR, counter, "sluice_requests_aborted_total", "Requests that ended without any response.", "Requests aborted") \
	X(bytes_in, THR, counter, "sluice_client_received_bytes_total", "Bytes received from clients.", "Bytes from clients") \
	X(bytes_out, THR, counter, "sluice_client_sent_bytes_total", "Bytes sent to clients.", "Bytes to clients") \
	X(streams, THR, counter, "sluice_streams_total", "Transactions (sessions) started.", "Sessions (streams)") \
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
	X(tls_srv_fail_verify, THR, counter, "sluice_tls_server_handshake_failures_total{reason=\"verify\"}", "TLS handshakes with servers that failed, by reason.", "TLS to servers: verification failed") \
	X(tls_srv_fail_other, THR, counter, "sluice_tls_server_handshake_failures_total{reason=\"other\"}", "TLS handshakes with servers that failed, by reason.", "TLS to servers: other failures") \
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
void sluice_stats(const struct sluice *e, struct sluice_stats *out);

/* Writes the snapshot as one JSON object into <dst> (at most <room> bytes,
 * NUL-terminated). Returns the length it needed (like snprintf). */
int sluice_stats_json(const struct sluice *e, char *dst, unsigned room);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */

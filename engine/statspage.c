/* statspage.c - the stats page renderers and the snapshot (see statspage.h).
 *
 * Each format is a function that renders one item at a (section, row)
 * position into a small scratch array; statspage_render() walks the
 * positions and copies whole items into the caller's room. Items depend
 * only on the snapshot and their position, which is what makes the output
 * identical however it is cut.
 *
 * Numbers are described by offsets of uint64_t fields (SP_U64 checks the
 * size at compile time), so the three formats share the same tables of
 * fields instead of three hand-written lists that could drift apart.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/statspage.h"

/* Largest item: the scratch array one item is rendered into. Items are
 * kept far below it (names are cut at SP_NAME_MAX). */
#define SP_ITEM_MAX 4096
#define SP_NAME_MAX 128

/* Offset of a uint64_t field, refusing anything of another size. */
#define SP_U64(T, f) (offsetof(T, f) + 0 * sizeof(char[sizeof(((T *)0)->f) == 8 ? 1 : -1]))

/* ---- a bounded writer ---- */

struct sw {
	char *p;
	size_t room, len;
};

/* Appends <n> bytes of <s>, as many as fit. */
static void sw_put(struct sw *w, const char *s, size_t n)
{
	if (n > w->room - w->len)
		n = w->room - w->len;
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

/* Appends the string <s>. */
static void sw_str(struct sw *w, const char *s)
{
	sw_put(w, s, strlen(s));
}

/* Appends printf-style text, cut to what fits. */
static void sw_printf(struct sw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sw_printf(struct sw *w, const char *fmt, ...)
{
	size_t left = w->room - w->len;
	va_list ap;
	int n;

	if (left < 2)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->p + w->len, left, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n < left ? (size_t)n : left - 1;
}

/* Appends <v> in decimal. */
static void sw_u64(struct sw *w, uint64_t v)
{
	sw_printf(w, "%llu", (unsigned long long)v);
}

/* Writes <v> thousandths as a decimal with three digits ("1.250"). */
static void sw_milli(struct sw *w, uint64_t v)
{
	sw_printf(w, "%llu.%03llu", (unsigned long long)(v / 1000), (unsigned long long)(v % 1000));
}

/* Writes <s> (cut at SP_NAME_MAX) escaped for HTML text and attributes. */
static void sw_html(struct sw *w, const char *s)
{
	if (!s) {
		sw_str(w, "-");
		return;
	}
	for (size_t i = 0; s[i] && i < SP_NAME_MAX; i++) {
		switch (s[i]) {
		case '&': sw_str(w, "&amp;"); break;
		case '<': sw_str(w, "&lt;"); break;
		case '>': sw_str(w, "&gt;"); break;
		case '"': sw_str(w, "&quot;"); break;
		case '\'': sw_str(w, "&#39;"); break;
		default: sw_put(w, &s[i], 1);
		}
	}
}

/* Writes <s> as a JSON string (cut at SP_NAME_MAX), or null. */
static void sw_json_str(struct sw *w, const char *s)
{
	if (!s) {
		sw_str(w, "null");
		return;
	}
	sw_put(w, "\"", 1);
	for (size_t i = 0; s[i] && i < SP_NAME_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			sw_printf(w, "\\%c", c);
		else if (c < 0x20)
			sw_printf(w, "\\u%04x", c);
		else
			sw_put(w, &s[i], 1);
	}
	sw_put(w, "\"", 1);
}

/* Writes <s> as a Prometheus label value (without quotes). */
static void sw_prom_label(struct sw *w, const char *s)
{
	for (size_t i = 0; s && s[i] && i < SP_NAME_MAX; i++) {
		if (s[i] == '\\' || s[i] == '"')
			sw_printf(w, "\\%c", s[i]);
		else if (s[i] == '\n')
			sw_str(w, "\\n");
		else
			sw_put(w, &s[i], 1);
	}
}

/* Returns the uint64_t at <off> bytes into <base>. */
static inline uint64_t sp_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

static const char *const sp_state_names[] = { "UP", "DOWN", "MAINT" };
static const char *const sp_crit_names[POOL_CRIT_COUNT] = { "newconn", "request", "response", "emit" };

/* Returns the name of server state <s>. */
static const char *sp_state_name(enum statspage_srv_state s)
{
	return (unsigned)s < 3 ? sp_state_names[s] : "?";
}

/* ---- shared field tables ---- */

struct sp_field {
	const char *key;
	size_t off;
};

#define NELEM_(a) (sizeof(a) / sizeof((a)[0]))

#define ST(f) SP_U64(struct sluice_stats, f)
#define PS(f) SP_U64(struct pool_stats, f)
#define SV(f) SP_U64(struct statspage_server, f)
#define BE(f) SP_U64(struct statspage_backend, f)
#define FE(f) SP_U64(struct statspage_frontend, f)
#define TH(f) SP_U64(struct statspage_thread, f)

/* The flat members of sluice_stats_json(), in its order (nbthread apart). */
static const struct sp_field json_flat[] = {
	{ "conn_accepted", ST(conn_accepted) }, { "conn_current", ST(conn_current) },
	{ "conn_refused_maxconn", ST(conn_refused_maxconn) }, { "req_received", ST(req_received) },
	{ "rsp_sent", ST(rsp_sent) }, { "rsp_errors", ST(rsp_errors) },
	{ "rsp_1xx", ST(rsp_by_class[1]) }, { "rsp_2xx", ST(rsp_by_class[2]) },
	{ "rsp_3xx", ST(rsp_by_class[3]) }, { "rsp_4xx", ST(rsp_by_class[4]) },
	{ "rsp_5xx", ST(rsp_by_class[5]) }, { "rsp_other", ST(rsp_by_class[0]) },
	{ "req_aborted", ST(req_aborted) }, { "bytes_in", ST(bytes_in) }, { "bytes_out", ST(bytes_out) },
	{ "streams", ST(streams) }, { "stream_calls", ST(stream_calls) }, { "io_calls", ST(io_calls) },
	{ "srv_connects", ST(srv_connects) }, { "srv_connect_errors", ST(srv_connect_errors) },
	{ "srv_reuses", ST(srv_reuses) }, { "retries", ST(retries) }, { "redispatches", ST(redispatches) },
	{ "queued_now", ST(queued_now) }, { "queued_total", ST(queued_total) },
	{ "queue_timeouts", ST(queue_timeouts) }, { "timeouts_client", ST(timeouts_client) },
	{ "timeouts_server", ST(timeouts_server) }, { "timeouts_connect", ST(timeouts_connect) },
	{ "timeouts_http_request", ST(timeouts_http_request) }, { "bad_requests", ST(bad_requests) },
	{ "bad_responses", ST(bad_responses) }, { "buf_waits", ST(buf_waits) },
	{ "h2_conn_accepted", ST(h2_conn_accepted) }, { "h2_conn_current", ST(h2_conn_current) },
	{ "h2_streams", ST(h2_streams) }, { "h2_resets", ST(h2_resets) },
	{ "h2_goaway_sent", ST(h2_goaway_sent) }, { "h2_dbuf_waits", ST(h2_dbuf_waits) },
	{ "h2_mbuf_waits", ST(h2_mbuf_waits) }, { "h2_calm_kills", ST(h2_calm_kills) },
	{ "h2_heap_bytes", ST(h2_heap_bytes) },
	{ "h2_srv_conn_opened", ST(h2_srv_conn_opened) }, { "h2_srv_conn_current", ST(h2_srv_conn_current) },
	{ "h2_srv_streams", ST(h2_srv_streams) },
	{ "pool_allocated", ST(pool_allocated) }, { "pool_peak_allocated", ST(pool_peak_allocated) },
	{ "pool_in_use", ST(pool_in_use) }, { "pool_peak_in_use", ST(pool_peak_in_use) },
	{ "pool_allocs", ST(pool_allocs) }, { "pool_failed", ST(pool_failed) },
	{ "pool_injected", ST(pool_injected) }, { "pool_waiting", ST(pool_waiting) },
	{ "pool_waits_total", ST(pool_waits_total) }, { "pool_handoffs", ST(pool_handoffs) },
	{ "pool_notifies", ST(pool_notifies) }, { "pool_takes", ST(pool_takes) },
	{ "pool_passes_on", ST(pool_passes_on) }, { "pool_trims", ST(pool_trims) },
	{ "pool_limit", ST(pool_limit) }, { "pool_reserve", ST(pool_reserve) },
	{ "pool_bufsize", ST(pool_bufsize) }, { "sched_loops", ST(sched_loops) },
	{ "sched_tasks_run", ST(sched_tasks_run) }, { "sched_tasklets_run", ST(sched_tasklets_run) },
	{ "sched_timers_fired", ST(sched_timers_fired) },
};
/* every number of sluice_stats is in the JSON: a new field must be added
 * above (and to the Prometheus and HTML tables) */
_Static_assert(NELEM_(json_flat) == offsetof(struct sluice_stats, nbthread) / 8,
	       "json_flat must list every uint64_t of struct sluice_stats");

/* Every pool counter (struct pool_stats), for the "pool" object. */
static const struct sp_field json_pool[] = {
	{ "allocated", PS(allocated) }, { "peak_allocated", PS(peak_allocated) },
	{ "peak_in_use", PS(peak_in_use) }, { "allocs", PS(allocs) }, { "releases", PS(releases) },
	{ "failed", PS(failed) }, { "injected", PS(injected) }, { "waiting", PS(waiting) },
	{ "waits_total", PS(waits_total) }, { "handoffs", PS(handoffs) },
	{ "served_at_subscribe", PS(served_at_subscribe) }, { "notifies", PS(notifies) },
	{ "takes", PS(takes) }, { "passes_on", PS(passes_on) }, { "cancels", PS(cancels) },
	{ "trims", PS(trims) }, { "wait_ns_total", PS(wait_ns_total) }, { "limit", PS(limit) },
	{ "reserve", PS(reserve) }, { "bufsize", PS(bufsize) }, { "cached", PS(cached) },
	{ "global_free", PS(global_free) },
};

static const struct sp_field json_srv[] = {
	{ "cur", SV(cur) }, { "total", SV(total) }, { "queue", SV(queue) },
	{ "failures", SV(failures) }, { "weight", SV(weight) }, { "maxconn", SV(maxconn) },
	{ "up", SV(up) }, { "checks_ok", SV(chk_ok) }, { "checks_failed", SV(chk_failed) },
	{ "check_buf_waits", SV(chk_buf_waits) }, { "check_buf_timeouts", SV(chk_buf_timeouts) },
	{ "check_bufs_taken", SV(chk_bufs_taken) }, { "check_bufs_released", SV(chk_bufs_released) },
	{ "state_changes", SV(chk_changes) }, { "last_change_s", SV(last_change_s) },
	{ "check_duration_ms", SV(chk_duration_ms) }, { "check_status", SV(chk_last_status) },
};

static const struct sp_field json_be[] = {
	{ "cur", BE(cur) }, { "total", BE(total) }, { "queue", BE(queue) },
	{ "failures", BE(failures) }, { "servers_total", BE(servers) }, { "servers_active", BE(active) },
};

static const struct sp_field json_fe[] = {
	{ "conn_cur", FE(conn_cur) }, { "maxconn", FE(maxconn) }, { "binds", FE(binds) },
};

static const struct sp_field json_thr[] = {
	{ "loops", TH(loops) }, { "tasks_run", TH(tasks_run) }, { "tasklets_run", TH(tasklets_run) },
	{ "timers_fired", TH(timers_fired) }, { "remote_wakeups", TH(remote_wakeups) },
	{ "kicks", TH(kicks) }, { "polls", TH(polls) }, { "io_events", TH(io_events) },
	{ "pool_allocs", TH(pool_allocs) }, { "pool_releases", TH(pool_releases) },
	{ "pool_failed", TH(pool_failed) }, { "pool_cached", TH(pool_cached) },
	{ "conn_accepted", TH(conn_accepted) }, { "streams", TH(streams) },
	{ "stream_calls", TH(stream_calls) }, { "io_calls", TH(io_calls) },
	{ "buf_waits", TH(buf_waits) },
};

#define NELEM(a) NELEM_(a)

/* Writes the members of table <f> over <base> as "key":value pairs. */
static void sw_json_fields(struct sw *w, const struct sp_field *f, size_t n, const void *base)
{
	for (size_t i = 0; i < n; i++) {
		sw_printf(w, ",\"%s\":", f[i].key);
		sw_u64(w, sp_at(base, f[i].off));
	}
}

/* Locates flat row <row> of the backends section, where each backend
 * spans 1 (opening) + its servers + 1 (closing) rows. Sets *be and *srv
 * (-1 for the opening row, nb servers for the closing one). Returns 0, or
 * -1 past the last backend. */
static int sp_be_locate(const struct statspage_data *d, unsigned row, unsigned *be, long *srv)
{
	for (unsigned b = 0; b < d->nb_be; b++) {
		unsigned span = (unsigned)d->be[b].servers + 2;

		if (row < span) {
			*be = b;
			*srv = (long)row - 1;
			return 0;
		}
		row -= span;
	}
	return -1;
}

/* ---- JSON ---- */

enum { JS_FLAT, JS_POOL, JS_FE, JS_BE, JS_THR, JS_END, JS_COUNT };

/* Writes server row <s> as a JSON object. */
static void json_server(struct sw *w, const struct statspage_server *s)
{
	sw_str(w, "{\"name\":");
	sw_json_str(w, s->name);
	sw_str(w, ",\"addr\":");
	sw_json_str(w, s->addr);
	sw_printf(w, ",\"state\":\"%s\",\"checked\":%s", sp_state_name(s->state),
		  s->checked ? "true" : "false");
	sw_json_fields(w, json_srv, NELEM(json_srv), s);
	sw_str(w, ",\"check_reason\":");
	sw_json_str(w, s->chk_reason);
	sw_str(w, "}");
}

/* Renders JSON item (sec, row). Returns 1, 0 past the section, -1 past the end. */
static int json_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	switch (sec) {
	case JS_FLAT:
		if (row > NELEM(json_flat))
			return 0;
		if (row == 0) {
			sw_str(w, "{\"version\":");
			sw_json_str(w, d->version);
			sw_printf(w, ",\"uptime_ms\":%llu,\"nbthread\":%u", (unsigned long long)d->uptime_ms,
				  (unsigned)d->st.nbthread);
		} else {
			sw_json_fields(w, &json_flat[row - 1], 1, &d->st);
		}
		return 1;
	case JS_POOL:
		if (row > NELEM(json_pool) + 1)
			return 0;
		if (row == 0) {
			/* in_use is signed in pool_stats: the clamped one of st */
			sw_printf(w, ",\"pool\":{\"in_use\":%llu", (unsigned long long)d->st.pool_in_use);
		} else if (row <= NELEM(json_pool)) {
			sw_json_fields(w, &json_pool[row - 1], 1, &d->pool);
		} else {
			sw_str(w, ",\"waiting_by_crit\":{");
			for (int c = 0; c < POOL_CRIT_COUNT; c++)
				sw_printf(w, "%s\"%s\":%llu", c ? "," : "", sp_crit_names[c],
					  (unsigned long long)d->pool.waiting_by_crit[c]);
			sw_str(w, "}}");
		}
		return 1;
	case JS_FE:
		if (row > d->nb_fe + 1)
			return 0;
		if (row == 0) {
			sw_str(w, ",\"frontends\":[");
		} else if (row <= d->nb_fe) {
			const struct statspage_frontend *f = &d->fe[row - 1];

			sw_str(w, row > 1 ? ",{\"name\":" : "{\"name\":");
			sw_json_str(w, f->name);
			sw_json_fields(w, json_fe, NELEM(json_fe), f);
			sw_str(w, "}");
		} else {
			sw_str(w, "]");
		}
		return 1;
	case JS_BE: {
		unsigned b;
		long s;

		if (row == 0) {
			sw_str(w, ",\"backends\":[");
			return 1;
		}
		if (sp_be_locate(d, row - 1, &b, &s) < 0) {
			/* one closing row after the last backend */
			unsigned total = 0;

			for (unsigned i = 0; i < d->nb_be; i++)
				total += (unsigned)d->be[i].servers + 2;
			if (row - 1 > total)
				return 0;
			sw_str(w, "]");
			return 1;
		}
		if (s < 0) {
			const struct statspage_backend *be = &d->be[b];

			sw_str(w, b ? ",{\"name\":" : "{\"name\":");
			sw_json_str(w, be->name);
			sw_printf(w, ",\"balance\":\"%s\"", be->balance_lc ? "leastconn" : "roundrobin");
			sw_json_fields(w, json_be, NELEM(json_be), be);
			sw_str(w, ",\"servers\":[");
		} else if ((uint64_t)s < d->be[b].servers) {
			if (s)
				sw_str(w, ",");
			json_server(w, &d->srv[d->be[b].first_srv + (unsigned)s]);
		} else {
			sw_str(w, "]}");
		}
		return 1;
	}
	case JS_THR:
		if (row > d->nb_thr + 1)
			return 0;
		if (row == 0) {
			sw_str(w, ",\"threads\":[");
		} else if (row <= d->nb_thr) {
			sw_printf(w, "%s{\"thread\":%u", row > 1 ? "," : "", row - 1);
			sw_json_fields(w, json_thr, NELEM(json_thr), &d->thr[row - 1]);
			sw_str(w, "}");
		} else {
			sw_str(w, "]");
		}
		return 1;
	case JS_END:
		if (row)
			return 0;
		sw_str(w, "}\n");
		return 1;
	}
	return -1;
}

/* ---- Prometheus ---- */

enum pm_base {
	PM_ST,     /* struct sluice_stats */
	PM_POOL,   /* struct pool_stats */
	PM_DATA,   /* struct statspage_data */
	PM_INFO,   /* constant 1 with a version label */
	PM_FE, PM_BE, PM_SRV, PM_THR,
};

enum pm_unit { PM_RAW, PM_NS_TO_S, PM_MS_TO_S };

/* Fixed label values of a family over one struct (classes, kinds, crits). */
struct pm_list {
	const char *label;
	unsigned n;
	struct { const char *value; size_t off; } v[6];
};

struct pm_metric {
	const char *name, *help;
	const char *type;           /* "counter" or "gauge" */
	enum pm_base base;
	size_t off;
	enum pm_unit unit;
	const struct pm_list *list;
};

static const struct pm_list pm_classes = { "class", 6, {
	{ "1xx", ST(rsp_by_class[1]) }, { "2xx", ST(rsp_by_class[2]) }, { "3xx", ST(rsp_by_class[3]) },
	{ "4xx", ST(rsp_by_class[4]) }, { "5xx", ST(rsp_by_class[5]) }, { "other", ST(rsp_by_class[0]) } } };
static const struct pm_list pm_timeouts = { "kind", 4, {
	{ "client", ST(timeouts_client) }, { "server", ST(timeouts_server) },
	{ "connect", ST(timeouts_connect) }, { "http_request", ST(timeouts_http_request) } } };
static const struct pm_list pm_crits = { "crit", POOL_CRIT_COUNT, {
	{ "newconn", PS(waiting_by_crit[POOL_CRIT_NEWCONN]) },
	{ "request", PS(waiting_by_crit[POOL_CRIT_REQUEST]) },
	{ "response", PS(waiting_by_crit[POOL_CRIT_RESPONSE]) },
	{ "emit", PS(waiting_by_crit[POOL_CRIT_EMIT]) } } };

#define C "counter"
#define G "gauge"
static const struct pm_metric pm_metrics[] = {
	{ "sluice_build_info", "Version of Sluice (always 1).", G, PM_INFO, 0, PM_RAW, NULL },
	{ "sluice_uptime_seconds", "Time since the engine started.", G, PM_DATA,
	  SP_U64(struct statspage_data, uptime_ms), PM_MS_TO_S, NULL },
	/* connections and requests */
	{ "sluice_connections_accepted_total", "Client connections accepted.", C, PM_ST, ST(conn_accepted), PM_RAW, NULL },
	{ "sluice_connections_current", "Client connections open now.", G, PM_ST, ST(conn_current), PM_RAW, NULL },
	{ "sluice_connections_refused_maxconn_total", "Accept attempts put off by maxconn.", C, PM_ST, ST(conn_refused_maxconn), PM_RAW, NULL },
	{ "sluice_requests_total", "Request heads received.", C, PM_ST, ST(req_received), PM_RAW, NULL },
	{ "sluice_responses_forwarded_total", "Server responses forwarded to clients in full.", C, PM_ST, ST(rsp_sent), PM_RAW, NULL },
	{ "sluice_responses_errors_total", "Error responses generated by Sluice.", C, PM_ST, ST(rsp_errors), PM_RAW, NULL },
	{ "sluice_responses_total", "Responses sent to clients by status class.", C, PM_ST, 0, PM_RAW, &pm_classes },
	{ "sluice_requests_aborted_total", "Requests that ended without any response.", C, PM_ST, ST(req_aborted), PM_RAW, NULL },
	{ "sluice_client_received_bytes_total", "Bytes received from clients.", C, PM_ST, ST(bytes_in), PM_RAW, NULL },
	{ "sluice_client_sent_bytes_total", "Bytes sent to clients.", C, PM_ST, ST(bytes_out), PM_RAW, NULL },
	{ "sluice_streams_total", "Transactions (sessions) started.", C, PM_ST, ST(streams), PM_RAW, NULL },
	{ "sluice_stream_calls_total", "Calls to the stream processing function.", C, PM_ST, ST(stream_calls), PM_RAW, NULL },
	{ "sluice_io_calls_total", "Connection I/O callbacks.", C, PM_ST, ST(io_calls), PM_RAW, NULL },
	{ "sluice_connects_total", "Connections opened to servers.", C, PM_ST, ST(srv_connects), PM_RAW, NULL },
	{ "sluice_connect_errors_total", "Failed connections to servers.", C, PM_ST, ST(srv_connect_errors), PM_RAW, NULL },
	{ "sluice_connection_reuses_total", "Idle server connections reused.", C, PM_ST, ST(srv_reuses), PM_RAW, NULL },
	{ "sluice_retries_total", "Connection retries.", C, PM_ST, ST(retries), PM_RAW, NULL },
	{ "sluice_redispatches_total", "Retries sent to another server.", C, PM_ST, ST(redispatches), PM_RAW, NULL },
	{ "sluice_queued_current", "Streams waiting in server or backend queues now.", G, PM_ST, ST(queued_now), PM_RAW, NULL },
	{ "sluice_queued_total", "Streams that had to queue for a server.", C, PM_ST, ST(queued_total), PM_RAW, NULL },
	{ "sluice_queue_timeouts_total", "Streams that timed out in a queue.", C, PM_ST, ST(queue_timeouts), PM_RAW, NULL },
	{ "sluice_timeouts_total", "Timeouts by kind.", C, PM_ST, 0, PM_RAW, &pm_timeouts },
	{ "sluice_bad_requests_total", "Requests rejected as malformed.", C, PM_ST, ST(bad_requests), PM_RAW, NULL },
	{ "sluice_bad_responses_total", "Server responses rejected as malformed.", C, PM_ST, ST(bad_responses), PM_RAW, NULL },
	{ "sluice_buffer_waits_total", "Times a stream direction paused for a buffer.", C, PM_ST, ST(buf_waits), PM_RAW, NULL },
	/* HTTP/2 client connections */
	{ "sluice_h2_connections_accepted_total", "HTTP/2 client connections accepted.", C, PM_ST, ST(h2_conn_accepted), PM_RAW, NULL },
	{ "sluice_h2_connections_current", "HTTP/2 client connections open now.", G, PM_ST, ST(h2_conn_current), PM_RAW, NULL },
	{ "sluice_h2_streams_total", "HTTP/2 streams opened by clients.", C, PM_ST, ST(h2_streams), PM_RAW, NULL },
	{ "sluice_h2_resets_total", "HTTP/2 streams reset.", C, PM_ST, ST(h2_resets), PM_RAW, NULL },
	{ "sluice_h2_goaway_sent_total", "HTTP/2 GOAWAY frames sent.", C, PM_ST, ST(h2_goaway_sent), PM_RAW, NULL },
	{ "sluice_h2_demux_buffer_waits_total", "Times an HTTP/2 demux paused for a buffer.", C, PM_ST, ST(h2_dbuf_waits), PM_RAW, NULL },
	{ "sluice_h2_mux_buffer_waits_total", "Times an HTTP/2 mux paused for a buffer.", C, PM_ST, ST(h2_mbuf_waits), PM_RAW, NULL },
	{ "sluice_h2_calm_kills_total", "HTTP/2 connections ended with ENHANCE_YOUR_CALM.", C, PM_ST, ST(h2_calm_kills), PM_RAW, NULL },
	{ "sluice_h2_heap_bytes", "Heap held now by HTTP/2 connections outside the buffer pool.", G, PM_ST, ST(h2_heap_bytes), PM_RAW, NULL },
	{ "sluice_h2_server_connections_total", "HTTP/2 connections opened to servers.", C, PM_ST, ST(h2_srv_conn_opened), PM_RAW, NULL },
	{ "sluice_h2_server_connections_current", "HTTP/2 server connections open now.", G, PM_ST, ST(h2_srv_conn_current), PM_RAW, NULL },
	{ "sluice_h2_server_streams_total", "HTTP/2 request streams opened towards servers.", C, PM_ST, ST(h2_srv_streams), PM_RAW, NULL },
	/* pool */
	{ "sluice_pool_buffers_allocated", "Buffers obtained from the allocator now.", G, PM_ST, ST(pool_allocated), PM_RAW, NULL },
	{ "sluice_pool_buffers_allocated_peak", "Highest number of buffers allocated.", G, PM_ST, ST(pool_peak_allocated), PM_RAW, NULL },
	{ "sluice_pool_buffers_in_use", "Buffers held by users now.", G, PM_ST, ST(pool_in_use), PM_RAW, NULL },
	{ "sluice_pool_buffers_in_use_peak", "Highest number of buffers in use.", G, PM_ST, ST(pool_peak_in_use), PM_RAW, NULL },
	{ "sluice_pool_buffers_cached", "Free buffers in thread caches.", G, PM_POOL, PS(cached), PM_RAW, NULL },
	{ "sluice_pool_buffers_free_global", "Free buffers on the global free list.", G, PM_POOL, PS(global_free), PM_RAW, NULL },
	{ "sluice_pool_buffers_limit", "Hard cap on buffers (0: none).", G, PM_ST, ST(pool_limit), PM_RAW, NULL },
	{ "sluice_pool_buffers_reserve", "Buffers kept for critical allocations.", G, PM_ST, ST(pool_reserve), PM_RAW, NULL },
	{ "sluice_pool_buffer_size_bytes", "Size of one buffer.", G, PM_ST, ST(pool_bufsize), PM_RAW, NULL },
	{ "sluice_pool_allocations_total", "Successful buffer allocations.", C, PM_ST, ST(pool_allocs), PM_RAW, NULL },
	{ "sluice_pool_releases_total", "Buffers given back.", C, PM_POOL, PS(releases), PM_RAW, NULL },
	{ "sluice_pool_allocation_failures_total", "Refused buffer allocations (injected included).", C, PM_ST, ST(pool_failed), PM_RAW, NULL },
	{ "sluice_pool_injected_failures_total", "Allocations refused by fault injection.", C, PM_ST, ST(pool_injected), PM_RAW, NULL },
	{ "sluice_pool_waiters", "Wait entries queued for a buffer now, by criticality.", G, PM_POOL, 0, PM_RAW, &pm_crits },
	{ "sluice_pool_waits_total", "Wait entries ever subscribed.", C, PM_ST, ST(pool_waits_total), PM_RAW, NULL },
	{ "sluice_pool_handoffs_total", "Released buffers handed straight to a waiter.", C, PM_ST, ST(pool_handoffs), PM_RAW, NULL },
	{ "sluice_pool_served_at_subscribe_total", "Hand-offs made when the entry subscribed.", C, PM_POOL, PS(served_at_subscribe), PM_RAW, NULL },
	{ "sluice_pool_notifies_total", "Wake-ups of served waiters (equal to hand-offs).", C, PM_ST, ST(pool_notifies), PM_RAW, NULL },
	{ "sluice_pool_takes_total", "Handed buffers taken by their waiter.", C, PM_ST, ST(pool_takes), PM_RAW, NULL },
	{ "sluice_pool_passes_on_total", "Handed buffers passed on by a waiter that no longer wanted them.", C, PM_ST, ST(pool_passes_on), PM_RAW, NULL },
	{ "sluice_pool_wait_cancels_total", "Waits cancelled before being served.", C, PM_POOL, PS(cancels), PM_RAW, NULL },
	{ "sluice_pool_trims_total", "Buffers given back to the allocator by trimming.", C, PM_ST, ST(pool_trims), PM_RAW, NULL },
	{ "sluice_pool_wait_seconds_total", "Time wait entries spent waiting.", C, PM_POOL, PS(wait_ns_total), PM_NS_TO_S, NULL },
	/* frontends and backends */
	{ "sluice_frontend_connections_current", "Client connections open on the frontend.", G, PM_FE, FE(conn_cur), PM_RAW, NULL },
	{ "sluice_frontend_maxconn", "Connection limit of the frontend.", G, PM_FE, FE(maxconn), PM_RAW, NULL },
	{ "sluice_backend_servers", "Servers configured in the backend.", G, PM_BE, BE(servers), PM_RAW, NULL },
	{ "sluice_backend_servers_active", "Servers of the backend that are UP.", G, PM_BE, BE(active), PM_RAW, NULL },
	{ "sluice_backend_sessions_current", "Streams holding a server slot of the backend.", G, PM_BE, BE(cur), PM_RAW, NULL },
	{ "sluice_backend_sessions_total", "Streams assigned to servers of the backend.", C, PM_BE, BE(total), PM_RAW, NULL },
	{ "sluice_backend_queue_current", "Streams queued on the backend and its servers.", G, PM_BE, BE(queue), PM_RAW, NULL },
	{ "sluice_backend_connection_failures_total", "Failed connections to servers of the backend.", C, PM_BE, BE(failures), PM_RAW, NULL },
	/* servers */
	{ "sluice_server_up", "1 when the server takes traffic.", G, PM_SRV, SV(up), PM_RAW, NULL },
	{ "sluice_server_sessions_current", "Streams holding a slot of the server.", G, PM_SRV, SV(cur), PM_RAW, NULL },
	{ "sluice_server_sessions_total", "Streams assigned to the server.", C, PM_SRV, SV(total), PM_RAW, NULL },
	{ "sluice_server_queue_current", "Streams queued on the server.", G, PM_SRV, SV(queue), PM_RAW, NULL },
	{ "sluice_server_connection_failures_total", "Failed connections to the server.", C, PM_SRV, SV(failures), PM_RAW, NULL },
	{ "sluice_server_weight", "Load-balancing weight.", G, PM_SRV, SV(weight), PM_RAW, NULL },
	{ "sluice_server_maxconn", "Slot limit of the server (0: none).", G, PM_SRV, SV(maxconn), PM_RAW, NULL },
	{ "sluice_server_checks_passed_total", "Health checks passed.", C, PM_SRV, SV(chk_ok), PM_RAW, NULL },
	{ "sluice_server_checks_failed_total", "Health checks failed.", C, PM_SRV, SV(chk_failed), PM_RAW, NULL },
	{ "sluice_server_check_buffer_waits_total", "Times a health check waited for a buffer.", C, PM_SRV, SV(chk_buf_waits), PM_RAW, NULL },
	{ "sluice_server_check_buffer_timeouts_total", "Health checks that timed out waiting for a buffer.", C, PM_SRV, SV(chk_buf_timeouts), PM_RAW, NULL },
	{ "sluice_server_check_buffers_taken_total", "Buffers taken by health checks.", C, PM_SRV, SV(chk_bufs_taken), PM_RAW, NULL },
	{ "sluice_server_check_buffers_released_total", "Buffers given back by health checks.", C, PM_SRV, SV(chk_bufs_released), PM_RAW, NULL },
	{ "sluice_server_state_changes_total", "UP/DOWN transitions.", C, PM_SRV, SV(chk_changes), PM_RAW, NULL },
	{ "sluice_server_last_change_seconds", "Time since the last UP/DOWN transition.", G, PM_SRV, SV(last_change_s), PM_RAW, NULL },
	{ "sluice_server_check_duration_seconds", "Duration of the last health check.", G, PM_SRV, SV(chk_duration_ms), PM_MS_TO_S, NULL },
	{ "sluice_server_check_status", "HTTP status of the last health check (0: none).", G, PM_SRV, SV(chk_last_status), PM_RAW, NULL },
	/* threads */
	{ "sluice_sched_loops_total", "Scheduler loop iterations.", C, PM_THR, TH(loops), PM_RAW, NULL },
	{ "sluice_sched_tasks_run_total", "Task callbacks run.", C, PM_THR, TH(tasks_run), PM_RAW, NULL },
	{ "sluice_sched_tasklets_run_total", "Tasklet callbacks run (tasks excluded).", C, PM_THR, TH(tasklets_run), PM_RAW, NULL },
	{ "sluice_sched_timers_fired_total", "Timers that expired.", C, PM_THR, TH(timers_fired), PM_RAW, NULL },
	{ "sluice_sched_remote_wakeups_total", "Wake-ups posted from another thread.", C, PM_THR, TH(remote_wakeups), PM_RAW, NULL },
	{ "sluice_sched_kicks_total", "Event-fd kicks sent to the thread.", C, PM_THR, TH(kicks), PM_RAW, NULL },
	{ "sluice_sched_polls_total", "epoll_wait calls.", C, PM_THR, TH(polls), PM_RAW, NULL },
	{ "sluice_sched_io_events_total", "Events returned by epoll_wait.", C, PM_THR, TH(io_events), PM_RAW, NULL },
	{ "sluice_thread_pool_allocations_total", "Buffer allocations made by the thread.", C, PM_THR, TH(pool_allocs), PM_RAW, NULL },
	{ "sluice_thread_pool_releases_total", "Buffers given back by the thread.", C, PM_THR, TH(pool_releases), PM_RAW, NULL },
	{ "sluice_thread_pool_allocation_failures_total", "Buffer allocations refused to the thread.", C, PM_THR, TH(pool_failed), PM_RAW, NULL },
	{ "sluice_thread_pool_buffers_cached", "Free buffers in the thread's cache.", G, PM_THR, TH(pool_cached), PM_RAW, NULL },
	{ "sluice_thread_connections_accepted_total", "Client connections accepted by the thread.", C, PM_THR, TH(conn_accepted), PM_RAW, NULL },
	{ "sluice_thread_streams_total", "Transactions started on the thread.", C, PM_THR, TH(streams), PM_RAW, NULL },
	{ "sluice_thread_stream_calls_total", "Stream processing calls on the thread.", C, PM_THR, TH(stream_calls), PM_RAW, NULL },
	{ "sluice_thread_buffer_waits_total", "Stream pauses for a buffer on the thread.", C, PM_THR, TH(buf_waits), PM_RAW, NULL },
};
#undef C
#undef G

/* Returns the number of samples of family <m>. */
static unsigned pm_samples(const struct statspage_data *d, const struct pm_metric *m)
{
	if (m->list)
		return m->list->n;
	switch (m->base) {
	case PM_FE: return d->nb_fe;
	case PM_BE: return d->nb_be;
	case PM_SRV: return d->nb_srv;
	case PM_THR: return d->nb_thr;
	default: return 1;
	}
}

/* Writes value <v> of a family in unit <u>. */
static void pm_value(struct sw *w, uint64_t v, enum pm_unit u)
{
	if (u == PM_NS_TO_S)
		sw_printf(w, "%llu.%09llu", (unsigned long long)(v / 1000000000u),
			  (unsigned long long)(v % 1000000000u));
	else if (u == PM_MS_TO_S)
		sw_milli(w, v);
	else
		sw_u64(w, v);
}

/* Writes sample <i> of family <m> as one line. */
static void pm_sample(struct sw *w, const struct statspage_data *d, const struct pm_metric *m, unsigned i)
{
	const void *base = NULL;
	size_t off = m->off;

	sw_str(w, m->name);
	if (m->list) {
		sw_printf(w, "{%s=\"%s\"} ", m->list->label, m->list->v[i].value);
		base = m->base == PM_POOL ? (const void *)&d->pool : (const void *)&d->st;
		off = m->list->v[i].off;
	} else {
		switch (m->base) {
		case PM_ST: base = &d->st; sw_str(w, " "); break;
		case PM_POOL: base = &d->pool; sw_str(w, " "); break;
		case PM_DATA: base = d; sw_str(w, " "); break;
		case PM_INFO:
			sw_str(w, "{version=\"");
			sw_prom_label(w, d->version ? d->version : "unknown");
			sw_str(w, "\"} 1\n");
			return;
		case PM_FE:
			base = &d->fe[i];
			sw_str(w, "{frontend=\"");
			sw_prom_label(w, d->fe[i].name);
			sw_str(w, "\"} ");
			break;
		case PM_BE:
			base = &d->be[i];
			sw_str(w, "{backend=\"");
			sw_prom_label(w, d->be[i].name);
			sw_str(w, "\"} ");
			break;
		case PM_SRV: {
			/* the backend of server i: the one whose range holds it */
			const char *bname = NULL;

			for (unsigned b = 0; b < d->nb_be; b++)
				if (i >= d->be[b].first_srv && i < d->be[b].first_srv + d->be[b].servers)
					bname = d->be[b].name;
			base = &d->srv[i];
			sw_str(w, "{backend=\"");
			sw_prom_label(w, bname);
			sw_str(w, "\",server=\"");
			sw_prom_label(w, d->srv[i].name);
			sw_str(w, "\"} ");
			break;
		}
		case PM_THR:
			base = &d->thr[i];
			sw_printf(w, "{thread=\"%u\"} ", i);
			break;
		}
	}
	pm_value(w, sp_at(base, off), m->unit);
	sw_str(w, "\n");
}

/* Renders Prometheus item (sec, row): a family's HELP and TYPE lines, then
 * one sample per row. Returns 1, 0 past the family, -1 past the last one. */
static int prom_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	const struct pm_metric *m;

	if (sec >= NELEM(pm_metrics))
		return -1;
	m = &pm_metrics[sec];
	if (row > pm_samples(d, m))
		return 0;
	if (row == 0)
		sw_printf(w, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, m->type);
	else
		pm_sample(w, d, m, row - 1);
	return 1;
}

/* ---- HTML ---- */

enum { HT_HEAD, HT_SUMMARY, HT_FE, HT_BE, HT_POOL, HT_THR, HT_END, HT_COUNT };

/* A labelled number of the summary and pool tables; <counter> adds an
 * average rate since the start. */
struct sp_kv {
	const char *label;
	enum pm_base base;   /* PM_ST or PM_POOL */
	size_t off;
	int counter;
};

static const struct sp_kv html_summary[] = {
	{ "Connections accepted", PM_ST, ST(conn_accepted), 1 },
	{ "Connections now", PM_ST, ST(conn_current), 0 },
	{ "Accepts put off by maxconn", PM_ST, ST(conn_refused_maxconn), 1 },
	{ "Requests received", PM_ST, ST(req_received), 1 },
	{ "Responses forwarded", PM_ST, ST(rsp_sent), 1 },
	{ "Error responses (ours)", PM_ST, ST(rsp_errors), 1 },
	{ "Requests aborted", PM_ST, ST(req_aborted), 1 },
	{ "1xx sent", PM_ST, ST(rsp_by_class[1]), 1 },
	{ "2xx sent", PM_ST, ST(rsp_by_class[2]), 1 },
	{ "3xx sent", PM_ST, ST(rsp_by_class[3]), 1 },
	{ "4xx sent", PM_ST, ST(rsp_by_class[4]), 1 },
	{ "5xx sent", PM_ST, ST(rsp_by_class[5]), 1 },
	{ "Bytes from clients", PM_ST, ST(bytes_in), 1 },
	{ "Bytes to clients", PM_ST, ST(bytes_out), 1 },
	{ "Sessions (streams)", PM_ST, ST(streams), 1 },
	{ "Stream processing calls", PM_ST, ST(stream_calls), 1 },
	{ "Connection I/O calls", PM_ST, ST(io_calls), 1 },
	{ "Server connects", PM_ST, ST(srv_connects), 1 },
	{ "Server connect errors", PM_ST, ST(srv_connect_errors), 1 },
	{ "Server connection reuses", PM_ST, ST(srv_reuses), 1 },
	{ "Retries", PM_ST, ST(retries), 1 },
	{ "Redispatches", PM_ST, ST(redispatches), 1 },
	{ "Queued now", PM_ST, ST(queued_now), 0 },
	{ "Queued in total", PM_ST, ST(queued_total), 1 },
	{ "Queue timeouts", PM_ST, ST(queue_timeouts), 1 },
	{ "Client timeouts", PM_ST, ST(timeouts_client), 1 },
	{ "Server timeouts", PM_ST, ST(timeouts_server), 1 },
	{ "Connect timeouts", PM_ST, ST(timeouts_connect), 1 },
	{ "Request-head timeouts", PM_ST, ST(timeouts_http_request), 1 },
	{ "Bad requests", PM_ST, ST(bad_requests), 1 },
	{ "Bad responses", PM_ST, ST(bad_responses), 1 },
	{ "Stream waits for a buffer", PM_ST, ST(buf_waits), 1 },
	{ "HTTP/2 connections accepted", PM_ST, ST(h2_conn_accepted), 1 },
	{ "HTTP/2 connections now", PM_ST, ST(h2_conn_current), 0 },
	{ "HTTP/2 streams", PM_ST, ST(h2_streams), 1 },
	{ "HTTP/2 resets", PM_ST, ST(h2_resets), 1 },
	{ "HTTP/2 GOAWAY sent", PM_ST, ST(h2_goaway_sent), 1 },
	{ "HTTP/2 demux buffer waits", PM_ST, ST(h2_dbuf_waits), 1 },
	{ "HTTP/2 mux buffer waits", PM_ST, ST(h2_mbuf_waits), 1 },
	{ "HTTP/2 connections killed (abuse)", PM_ST, ST(h2_calm_kills), 1 },
	{ "HTTP/2 heap outside the pool (bytes)", PM_ST, ST(h2_heap_bytes), 0 },
	{ "HTTP/2 server connections opened", PM_ST, ST(h2_srv_conn_opened), 1 },
	{ "HTTP/2 server connections now", PM_ST, ST(h2_srv_conn_current), 0 },
	{ "HTTP/2 server streams", PM_ST, ST(h2_srv_streams), 1 },
};

static const struct sp_kv html_pool[] = {
	{ "Buffer size (bytes)", PM_ST, ST(pool_bufsize), 0 },
	{ "Limit (0: none)", PM_ST, ST(pool_limit), 0 },
	{ "Reserve", PM_ST, ST(pool_reserve), 0 },
	{ "Allocated", PM_ST, ST(pool_allocated), 0 },
	{ "Allocated, peak", PM_ST, ST(pool_peak_allocated), 0 },
	{ "In use", PM_ST, ST(pool_in_use), 0 },
	{ "In use, peak", PM_ST, ST(pool_peak_in_use), 0 },
	{ "Cached by threads", PM_POOL, PS(cached), 0 },
	{ "Free (global list)", PM_POOL, PS(global_free), 0 },
	{ "Allocations", PM_ST, ST(pool_allocs), 1 },
	{ "Releases", PM_POOL, PS(releases), 1 },
	{ "Failed allocations", PM_ST, ST(pool_failed), 1 },
	{ "of which injected", PM_ST, ST(pool_injected), 1 },
	{ "Waiting now", PM_ST, ST(pool_waiting), 0 },
	{ "Waits in total", PM_ST, ST(pool_waits_total), 1 },
	{ "Hand-offs", PM_ST, ST(pool_handoffs), 1 },
	{ "of which at subscription", PM_POOL, PS(served_at_subscribe), 1 },
	{ "Notifies", PM_ST, ST(pool_notifies), 1 },
	{ "Takes", PM_ST, ST(pool_takes), 1 },
	{ "Passes-on", PM_ST, ST(pool_passes_on), 1 },
	{ "Waits cancelled", PM_POOL, PS(cancels), 1 },
	{ "Trimmed", PM_ST, ST(pool_trims), 1 },
};

static const char html_style[] =
	"<style>\n"
	"body{font-family:sans-serif;font-size:13px;margin:1em 2em;color:#222}\n"
	"h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}h3{font-size:14px;margin:1em 0 .3em}\n"
	"table{border-collapse:collapse;margin-bottom:.5em}\n"
	"th,td{border:1px solid #bbb;padding:2px 7px}td{text-align:right}\n"
	"th{background:#e4e8ee}td.n{text-align:left}\n"
	"tr.tot td{font-weight:bold;background:#f3f3f3}\n"
	"td.UP{background:#bfefbf}td.DOWN{background:#f4b0b0}td.MAINT{background:#d0d0d0}\n"
	"</style>\n";

/* Writes "<td>v</td>". */
static void html_num(struct sw *w, uint64_t v)
{
	sw_str(w, "<td>");
	sw_u64(w, v);
	sw_str(w, "</td>");
}

/* Writes the average rate of counter <v> since the start, as a cell. */
static void html_rate(struct sw *w, const struct statspage_data *d, uint64_t v)
{
	if (d->uptime_ms)
		sw_printf(w, "<td>%.1f</td>", (double)v * 1000.0 / (double)d->uptime_ms);
	else
		sw_str(w, "<td>-</td>");
}

/* Writes one labelled row; a counter also gets its average rate. */
static void html_kv_row(struct sw *w, const struct statspage_data *d, const struct sp_kv *kv)
{
	uint64_t v = sp_at(kv->base == PM_POOL ? (const void *)&d->pool : (const void *)&d->st, kv->off);

	sw_printf(w, "<tr><td class=n>%s</td>", kv->label);
	html_num(w, v);
	if (kv->counter)
		html_rate(w, d, v);
	else
		sw_str(w, "<td></td>");
	sw_str(w, "</tr>\n");
}

/* Writes the page head, the style sheet and the title lines. */
static void html_head(struct sw *w, const struct statspage_data *d)
{
	sw_str(w, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n");
	if (d->refresh_s)
		sw_printf(w, "<meta http-equiv=\"refresh\" content=\"%llu\">\n", (unsigned long long)d->refresh_s);
	sw_str(w, "<title>Sluice statistics</title>\n");
	sw_str(w, html_style);
	sw_str(w, "</head><body>\n<h1>Sluice ");
	sw_html(w, d->version);
	sw_str(w, "</h1>\n<p>Up for ");
	sw_milli(w, d->uptime_ms);
	sw_printf(w, " s, %u thread%s", (unsigned)d->nb_thr, d->nb_thr == 1 ? "" : "s");
	if (d->refresh_s)
		sw_printf(w, ", refreshed every %llu s", (unsigned long long)d->refresh_s);
	sw_str(w, ". Rates are averages since the start. Also as <a href=\"?json\">JSON</a>"
		  " and <a href=\"?prom\">Prometheus</a>.</p>\n");
}

/* Writes server row <s> of a backend table. */
static void html_server_row(struct sw *w, const struct statspage_server *s)
{
	const char *st = sp_state_name(s->state);

	sw_str(w, "<tr><td class=n>");
	sw_html(w, s->name);
	sw_str(w, "</td><td class=n>");
	sw_html(w, s->addr);
	sw_printf(w, "</td><td class=%s>%s</td>", st, st);
	html_num(w, s->last_change_s);
	html_num(w, s->weight);
	html_num(w, s->cur);
	if (s->maxconn)
		html_num(w, s->maxconn);
	else
		sw_str(w, "<td>-</td>");
	html_num(w, s->queue);
	html_num(w, s->total);
	html_num(w, s->failures);
	if (s->checked) {
		html_num(w, s->chk_ok);
		html_num(w, s->chk_failed);
		sw_str(w, "<td class=n>");
		sw_html(w, s->chk_reason);
		if (s->chk_last_status)
			sw_printf(w, " (%llu)", (unsigned long long)s->chk_last_status);
		sw_printf(w, " in %llu ms</td>", (unsigned long long)s->chk_duration_ms);
		html_num(w, s->chk_buf_waits);
		html_num(w, s->chk_buf_timeouts);
	} else {
		sw_str(w, "<td>-</td><td>-</td><td class=n>no check</td><td>-</td><td>-</td>");
	}
	sw_str(w, "</tr>\n");
}

/* Writes item <s> of backend <b>: its title and table head (s < 0), a
 * server row, or its total row and the table end (s == its server count). */
static void html_backend(struct sw *w, const struct statspage_data *d, unsigned b, long s)
{
	const struct statspage_backend *be = &d->be[b];

	if (s < 0) {
		sw_str(w, "<h3>Backend ");
		sw_html(w, be->name);
		sw_printf(w, " (%s)</h3>\n<table>\n", be->balance_lc ? "leastconn" : "roundrobin");
		sw_str(w, "<tr><th>Server</th><th>Address</th><th>State</th><th>Since (s)</th>"
			  "<th>Weight</th><th>Cur</th><th>Maxconn</th><th>Queue</th><th>Total</th>"
			  "<th>Conn. failures</th><th>Checks OK</th><th>Checks failed</th>"
			  "<th>Last check</th><th>Check buffer waits</th><th>Check buffer timeouts</th></tr>\n");
	} else if ((uint64_t)s < be->servers) {
		html_server_row(w, &d->srv[be->first_srv + (unsigned)s]);
	} else {
		sw_printf(w, "<tr class=tot><td class=n>Backend</td><td class=n>%llu/%llu UP</td><td></td>"
			  "<td></td><td></td>", (unsigned long long)be->active,
			  (unsigned long long)be->servers);
		html_num(w, be->cur);
		sw_str(w, "<td></td>");
		html_num(w, be->queue);
		html_num(w, be->total);
		html_num(w, be->failures);
		sw_str(w, "<td></td><td></td><td></td><td></td><td></td></tr>\n</table>\n");
	}
}

/* Writes the row of thread <t>. */
static void html_thread_row(struct sw *w, unsigned t, const struct statspage_thread *th)
{
	sw_printf(w, "<tr><td class=n>%u</td>", t);
	html_num(w, th->loops);
	html_num(w, th->tasks_run);
	html_num(w, th->tasklets_run);
	html_num(w, th->timers_fired);
	html_num(w, th->remote_wakeups);
	html_num(w, th->polls);
	html_num(w, th->conn_accepted);
	html_num(w, th->streams);
	html_num(w, th->stream_calls);
	html_num(w, th->buf_waits);
	html_num(w, th->pool_allocs);
	html_num(w, th->pool_failed);
	html_num(w, th->pool_cached);
	sw_str(w, "</tr>\n");
}

/* Renders HTML item (sec, row). Returns 1, 0 past the section, -1 past the end. */
static int html_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	switch (sec) {
	case HT_HEAD:
		if (row)
			return 0;
		html_head(w, d);
		return 1;
	case HT_SUMMARY:
		if (row > NELEM(html_summary) + 1)
			return 0;
		if (row == 0)
			sw_str(w, "<h2>Traffic</h2>\n<table>\n<tr><th>Counter</th><th>Value</th><th>Per second</th></tr>\n");
		else if (row <= NELEM(html_summary))
			html_kv_row(w, d, &html_summary[row - 1]);
		else
			sw_str(w, "</table>\n");
		return 1;
	case HT_FE:
		if (row > d->nb_fe + 1)
			return 0;
		if (row == 0) {
			sw_str(w, "<h2>Frontends</h2>\n<table>\n<tr><th>Frontend</th><th>Connections</th>"
				  "<th>Maxconn</th><th>Binds</th></tr>\n");
		} else if (row <= d->nb_fe) {
			const struct statspage_frontend *f = &d->fe[row - 1];

			sw_str(w, "<tr><td class=n>");
			sw_html(w, f->name);
			sw_str(w, "</td>");
			html_num(w, f->conn_cur);
			html_num(w, f->maxconn);
			html_num(w, f->binds);
			sw_str(w, "</tr>\n");
		} else {
			sw_str(w, "</table>\n");
		}
		return 1;
	case HT_BE: {
		unsigned b;
		long s;

		if (row == 0) {
			sw_str(w, "<h2>Backends and servers</h2>\n");
			return 1;
		}
		if (sp_be_locate(d, row - 1, &b, &s) < 0)
			return 0;
		html_backend(w, d, b, s);
		return 1;
	}
	case HT_POOL:
		if (row > NELEM(html_pool) + 2)
			return 0;
		if (row == 0) {
			sw_str(w, "<h2>Buffer pool</h2>\n<table>\n<tr><th>Figure</th><th>Value</th><th>Per second</th></tr>\n");
		} else if (row <= NELEM(html_pool)) {
			html_kv_row(w, d, &html_pool[row - 1]);
		} else if (row == NELEM(html_pool) + 1) {
			sw_str(w, "</table>\n<table>\n<tr><th>Waiting for a buffer, by criticality</th>");
			for (int c = 0; c < POOL_CRIT_COUNT; c++)
				sw_printf(w, "<th>%s</th>", sp_crit_names[c]);
			sw_str(w, "</tr>\n<tr><td class=n>entries now</td>");
			for (int c = 0; c < POOL_CRIT_COUNT; c++)
				html_num(w, d->pool.waiting_by_crit[c]);
			sw_str(w, "</tr>\n");
		} else {
			sw_str(w, "</table>\n");
		}
		return 1;
	case HT_THR:
		if (row > d->nb_thr + 1)
			return 0;
		if (row == 0)
			sw_str(w, "<h2>Threads</h2>\n<table>\n<tr><th>Thread</th><th>Loops</th><th>Tasks run</th>"
				  "<th>Tasklets run</th><th>Timers fired</th><th>Remote wake-ups</th><th>Polls</th>"
				  "<th>Accepted</th><th>Streams</th><th>Stream calls</th><th>Buffer waits</th>"
				  "<th>Pool allocs</th><th>Pool failures</th><th>Cached buffers</th></tr>\n");
		else if (row <= d->nb_thr)
			html_thread_row(w, row - 1, &d->thr[row - 1]);
		else
			sw_str(w, "</table>\n");
		return 1;
	case HT_END:
		if (row)
			return 0;
		sw_str(w, "</body></html>\n");
		return 1;
	}
	return -1;
}

/* ---- the resumable walk ---- */

typedef int (*sp_item_fn)(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w);

size_t statspage_render(enum statspage_fmt fmt, const struct statspage_data *d,
			struct statspage_cursor *cur, char *dst, size_t room)
{
	sp_item_fn item = fmt == STATSPAGE_JSON ? json_item : fmt == STATSPAGE_PROM ? prom_item : html_item;
	char scratch[SP_ITEM_MAX];
	size_t out = 0;

	while (!cur->done) {
		struct sw w = { scratch, sizeof(scratch), 0 };
		int r = item(d, cur->sec, cur->row, &w);
		size_t left;

		if (r < 0) {
			cur->done = 1;
			break;
		}
		if (r == 0) {
			cur->sec++;
			cur->row = 0;
			cur->off = 0;
			continue;
		}
		/* stop on a real item, so that <done> is set as soon as nothing
		 * is left */
		if (out == room)
			break;
		left = w.len - cur->off;
		if (left <= room - out) {
			memcpy(dst + out, scratch + cur->off, left);
			out += left;
			cur->row++;
			cur->off = 0;
			continue;
		}
		if (out)
			break; /* whole items only, unless not even one fits */
		memcpy(dst, scratch + cur->off, room);
		cur->off += room;
		out = room;
	}
	return out;
}

const char *statspage_content_type(enum statspage_fmt fmt)
{
	switch (fmt) {
	case STATSPAGE_JSON: return "application/json";
	case STATSPAGE_PROM: return "text/plain; version=0.0.4; charset=utf-8";
	default: return "text/html; charset=utf-8";
	}
}

/* Returns non-zero when the <len> bytes at <q> contain <word>. */
static int sp_has(const char *q, size_t len, const char *word)
{
	size_t wl = strlen(word);

	for (size_t i = 0; i + wl <= len; i++)
		if (memcmp(q + i, word, wl) == 0)
			return 1;
	return 0;
}

enum statspage_fmt statspage_fmt_parse(const char *q, size_t len, enum statspage_fmt dflt)
{
	if (!q || !len)
		return dflt;
	if (sp_has(q, len, "json"))
		return STATSPAGE_JSON;
	if (sp_has(q, len, "prom") || sp_has(q, len, "metrics"))
		return STATSPAGE_PROM;
	if (sp_has(q, len, "html"))
		return STATSPAGE_HTML;
	return dflt;
}

/* ---- the snapshot ---- */

/* Unit tests of the renderers build with STATSPAGE_RENDER_ONLY: what
 * follows reads the engine's private structures and links against it. */
#ifndef STATSPAGE_RENDER_ONLY

#include <netinet/in.h>
#include "engine/backend.h"
#include "engine/check.h"
#include "engine/engine.h"

#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Writes "addr:port" of <ss> into <dst>. */
static void sp_addr(const struct sockaddr_storage *ss, char *dst, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(dst, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(dst, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else {
		snprintf(dst, size, "?");
	}
}

/* Fills row <o> from server <s>. */
static void sp_collect_server(const struct server *s, uint64_t now_ms, uint64_t uptime_ms,
			      struct statspage_server *o)
{
	const struct check *chk = __atomic_load_n(&s->check, __ATOMIC_ACQUIRE);
	struct backend *be = s->be;

	o->name = s->cfg->name;
	sp_addr(&s->cfg->addr, o->addr, sizeof(o->addr));
	pthread_spin_lock(&be->lock);
	o->cur = s->cur;
	o->queue = s->queue.len;
	pthread_spin_unlock(&be->lock);
	o->total = RD(s->total);
	o->failures = RD(s->failures);
	o->weight = s->cfg->weight;
	o->maxconn = s->maxconn;
	if (s->cfg->disabled)
		o->state = STATSPAGE_MAINT;
	else
		o->state = __atomic_load_n(&s->down, __ATOMIC_ACQUIRE) ? STATSPAGE_DOWN : STATSPAGE_UP;
	o->up = o->state == STATSPAGE_UP && s->cfg->weight;
	o->last_change_s = uptime_ms / 1000;
	if (chk) {
		struct check_stats cs;

		check_read(chk, &cs);
		o->checked = 1;
		o->chk_ok = cs.ok;
		o->chk_failed = cs.failed;
		o->chk_buf_waits = cs.buf_waits;
		o->chk_buf_timeouts = cs.buf_timeouts;
		o->chk_bufs_taken = cs.bufs_taken;
		o->chk_bufs_released = cs.bufs_released;
		o->chk_changes = cs.changes;
		o->last_change_s = now_ms > cs.last_change_ms ? (now_ms - cs.last_change_ms) / 1000 : 0;
		o->chk_duration_ms = cs.last_duration_ms;
		o->chk_last_status = (uint64_t)(cs.last_status > 0 ? cs.last_status : 0);
		o->chk_reason = check_reason_str(cs.last_reason);
	}
}

/* Fills row <o> from thread <t> of <e>. */
static void sp_collect_thread(const struct engine *e, unsigned t, struct statspage_thread *o)
{
	const struct eng_counters *c = &e->tcs[t].cnt;
	struct sched_stats ss;
	struct pool_stats ps;

	sched_stats(e->sched, t, &ss);
	pool_stats(e->pool, t, &ps);
	o->loops = ss.loops;
	o->tasks_run = ss.tasks_run;
	o->tasklets_run = ss.tasklets_run;
	o->timers_fired = ss.timers_fired;
	o->remote_wakeups = ss.remote_wakeups;
	o->kicks = ss.kicks;
	o->polls = ss.polls;
	o->io_events = ss.io_events;
	o->pool_allocs = ps.allocs;
	o->pool_releases = ps.releases;
	o->pool_failed = ps.failed;
	o->pool_cached = ps.cached;
	o->conn_accepted = RD(c->conn_accepted);
	o->streams = RD(c->streams);
	o->stream_calls = RD(c->stream_calls);
	o->io_calls = RD(c->io_calls);
	o->buf_waits = RD(c->buf_waits);
}

struct statspage_data *statspage_collect(const struct engine *e, unsigned refresh_s)
{
	struct statspage_data *d;
	unsigned nb_srv = 0, k = 0;
	uint64_t now_ms = sched_clock_ms();
	size_t size;
	char *p;

	for (unsigned b = 0; b < e->nb_bes; b++)
		nb_srv += e->bes[b]->nb_srv;
	size = sizeof(*d) + e->nb_fes * sizeof(*d->fe) + e->nb_bes * sizeof(*d->be) +
	       nb_srv * sizeof(*d->srv) + e->nbthread * sizeof(*d->thr);
	d = calloc(1, size);
	if (!d)
		return NULL;
	/* the rows follow the header in the same block; every row type is
	 * made of 8-byte fields, so they stay aligned */
	p = (char *)(d + 1);
	d->fe = (struct statspage_frontend *)p;
	p += e->nb_fes * sizeof(*d->fe);
	d->be = (struct statspage_backend *)p;
	p += e->nb_bes * sizeof(*d->be);
	d->srv = (struct statspage_server *)p;
	p += nb_srv * sizeof(*d->srv);
	d->thr = (struct statspage_thread *)p;
	d->nb_fe = e->nb_fes;
	d->nb_be = e->nb_bes;
	d->nb_srv = nb_srv;
	d->nb_thr = e->nbthread;

	sluice_stats((const struct sluice *)e, &d->st);
	pool_stats(e->pool, -1u, &d->pool);
	d->version = sluice_version();
	d->uptime_ms = e->start_ms && now_ms > e->start_ms ? now_ms - e->start_ms : 0;
	d->refresh_s = refresh_s;
	for (unsigned f = 0; f < e->nb_fes; f++) {
		const struct frontend *fe = &e->fes[f];

		d->fe[f] = (struct statspage_frontend){
			.name = fe->cfg->name, .conn_cur = RD(fe->conn_cur),
			.maxconn = fe->maxconn, .binds = fe->cfg->nb_binds,
		};
	}
	for (unsigned b = 0; b < e->nb_bes; b++) {
		const struct backend *be = e->bes[b];
		struct statspage_backend *o = &d->be[b];

		o->name = be->cfg->name;
		o->balance_lc = be->cfg->balance == CFG_BALANCE_LC;
		o->first_srv = k;
		o->servers = be->nb_srv;
		o->queue = be_queued(e->bes[b]);
		for (unsigned i = 0; i < be->nb_srv; i++, k++) {
			struct statspage_server *s = &d->srv[k];

			sp_collect_server(&be->srv[i], now_ms, d->uptime_ms, s);
			o->cur += s->cur;
			o->total += s->total;
			o->failures += s->failures;
			o->active += s->up;
		}
	}
	for (unsigned t = 0; t < e->nbthread; t++)
		sp_collect_thread(e, t, &d->thr[t]);
	return d;
}

void statspage_free(struct statspage_data *d)
{
	free(d);
}

#endif /* STATSPAGE_RENDER_ONLY */

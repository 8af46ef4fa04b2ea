/* statspage.c - the stats page renderers (see statspage.h).
 *
 * Each format is a function that renders one item at a (section, row)
 * position into a small scratch array; statspage_render() walks the
 * positions and copies whole items into the caller's room. Items depend
 * only on the snapshot and their position, which is what makes the output
 * identical however it is cut.
 *
 * The figures come from the lists written once in sluice.h and
 * statspage.h (X-macros), expanded here into tables of uint64_t offsets
 * (SP_U64 checks the size at compile time) that the three formats walk, so
 * a line added to a list shows in all three and they cannot drift apart.
 * This file reads only the snapshot: it never includes engine.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "engine/core/statspage.h"

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

static const char *const sp_state_names[] = { "UP", "DOWN", "MAINT", "DRAIN" };
static const char *const sp_crit_names[POOL_CRIT_COUNT] = { "newconn", "request", "slot", "response", "emit" };

/* Returns the name of server state <s>. */
static const char *sp_state_name(enum statspage_srv_state s)
{
	return (unsigned)s < sizeof(sp_state_names) / sizeof(sp_state_names[0]) ? sp_state_names[s] : "?";
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

/* Where a figure's value lives in a snapshot. */
enum sp_base { SP_ST, SP_POOL };

/* One engine-wide figure as the three formats show it: one line of a list
 * of sluice.h, expanded (a CLASS line gives six figures, a WAITERS line one
 * per pool criticality for Prometheus). */
struct sp_fig {
	const char *key;            /* flat JSON member; NULL: none */
	const char *prom;           /* Prometheus name and labels; NULL: none */
	const char *help;
	const char *type;           /* "counter" or "gauge" */
	const char *label;          /* HTML row; NULL: none */
	enum sp_base base;
	size_t off;
	enum statspage_unit unit;
	int counter;                /* the HTML row adds a rate */
};

#define SP_IS_counter 1
#define SP_IS_gauge 0

/* The figures of one line of a sluice.h list, by its source. */
#define SP_FIG(name, src, type, prom, help, label) SP_FIG_##src(name, type, prom, help, label)
#define SP_FIG_ONE(name, type, prom, help, label) \
	{ #name, prom, help, #type, label, SP_ST, ST(name), SP_RAW, SP_IS_##type },
#define SP_FIG_THR SP_FIG_ONE
#define SP_FIG_SNAP SP_FIG_ONE
#define SP_FIG_CLASS_(name, type, prom, help, label, cls, i) \
	{ "rsp_" cls, prom "{class=\"" cls "\"}", help, #type, cls " " label, SP_ST, ST(name[i]), SP_RAW, SP_IS_##type },
#define SP_FIG_CLASS(name, type, prom, help, label) \
	SP_FIG_CLASS_(name, type, prom, help, label, "1xx", 1) \
	SP_FIG_CLASS_(name, type, prom, help, label, "2xx", 2) \
	SP_FIG_CLASS_(name, type, prom, help, label, "3xx", 3) \
	SP_FIG_CLASS_(name, type, prom, help, label, "4xx", 4) \
	SP_FIG_CLASS_(name, type, prom, help, label, "5xx", 5) \
	SP_FIG_CLASS_(name, type, prom, help, label, "other", 0)
#define SP_FIG_CRIT_(type, prom, help, crit, c) \
	{ NULL, prom "{crit=\"" crit "\"}", help, #type, NULL, SP_POOL, PS(waiting_by_crit[c]), SP_RAW, SP_IS_##type },
#define SP_FIG_WAITERS(name, type, prom, help, label) \
	{ #name, NULL, help, #type, label, SP_ST, ST(name), SP_RAW, SP_IS_##type }, \
	SP_FIG_CRIT_(type, prom, help, "newconn", POOL_CRIT_NEWCONN) \
	SP_FIG_CRIT_(type, prom, help, "request", POOL_CRIT_REQUEST) \
	SP_FIG_CRIT_(type, prom, help, "slot", POOL_CRIT_SLOT) \
	SP_FIG_CRIT_(type, prom, help, "response", POOL_CRIT_RESPONSE) \
	SP_FIG_CRIT_(type, prom, help, "emit", POOL_CRIT_EMIT)
/* per thread in Prometheus: its family belongs to the thread rows */
#define SP_FIG_SCHED(name, type, prom, help, label) \
	{ #name, NULL, help, #type, label, SP_ST, ST(name), SP_RAW, SP_IS_##type },

static const struct sp_fig sp_traffic[] = { SLUICE_COUNTERS(SP_FIG) };

/* The pool's list, then what the pool counts beyond struct sluice_stats
 * (in the "pool" JSON object instead of flat members). */
static const struct sp_fig sp_pool[] = {
	SLUICE_POOL_COUNTERS(SP_FIG)
	{ NULL, "sluice_pool_buffers_cached", "Free buffers in thread caches.", "gauge",
	  "Cached by threads", SP_POOL, PS(cached), SP_RAW, 0 },
	{ NULL, "sluice_pool_buffers_free_global", "Free buffers on the global free list.", "gauge",
	  "Free (global list)", SP_POOL, PS(global_free), SP_RAW, 0 },
	{ NULL, "sluice_pool_releases_total", "Buffers given back.", "counter",
	  "Releases", SP_POOL, PS(releases), SP_RAW, 1 },
	{ NULL, "sluice_pool_served_at_subscribe_total", "Hand-offs made when the entry subscribed.", "counter",
	  "of which at subscription", SP_POOL, PS(served_at_subscribe), SP_RAW, 1 },
	{ NULL, "sluice_pool_wait_cancels_total", "Waits cancelled before being served.", "counter",
	  "Waits cancelled", SP_POOL, PS(cancels), SP_RAW, 1 },
	{ NULL, "sluice_pool_wait_seconds_total", "Time wait entries spent waiting.", "counter",
	  NULL, SP_POOL, PS(wait_ns_total), SP_NS_TO_S, 1 },
};

static const struct sp_fig sp_sched[] = { SLUICE_SCHED_COUNTERS(SP_FIG) };

/* A sequence of figure tables, walked as one. */
struct sp_figs {
	const struct sp_fig *f;
	unsigned n;
};

#define SP_FIGS(t) { t, NELEM_(t) }

/* JSON and Prometheus: every figure, in the order of struct sluice_stats */
static const struct sp_figs sp_all[] = { SP_FIGS(sp_traffic), SP_FIGS(sp_pool), SP_FIGS(sp_sched) };
/* HTML: the traffic table, with the scheduler sums at its end (the pool
 * table is sp_pool) */
static const struct sp_figs sp_html_traffic[] = { SP_FIGS(sp_traffic), SP_FIGS(sp_sched) };

/* Returns figure <i> of the sequence <t> of <nt> tables, NULL past its end. */
static const struct sp_fig *sp_fig_at(const struct sp_figs *t, size_t nt, unsigned i)
{
	for (size_t k = 0; k < nt; k++) {
		if (i < t[k].n)
			return &t[k].f[i];
		i -= t[k].n;
	}
	return NULL;
}

/* Returns the value of figure <f> in snapshot <d>. */
static uint64_t sp_fig_value(const struct statspage_data *d, const struct sp_fig *f)
{
	return sp_at(f->base == SP_POOL ? (const void *)&d->pool : (const void *)&d->st, f->off);
}

/* Computes the rate of counter figure <f> over window <w> (SP_RATE_1S or
 * SP_RATE_10S) from the snapshot's history into *out, per second.
 * Returns 0 when the history does not cover that window yet. */
static int sp_fig_rate(const struct statspage_data *d, const struct sp_fig *f, unsigned w, double *out)
{
	const struct statspage_sample *a = &d->rate[SP_RATE_NOW], *b = &d->rate[w];
	uint64_t va, vb;

	if (d->nb_rate <= w || a->t_ms <= b->t_ms)
		return 0;
	va = sp_at(f->base == SP_POOL ? (const void *)&a->pool : (const void *)&a->st, f->off);
	vb = sp_at(f->base == SP_POOL ? (const void *)&b->pool : (const void *)&b->st, f->off);
	*out = (double)(va >= vb ? va - vb : 0) * 1000.0 / (double)(a->t_ms - b->t_ms);
	if (f->unit == SP_NS_TO_S)
		*out /= 1e9;
	return 1;
}

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

#define SP_JSON_SRV(f, key, ...) { key, SV(f) },
static const struct sp_field json_srv[] = { SP_SERVER_FIELDS(SP_JSON_SRV) };

static const struct sp_field json_be[] = {
	{ "cur", BE(cur) }, { "total", BE(total) }, { "queue", BE(queue) },
	{ "failures", BE(failures) }, { "servers_total", BE(servers) }, { "servers_active", BE(active) },
};

static const struct sp_field json_fe[] = {
	{ "conn_cur", FE(conn_cur) }, { "maxconn", FE(maxconn) }, { "binds", FE(binds) },
};

#define SP_JSON_THR(f, ...) { #f, TH(f) },
static const struct sp_field json_thr[] = { SP_THREAD_FIELDS(SP_JSON_THR) };

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

/* ---- what rendering one item says ---- */

/* Every format is a walk over (section, row) items; rendering one says
 * where the walk goes next (statspage_render()). */
enum sp_item {
	SP_END = -1,     /* past the last section: the document is complete */
	SP_SEC_END = 0,  /* past the section's last row (nothing written): next section */
	SP_ITEM = 1,     /* an item, written (possibly empty): next row */
};

/* ---- JSON ---- */

enum { JS_FLAT, JS_POOL, JS_RATES, JS_FE, JS_BE, JS_THR, JS_END, JS_COUNT };

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

/* Writes the rate of <f> over window <w> as a JSON number, or null. */
static void json_rate(struct sw *w, const struct statspage_data *d, const struct sp_fig *f, unsigned win)
{
	double r;

	if (sp_fig_rate(d, f, win, &r))
		sw_printf(w, "%.3f", r);
	else
		sw_str(w, "null");
}

/* Writes the width in ms of rate window <win>, or null when it has none. */
static void json_window(struct sw *w, const struct statspage_data *d, unsigned win)
{
	if (d->nb_rate > win && d->rate[0].t_ms > d->rate[win].t_ms)
		sw_u64(w, d->rate[0].t_ms - d->rate[win].t_ms);
	else
		sw_str(w, "null");
}

/* Renders JSON item (sec, row). Returns SP_ITEM, SP_SEC_END past the section, SP_END past the last. */
static enum sp_item json_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	switch (sec) {
	case JS_FLAT: {
		const struct sp_fig *f = row ? sp_fig_at(sp_all, NELEM(sp_all), row - 1) : NULL;

		if (row == 0) {
			sw_str(w, "{\"version\":");
			sw_json_str(w, d->version);
			sw_printf(w, ",\"uptime_ms\":%llu,\"nbthread\":%u", (unsigned long long)d->uptime_ms,
				  (unsigned)d->st.nbthread);
		} else if (!f) {
			return SP_SEC_END;
		} else if (f->key) {
			sw_printf(w, ",\"%s\":", f->key);
			sw_u64(w, sp_fig_value(d, f));
		}
		return SP_ITEM;
	}
	case JS_POOL:
		if (row > NELEM(json_pool) + 1)
			return SP_SEC_END;
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
		return SP_ITEM;
	case JS_RATES: {
		/* "rates": per second over the last 1 s and 10 s, one member
		 * per counter of the flat members; "window_ms" says how wide
		 * each window really was (samples are about a second apart) */
		const struct sp_fig *f = row ? sp_fig_at(sp_all, NELEM(sp_all), row - 1) : NULL;

		if (row == 0) {
			sw_str(w, ",\"rates\":{\"window_ms\":{\"1s\":");
			json_window(w, d, SP_RATE_1S);
			sw_str(w, ",\"10s\":");
			json_window(w, d, SP_RATE_10S);
			sw_str(w, "}");
		} else if (!f) {
			if (sp_fig_at(sp_all, NELEM(sp_all), row - 2) == NULL)
				return SP_SEC_END;
			sw_str(w, "}");
		} else if (f->key && f->counter) {
			sw_printf(w, ",\"%s\":{\"1s\":", f->key);
			json_rate(w, d, f, SP_RATE_1S);
			sw_str(w, ",\"10s\":");
			json_rate(w, d, f, SP_RATE_10S);
			sw_str(w, "}");
		}
		return SP_ITEM;
	}
	case JS_FE:
		if (row > d->nb_fe + 1)
			return SP_SEC_END;
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
		return SP_ITEM;
	case JS_BE: {
		unsigned b;
		long s;

		if (row == 0) {
			sw_str(w, ",\"backends\":[");
			return SP_ITEM;
		}
		if (sp_be_locate(d, row - 1, &b, &s) < 0) {
			/* one closing row after the last backend */
			unsigned total = 0;

			for (unsigned i = 0; i < d->nb_be; i++)
				total += (unsigned)d->be[i].servers + 2;
			if (row - 1 > total)
				return SP_SEC_END;
			sw_str(w, "]");
			return SP_ITEM;
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
		return SP_ITEM;
	}
	case JS_THR:
		if (row > d->nb_thr + 1)
			return SP_SEC_END;
		if (row == 0) {
			sw_str(w, ",\"threads\":[");
		} else if (row <= d->nb_thr) {
			sw_printf(w, "%s{\"thread\":%u", row > 1 ? "," : "", row - 1);
			sw_json_fields(w, json_thr, NELEM(json_thr), &d->thr[row - 1]);
			sw_str(w, "}");
		} else {
			sw_str(w, "]");
		}
		return SP_ITEM;
	case JS_END:
		if (row)
			return SP_SEC_END;
		sw_str(w, "}\n");
		return SP_ITEM;
	}
	return SP_END;
}

/* ---- Prometheus ---- */

/* Rows a family has one sample for. */
enum pm_base {
	PM_INFO,   /* one sample: constant 1 with a version label */
	PM_DATA,   /* one sample: struct statspage_data */
	PM_FE, PM_BE, PM_SRV, PM_THR,
};

/* A family of the head or of the rows (the engine-wide figures are in
 * sp_all). */
struct pm_metric {
	const char *name, *help;
	const char *type;           /* "counter" or "gauge"; NULL name: not exported */
	enum pm_base base;
	size_t off;
	enum statspage_unit unit;
};

static const struct pm_metric pm_head[] = {
	{ "sluice_build_info", "Version of Sluice (always 1).", "gauge", PM_INFO, 0, SP_RAW },
	{ "sluice_uptime_seconds", "Time since the engine started.", "gauge", PM_DATA,
	  SP_U64(struct statspage_data, uptime_ms), SP_MS_TO_S },
};

#define SP_PM_SRV(f, key, type, prom, unit, help) { prom, help, #type, PM_SRV, SV(f), unit },
#define SP_PM_THR(f, src, sf, type, prom, help, head) { prom, help, #type, PM_THR, TH(f), SP_RAW },

static const struct pm_metric pm_rows[] = {
	/* frontends and backends */
	{ "sluice_frontend_connections_current", "Client connections open on the frontend.", "gauge", PM_FE, FE(conn_cur), SP_RAW },
	{ "sluice_frontend_maxconn", "Connection limit of the frontend.", "gauge", PM_FE, FE(maxconn), SP_RAW },
	{ "sluice_backend_servers", "Servers configured in the backend.", "gauge", PM_BE, BE(servers), SP_RAW },
	{ "sluice_backend_servers_active", "Servers of the backend that are UP.", "gauge", PM_BE, BE(active), SP_RAW },
	{ "sluice_backend_sessions_current", "Streams holding a server slot of the backend.", "gauge", PM_BE, BE(cur), SP_RAW },
	{ "sluice_backend_sessions_total", "Streams assigned to servers of the backend.", "counter", PM_BE, BE(total), SP_RAW },
	{ "sluice_backend_queue_current", "Streams queued on the backend and its servers.", "gauge", PM_BE, BE(queue), SP_RAW },
	{ "sluice_backend_connection_failures_total", "Failed connections to servers of the backend.", "counter", PM_BE, BE(failures), SP_RAW },
	SP_SERVER_FIELDS(SP_PM_SRV)
	SP_THREAD_FIELDS(SP_PM_THR)
};

/* Prometheus sections: the head families, the engine-wide figures (one
 * item each), then one section per family of pm_rows. */
enum { PS_HEAD, PS_FIGS, PS_ROWS };

/* Returns the number of samples of row family <m>. */
static unsigned pm_samples(const struct statspage_data *d, const struct pm_metric *m)
{
	switch (m->base) {
	case PM_FE: return d->nb_fe;
	case PM_BE: return d->nb_be;
	case PM_SRV: return d->nb_srv;
	case PM_THR: return d->nb_thr;
	default: return 1;
	}
}

/* Writes value <v> of a family in unit <u>. */
static void pm_value(struct sw *w, uint64_t v, enum statspage_unit u)
{
	if (u == SP_NS_TO_S)
		sw_printf(w, "%llu.%09llu", (unsigned long long)(v / 1000000000u),
			  (unsigned long long)(v % 1000000000u));
	else if (u == SP_MS_TO_S)
		sw_milli(w, v);
	else
		sw_u64(w, v);
}

/* Writes the HELP and TYPE lines of family <name> (its first <len> bytes).
 * OpenMetrics (<om>) names a counter family without the "_total" its
 * samples carry; text 0.0.4 names it as its samples. */
static void pm_family(struct sw *w, const char *name, size_t len, const char *help, const char *type, int om)
{
	if (om && !strcmp(type, "counter") && len > 6 && !memcmp(name + len - 6, "_total", 6))
		len -= 6;
	sw_printf(w, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, name, help, (int)len, name, type);
}

/* Writes figure <i> of sp_all: its family's HELP and TYPE first when it
 * starts a family (its name without labels differs from the previous
 * exported figure's), then its sample. Returns SP_ITEM, or SP_SEC_END
 * past the last figure. */
static enum sp_item pm_fig(struct sw *w, const struct statspage_data *d, unsigned i, int om)
{
	const struct sp_fig *f = sp_fig_at(sp_all, NELEM(sp_all), i), *prev = NULL;
	size_t len;

	if (!f)
		return SP_SEC_END;
	if (!f->prom)
		return SP_ITEM;
	len = strcspn(f->prom, "{");
	for (unsigned k = i; k-- > 0 && !prev;) {
		prev = sp_fig_at(sp_all, NELEM(sp_all), k);
		if (!prev->prom)
			prev = NULL;
	}
	if (!prev || strcspn(prev->prom, "{") != len || memcmp(prev->prom, f->prom, len) != 0)
		pm_family(w, f->prom, len, f->help, f->type, om);
	sw_printf(w, "%s ", f->prom);
	pm_value(w, sp_fig_value(d, f), f->unit);
	sw_str(w, "\n");
	return SP_ITEM;
}

/* Writes sample <i> of row family <m> as one line. */
static void pm_sample(struct sw *w, const struct statspage_data *d, const struct pm_metric *m, unsigned i)
{
	const void *base = NULL;

	sw_str(w, m->name);
	switch (m->base) {
	case PM_INFO:
		sw_str(w, "{version=\"");
		sw_prom_label(w, d->version ? d->version : "unknown");
		sw_str(w, "\"} 1\n");
		return;
	case PM_DATA:
		base = d;
		sw_str(w, " ");
		break;
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
	pm_value(w, sp_at(base, m->off), m->unit);
	sw_str(w, "\n");
}

/* Renders Prometheus item (sec, row): a figure, or a row family's HELP
 * and TYPE lines then one sample per row, in text 0.0.4 or, when <om>,
 * OpenMetrics 1.0.0 (which ends with "# EOF"). Returns SP_ITEM,
 * SP_SEC_END past the section, SP_END past the last one. */
static enum sp_item prom_item_fmt(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w, int om)
{
	const struct pm_metric *m;

	switch (sec) {
	case PS_HEAD:
		if (row >= NELEM(pm_head))
			return SP_SEC_END;
		m = &pm_head[row];
		pm_family(w, m->name, strlen(m->name), m->help, m->type, om);
		pm_sample(w, d, m, 0);
		return SP_ITEM;
	case PS_FIGS:
		return pm_fig(w, d, row, om);
	}
	if (sec - PS_ROWS == NELEM(pm_rows)) {
		if (!om || row)
			return SP_SEC_END;
		sw_str(w, "# EOF\n");
		return SP_ITEM;
	}
	if (sec - PS_ROWS > NELEM(pm_rows))
		return SP_END;
	m = &pm_rows[sec - PS_ROWS];
	if (!m->name || row > pm_samples(d, m))
		return SP_SEC_END;
	if (row == 0)
		pm_family(w, m->name, strlen(m->name), m->help, m->type, om);
	else
		pm_sample(w, d, m, row - 1);
	return SP_ITEM;
}

static enum sp_item prom_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	return prom_item_fmt(d, sec, row, w, 0);
}

static enum sp_item om_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	return prom_item_fmt(d, sec, row, w, 1);
}

/* ---- HTML ---- */

enum { HT_HEAD, HT_SUMMARY, HT_FE, HT_BE, HT_POOL, HT_CHARTS, HT_THR, HT_END, HT_COUNT };

static const char html_style[] =
	"<style>\n"
	"body{font-family:sans-serif;font-size:13px;margin:1em 2em;color:#222}\n"
	"h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}h3{font-size:14px;margin:1em 0 .3em}\n"
	"table{border-collapse:collapse;margin-bottom:.5em}\n"
	"th,td{border:1px solid #bbb;padding:2px 7px}td{text-align:right}\n"
	"th{background:#e4e8ee}td.n{text-align:left}\n"
	"tr.tot td{font-weight:bold;background:#f3f3f3}\n"
	"p.result{background:#ffe;border:1px solid #cc8;padding:4px}td.r{color:#246}svg.chart{margin:0 1em 1em 0;border:1px solid #ddd;background:#fcfcfc}\n"
	"td.UP{background:#bfefbf}td.DOWN{background:#f4b0b0}td.MAINT{background:#d0d0d0}td.DRAIN{background:#b8d8f8}\n"
	"</style>\n";

/* Writes "<td>v</td>". */
static void html_num(struct sw *w, uint64_t v)
{
	sw_str(w, "<td>");
	sw_u64(w, v);
	sw_str(w, "</td>");
}

/* Writes the rate of counter <f> over window <win> as a cell ("-" while
 * the history is shorter than the window). */
static void html_rate(struct sw *w, const struct statspage_data *d, const struct sp_fig *f, unsigned win)
{
	double r;

	if (sp_fig_rate(d, f, win, &r))
		sw_printf(w, "<td class=r>%.1f</td>", r);
	else
		sw_str(w, "<td class=r>-</td>");
}

/* The head of a figure table: its value and current rates. */
#define HTML_FIG_HEAD(what) "<table>\n<tr><th>" what "</th><th>Value</th><th>1 s</th><th>10 s</th></tr>\n"

/* Writes the row of figure <f>, a counter with its rates over the last
 * 1 s and 10 s; nothing for a figure without an HTML label. */
static void html_fig_row(struct sw *w, const struct statspage_data *d, const struct sp_fig *f)
{
	uint64_t v = sp_fig_value(d, f);

	if (!f->label)
		return;
	sw_printf(w, "<tr><td class=n>%s</td>", f->label);
	html_num(w, v);
	if (f->counter) {
		html_rate(w, d, f, SP_RATE_1S);
		html_rate(w, d, f, SP_RATE_10S);
	} else {
		sw_str(w, "<td></td><td></td>");
	}
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
	sw_str(w, ". Rates are per second over the last 1 s and 10 s. Also as <a href=\"?json\">JSON</a>"
		  " and <a href=\"?prom\">Prometheus</a>.</p>\n");
	if (d->admin_result) {
		sw_str(w, "<p class=result>Last action: ");
		sw_html(w, d->admin_result);
		sw_str(w, !strcmp(d->admin_result, "DONE") ? " (applied to every ticked server)" :
			  !strcmp(d->admin_result, "PART") ? " (some servers were not found)" :
			  !strcmp(d->admin_result, "NONE") ? " (no server ticked)" :
			  " (refused: bad request)");
		sw_str(w, "</p>\n");
	}
}

/* Writes server row <s> of a backend table; with <admin>, a first cell
 * that ticks it for the backend's form. */
static void html_server_row(struct sw *w, const struct statspage_server *s, int admin)
{
	const char *st = sp_state_name(s->state);

	sw_str(w, "<tr>");
	if (admin) {
		sw_str(w, "<td><input type=checkbox name=s value=\"");
		sw_html(w, s->name);
		sw_str(w, "\"></td>");
	}
	sw_str(w, "<td class=n>");
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
		sw_printf(w, " (%s)</h3>\n", be->balance_lc ? "leastconn" : "roundrobin");
		if (d->admin) {
			/* HAProxy's form: the ticked servers, an action, the backend */
			sw_str(w, "<form method=post action=\"");
			sw_html(w, d->uri);
			sw_str(w, "\"><input type=hidden name=b value=\"");
			sw_html(w, be->name);
			sw_str(w, "\">\n");
		}
		sw_str(w, d->admin ? "<table>\n<tr><th></th>" : "<table>\n<tr>");
		sw_str(w, "<th>Server</th><th>Address</th><th>State</th><th>Since (s)</th>"
			  "<th>Weight</th><th>Cur</th><th>Maxconn</th><th>Queue</th><th>Total</th>"
			  "<th>Conn. failures</th><th>Checks OK</th><th>Checks failed</th>"
			  "<th>Last check</th><th>Check buffer waits</th><th>Check buffer timeouts</th></tr>\n");
	} else if ((uint64_t)s < be->servers) {
		html_server_row(w, &d->srv[be->first_srv + (unsigned)s], d->admin);
	} else {
		sw_printf(w, "<tr class=tot>%s<td class=n>Backend</td><td class=n>%llu/%llu UP</td><td></td>"
			  "<td></td><td></td>", d->admin ? "<td></td>" : "", (unsigned long long)be->active,
			  (unsigned long long)be->servers);
		html_num(w, be->cur);
		sw_str(w, "<td></td>");
		html_num(w, be->queue);
		html_num(w, be->total);
		html_num(w, be->failures);
		sw_str(w, "<td></td><td></td><td></td><td></td><td></td></tr>\n</table>\n");
		if (d->admin)
			sw_str(w, "<p>Ticked servers: <select name=action><option value=\"\">Choose an action"
				  "</option><option value=ready>Set state to READY</option><option value=drain>"
				  "Set state to DRAIN</option><option value=maint>Set state to MAINT</option>"
				  "</select> <input type=submit value=Apply></p></form>\n");
	}
}

#define SP_HTML_THR_HEAD(f, src, sf, type, prom, help, head) "<th>" head "</th>"
#define SP_HTML_THR_CELL(f, ...) html_num(w, th->f);

/* Writes the row of thread <t>. */
static void html_thread_row(struct sw *w, unsigned t, const struct statspage_thread *th)
{
	sw_printf(w, "<tr><td class=n>%u</td>", t);
	SP_THREAD_FIELDS(SP_HTML_THR_CELL)
	sw_str(w, "</tr>\n");
}

/* ---- HTML: charts of the history (inline SVG, no script) ---- */

#define PT(f) SP_U64(struct statspage_point, f)

/* One line of a chart: a point field, drawn as is (a gauge) or as its
 * per-second difference between neighbouring points (a counter). */
struct sp_series {
	const char *name, *color;
	size_t off;
	int rate;
};

struct sp_chart {
	const char *title;
	const struct sp_series *s;
	unsigned n;
};

static const struct sp_series sp_ser_bufs[] = {
	{ "in use", "#1f77b4", PT(in_use), 0 },
	{ "allocated", "#999999", PT(allocated), 0 },
};
static const struct sp_series sp_ser_wait[] = {
	{ "newconn", "#8c564b", PT(waiting[POOL_CRIT_NEWCONN]), 0 },
	{ "request", "#ff7f0e", PT(waiting[POOL_CRIT_REQUEST]), 0 },
	{ "slot", "#9467bd", PT(waiting[POOL_CRIT_SLOT]), 0 },
	{ "response", "#2ca02c", PT(waiting[POOL_CRIT_RESPONSE]), 0 },
	{ "emit", "#d62728", PT(waiting[POOL_CRIT_EMIT]), 0 },
};
static const struct sp_series sp_ser_rates[] = {
	{ "hand-offs/s", "#17becf", PT(handoffs), 1 },
	{ "failed allocations/s", "#d62728", PT(failed), 1 },
};
static const struct sp_chart sp_charts[] = {
	{ "Buffers", sp_ser_bufs, NELEM(sp_ser_bufs) },
	{ "Waiting for a buffer, by criticality", sp_ser_wait, NELEM(sp_ser_wait) },
	{ "Hand-offs and failed allocations per second", sp_ser_rates, NELEM(sp_ser_rates) },
};

/* Geometry of a chart: the SVG's size and its plot area. */
enum { CH_W = 600, CH_H = 190, CH_X0 = 56, CH_X1 = 588, CH_Y0 = 26, CH_Y1 = 160 };
/* Points per <polyline>: a series is cut in pieces of 1.5 KiB at most (12
 * bytes a point), so that a piece stays one whole item even in a small
 * buffer; pieces overlap by one point so that the line is continuous. */
#define CH_SEG 120

/* Returns the value of series <s> at point <i> into *v: 0 when it has
 * none there (a rate needs the point before). */
static int ch_value(const struct statspage_data *d, const struct sp_series *s, unsigned i, double *v)
{
	const struct statspage_point *p = &d->pts[i];

	if (!s->rate) {
		*v = (double)sp_at(p, s->off);
		return 1;
	}
	if (i == 0 || p->t_ms <= p[-1].t_ms)
		return 0;
	{
		uint64_t a = sp_at(p, s->off), b = sp_at(&p[-1], s->off);

		*v = (double)(a >= b ? a - b : 0) * 1000.0 / (double)(p->t_ms - p[-1].t_ms);
	}
	return 1;
}

/* Returns the time the x axis covers: the history's span rounded up to
 * whole minutes, one minute at least, the whole ring at most. */
static uint64_t ch_window(const struct statspage_data *d)
{
	uint64_t span = d->nb_pts > 1 ? d->pts[d->nb_pts - 1].t_ms - d->pts[0].t_ms : 0;
	uint64_t win = (span / 60000 + 1) * 60000;

	if (d->hist_span_ms && win > d->hist_span_ms)
		win = d->hist_span_ms;
	return win < 60000 ? 60000 : win;
}

/* Returns the top of the y axis for chart <c>: 1, 2 or 5 times a power of
 * ten at or above its largest value (1 at least). */
static double ch_top(const struct statspage_data *d, const struct sp_chart *c)
{
	double max = 0, v, top = 1;

	for (unsigned k = 0; k < c->n; k++)
		for (unsigned i = 0; i < d->nb_pts; i++)
			if (ch_value(d, &c->s[k], i, &v) && v > max)
				max = v;
	while (top < max && top < 1e18) {
		if (top * 2 >= max)
			return top * 2;
		if (top * 5 >= max)
			return top * 5;
		top *= 10;
	}
	return top;
}

/* Writes a time before now as an axis label ("-5 min", "-30 s"). */
static void ch_ago(struct sw *w, uint64_t ms, uint64_t win)
{
	if (win >= 120000)
		sw_printf(w, "-%llu min", (unsigned long long)(ms / 60000));
	else
		sw_printf(w, "-%llu s", (unsigned long long)(ms / 1000));
}

/* Writes the opening of chart <c>: title, grid, axis labels and legend. */
static void ch_open(struct sw *w, const struct statspage_data *d, const struct sp_chart *c)
{
	double top = ch_top(d, c);
	uint64_t win = ch_window(d);

	sw_printf(w, "<svg class=chart xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		  "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
		  CH_W, CH_H, CH_W, CH_H);
	sw_printf(w, "<text x=\"%d\" y=\"12\" font-weight=\"bold\">", CH_X0);
	sw_html(w, c->title);
	sw_str(w, "</text>\n");
	/* grid and y labels at 0, half and top */
	for (int k = 0; k <= 2; k++) {
		int y = CH_Y1 - (CH_Y1 - CH_Y0) * k / 2;

		sw_printf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>"
			  "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%g</text>\n",
			  CH_X0, y, CH_X1, y, k ? "#ddd" : "#888", CH_X0 - 4, y + 4, top * k / 2);
	}
	sw_printf(w, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n",
		  CH_X0, CH_Y0, CH_X0, CH_Y1);
	/* x labels: the window's start, its middle, now */
	sw_printf(w, "<text x=\"%d\" y=\"%d\">", CH_X0, CH_Y1 + 14);
	ch_ago(w, win, win);
	sw_printf(w, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (CH_X0 + CH_X1) / 2, CH_Y1 + 14);
	ch_ago(w, win / 2, win);
	sw_printf(w, "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">now</text>\n", CH_X1, CH_Y1 + 14);
	/* legend, under the x labels */
	for (unsigned k = 0, x = CH_X0; k < c->n; k++) {
		sw_printf(w, "<rect x=\"%u\" y=\"%d\" width=\"10\" height=\"3\" fill=\"%s\"/>"
			  "<text x=\"%u\" y=\"%d\">%s</text>\n", x, CH_Y1 + 23, c->s[k].color, x + 13,
			  CH_Y1 + 28, c->s[k].name);
		x += 13 + 7 * (unsigned)strlen(c->s[k].name) + 14;
	}
}

/* Returns the number of <polyline> pieces of a series over <n> points. */
static unsigned ch_segs(unsigned n)
{
	return n < 2 ? 0 : (n - 2) / (CH_SEG - 1) + 1;
}

/* Writes piece <seg> of series <s> of chart <c> as a <polyline>; nothing
 * when it has fewer than two values. */
static void ch_line(struct sw *w, const struct statspage_data *d, const struct sp_chart *c,
		    const struct sp_series *s, unsigned seg)
{
	double top = ch_top(d, c), v;
	uint64_t win = ch_window(d), now = d->pts[d->nb_pts - 1].t_ms;
	unsigned from = seg * (CH_SEG - 1), to = from + CH_SEG, n = 0;
	struct sw line = *w;

	if (to > d->nb_pts)
		to = d->nb_pts;
	sw_printf(w, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", s->color);
	for (unsigned i = from; i < to; i++) {
		uint64_t ago = now - d->pts[i].t_ms;

		if (ago > win || !ch_value(d, s, i, &v))
			continue;
		sw_printf(w, "%s%.1f,%.1f", n++ ? " " : "",
			  CH_X1 - (double)(CH_X1 - CH_X0) * (double)ago / (double)win,
			  CH_Y1 - (double)(CH_Y1 - CH_Y0) * (v > top ? top : v) / top);
	}
	sw_str(w, "\"/>\n");
	if (n < 2)
		*w = line; /* a single point draws nothing: leave it out */
}

/* Renders item <row> of the charts section: its heading, then per chart
 * its opening, its series' pieces and its end. Returns SP_ITEM, or
 * SP_SEC_END past the section (which is empty when the snapshot carries no
 * points). */
static enum sp_item html_charts(struct sw *w, const struct statspage_data *d, unsigned row)
{
	unsigned segs = ch_segs(d->nb_pts);

	if (!d->pts || !d->nb_pts)
		return SP_SEC_END;
	if (row == 0) {
		sw_str(w, "<h2>History</h2>\n<div class=charts>\n");
		return SP_ITEM;
	}
	row--;
	for (unsigned c = 0; c < NELEM(sp_charts); c++) {
		unsigned span = 2 + sp_charts[c].n * segs;

		if (row >= span) {
			row -= span;
			continue;
		}
		if (row == 0)
			ch_open(w, d, &sp_charts[c]);
		else if (row == span - 1)
			sw_str(w, "</svg>\n");
		else
			ch_line(w, d, &sp_charts[c], &sp_charts[c].s[(row - 1) / segs], (row - 1) % segs);
		return SP_ITEM;
	}
	if (row > 0)
		return SP_SEC_END;
	sw_str(w, "</div>\n");
	return SP_ITEM;
}

/* Renders HTML item (sec, row). Returns SP_ITEM, SP_SEC_END past the section, SP_END past the last. */
static enum sp_item html_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	switch (sec) {
	case HT_HEAD:
		if (row)
			return SP_SEC_END;
		html_head(w, d);
		return SP_ITEM;
	case HT_SUMMARY: {
		const struct sp_fig *f = row ? sp_fig_at(sp_html_traffic, NELEM(sp_html_traffic), row - 1) : NULL;

		if (row == 0)
			sw_str(w, "<h2>Traffic</h2>\n" HTML_FIG_HEAD("Counter"));
		else if (f)
			html_fig_row(w, d, f);
		else if (!sp_fig_at(sp_html_traffic, NELEM(sp_html_traffic), row - 2))
			return SP_SEC_END;
		else
			sw_str(w, "</table>\n");
		return SP_ITEM;
	}
	case HT_FE:
		if (row > d->nb_fe + 1)
			return SP_SEC_END;
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
		return SP_ITEM;
	case HT_BE: {
		unsigned b;
		long s;

		if (row == 0) {
			sw_str(w, "<h2>Backends and servers</h2>\n");
			return SP_ITEM;
		}
		if (sp_be_locate(d, row - 1, &b, &s) < 0)
			return SP_SEC_END;
		html_backend(w, d, b, s);
		return SP_ITEM;
	}
	case HT_POOL:
		if (row > NELEM(sp_pool) + 2)
			return SP_SEC_END;
		if (row == 0) {
			sw_str(w, "<h2>Buffer pool</h2>\n" HTML_FIG_HEAD("Figure"));
		} else if (row <= NELEM(sp_pool)) {
			html_fig_row(w, d, &sp_pool[row - 1]);
		} else if (row == NELEM(sp_pool) + 1) {
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
		return SP_ITEM;
	case HT_CHARTS:
		return html_charts(w, d, row);
	case HT_THR:
		if (row > d->nb_thr + 1)
			return SP_SEC_END;
		if (row == 0)
			sw_str(w, "<h2>Threads</h2>\n<table>\n<tr><th>Thread</th>"
				  SP_THREAD_FIELDS(SP_HTML_THR_HEAD) "</tr>\n");
		else if (row <= d->nb_thr)
			html_thread_row(w, row - 1, &d->thr[row - 1]);
		else
			sw_str(w, "</table>\n");
		return SP_ITEM;
	case HT_END:
		if (row)
			return SP_SEC_END;
		sw_str(w, "</body></html>\n");
		return SP_ITEM;
	}
	return SP_END;
}

/* ---- the resumable walk ---- */

typedef enum sp_item (*sp_item_fn)(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w);

/* ---- CSV, in HAProxy's column order ---- */

/* HAProxy's first 44 columns, in its order: tools written for its `;csv`
 * output find the figures where they look. Columns Sluice has no figure for
 * stay empty, as HAProxy leaves them empty where they do not apply. */
#define CSV_COLUMNS "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ," \
	"eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid," \
	"throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration," \
	"hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other"

/* Writes <s> as a CSV field: HAProxy's names never hold commas or quotes,
 * but a configuration may: such a field is quoted, quotes doubled. */
static void sw_csv_str(struct sw *w, const char *s)
{
	if (!s || !strpbrk(s, ",\"\n")) {
		sw_str(w, s ? s : "");
		return;
	}
	sw_put(w, "\"", 1);
	for (; *s; s++)
		sw_put(w, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
	sw_put(w, "\"", 1);
}

enum { CSV_HEAD, CSV_FE, CSV_BE, CSV_END };

/* Renders CSV item (sec, row). Returns SP_ITEM, SP_SEC_END past the section, SP_END past the last. */
static enum sp_item csv_item(const struct statspage_data *d, unsigned sec, unsigned row, struct sw *w)
{
	unsigned b;
	long si;

	switch (sec) {
	case CSV_HEAD:
		if (row)
			return SP_SEC_END;
		sw_str(w, "# " CSV_COLUMNS "\n");
		return SP_ITEM;
	case CSV_FE: {
		const struct statspage_frontend *f = row < d->nb_fe ? &d->fe[row] : NULL;

		if (!f)
			return SP_SEC_END;
		/* type 0: frontend; the response classes are the engine's */
		sw_csv_str(w, f->name);
		sw_printf(w, ",FRONTEND,,,%llu,,%llu,%llu,%llu,%llu,,,%llu,,,,,OPEN,,,,,,,,,1,%u,0,,,,0,,,,,,,",
			  (unsigned long long)f->conn_cur, (unsigned long long)f->maxconn,
			  (unsigned long long)d->st.conn_accepted, (unsigned long long)d->st.bytes_in,
			  (unsigned long long)d->st.bytes_out, (unsigned long long)d->st.bad_requests, row + 1);
		for (int c = 1; c <= 5; c++)
			sw_printf(w, "%llu,", (unsigned long long)d->st.rsp_by_class[c]);
		sw_printf(w, "%llu\n", (unsigned long long)d->st.rsp_by_class[0]);
		return SP_ITEM;
	}
	case CSV_BE:
		if (sp_be_locate(d, row, &b, &si) < 0)
			return SP_SEC_END;
		if (si < 0)
			return SP_ITEM; /* nothing for the opening row, which the other formats use for a header */
		if (si < (long)d->be[b].servers) {
			const struct statspage_server *v = &d->srv[d->be[b].first_srv + (unsigned)si];

			sw_csv_str(w, d->be[b].name);
			sw_put(w, ",", 1);
			sw_csv_str(w, v->name);
			sw_printf(w, ",%llu,,%llu,,%llu,%llu,,,,,,%llu,,,,%s,%llu,1,0,%llu,,%llu,,,1,%u,%ld,,%llu,,2,,,,",
				  (unsigned long long)v->queue, (unsigned long long)v->cur,
				  (unsigned long long)v->maxconn, (unsigned long long)v->total,
				  (unsigned long long)v->failures, sp_state_name(v->state),
				  (unsigned long long)v->weight, (unsigned long long)v->chk_failed,
				  (unsigned long long)v->last_change_s, b + 1, si + 1,
				  (unsigned long long)v->total);
			if (v->checked)
				sw_printf(w, "%s,%llu,%llu,", v->chk_reason ? v->chk_reason : "",
					  (unsigned long long)v->chk_last_status,
					  (unsigned long long)v->chk_duration_ms);
			else
				sw_str(w, ",,,");
			sw_str(w, ",,,,,\n");
			return SP_ITEM;
		}
		sw_csv_str(w, d->be[b].name);
		sw_printf(w, ",BACKEND,%llu,,%llu,,,%llu,,,,,,%llu,,,,%s,,%llu,0,,,,,,1,%u,0,,%llu,,1,,,,,,,,,,,,\n",
			  (unsigned long long)d->be[b].queue, (unsigned long long)d->be[b].cur,
			  (unsigned long long)d->be[b].total, (unsigned long long)d->be[b].failures,
			  d->be[b].active ? "UP" : "DOWN", (unsigned long long)d->be[b].active, b + 1,
			  (unsigned long long)d->be[b].total);
		return SP_ITEM;
	default:
		return SP_END;
	}
}

size_t statspage_render(enum statspage_fmt fmt, const struct statspage_data *d,
			struct statspage_cursor *cur, char *dst, size_t room)
{
	sp_item_fn item = fmt == STATSPAGE_JSON ? json_item : fmt == STATSPAGE_PROM ? prom_item :
			  fmt == STATSPAGE_OPENMETRICS ? om_item : fmt == STATSPAGE_CSV ? csv_item : html_item;
	char scratch[SP_ITEM_MAX];
	size_t out = 0;

	while (!cur->done) {
		struct sw w = { scratch, sizeof(scratch), 0 };
		enum sp_item r = item(d, cur->sec, cur->row, &w);
		size_t left;

		if (r == SP_END) {
			cur->done = 1;
			break;
		}
		if (r == SP_SEC_END) {
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
	case STATSPAGE_CSV: return "text/csv; charset=utf-8";
	case STATSPAGE_OPENMETRICS: return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	default: return "text/html; charset=utf-8";
	}
}

/* Returns the q parameter of media range r[0..len) in thousandths (1000
 * when absent), and in *version its version parameter (NULL: none). */
static int sp_accept_param(const char *r, size_t len, const char **version, size_t *vlen)
{
	int q = 1000;

	*version = NULL;
	*vlen = 0;
	for (size_t i = 0; i < len; i++) {
		size_t s, e;

		if (r[i] != ';')
			continue;
		for (s = i + 1; s < len && (r[s] == ' ' || r[s] == '\t'); s++)
			;
		for (e = s; e < len && r[e] != ';'; e++)
			;
		while (e > s && (r[e - 1] == ' ' || r[e - 1] == '\t'))
			e--;
		if (e - s >= 2 && (r[s] == 'q' || r[s] == 'Q') && r[s + 1] == '=') {
			/* "0", "0.5", "1", "1.000": thousandths, digits past three ignored */
			size_t k = s + 2;
			int v = 0, scale = 1000;

			if (k < e && r[k] >= '0' && r[k] <= '1')
				v = (r[k++] - '0') * 1000;
			if (k < e && r[k] == '.')
				for (k++; k < e && r[k] >= '0' && r[k] <= '9'; k++)
					if ((scale /= 10) > 0)
						v += (r[k] - '0') * scale;
			q = v > 1000 ? 1000 : v;
		} else if (e - s > 8 && strncasecmp(r + s, "version=", 8) == 0) {
			*version = r + s + 8;
			*vlen = e - s - 8;
		}
		i = e - 1;
	}
	return q;
}

void statspage_accept_scan(const char *v, size_t len, struct statspage_accept *acc)
{
	size_t i = 0;

	while (i < len) {
		size_t s = i, e, t;
		const char *ver;
		size_t vlen;
		int q;

		while (i < len && v[i] != ',')
			i++;
		e = i++;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		for (t = s; t < e && v[t] != ';' && v[t] != ' ' && v[t] != '\t'; t++)
			;
		q = sp_accept_param(v + s, e - s, &ver, &vlen);
#define SP_IS(lit) (t - s == sizeof(lit) - 1 && strncasecmp(v + s, lit, t - s) == 0)
		if (SP_IS("application/openmetrics-text")) {
			if ((!ver || (vlen == 5 && memcmp(ver, "1.0.0", 5) == 0)) && q > acc->q_om)
				acc->q_om = q;
		} else if (SP_IS("text/plain") || SP_IS("text/*") || SP_IS("*/*")) {
			if (q > acc->q_text)
				acc->q_text = q;
		}
#undef SP_IS
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
	if (sp_has(q, len, "csv"))
		return STATSPAGE_CSV;
	if (sp_has(q, len, "html"))
		return STATSPAGE_HTML;
	return dflt;
}

int statspage_json_flat(const struct sluice_stats *s, char *dst, size_t room)
{
	const struct sp_fig *f;
	size_t len;
	int n;

	/* snprintf's own accounting: past the room, count what is needed */
#define SP_PUT(...) (len = (size_t)n < room ? room - (size_t)n : 0, \
		     n += snprintf(len ? dst + n : NULL, len, __VA_ARGS__))
	n = 0;
	SP_PUT("{\"nbthread\":%u", (unsigned)s->nbthread);
	for (unsigned i = 0; (f = sp_fig_at(sp_all, NELEM(sp_all), i)); i++)
		if (f->key && f->base == SP_ST)
			SP_PUT(",\"%s\":%llu", f->key, (unsigned long long)sp_at(s, f->off));
	SP_PUT("}\n");
#undef SP_PUT
	return n;
}

/* test_statspage.c - the stats page renderers over hand-built snapshots:
 * every format is well formed (JSON parses, every Prometheus line follows
 * the exposition grammar with one HELP and TYPE per family, HTML tables
 * are balanced), and rendering in pieces of any size gives the same bytes
 * as rendering at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "engine/core/statspage.h"

#define BIG (1u << 20)

static struct statspage_frontend fe_rows[2];
static struct statspage_backend be_rows[3];
static struct statspage_server srv_rows[5];
static struct statspage_thread thr_rows[3];
static struct statspage_point pt_rows[300];

/* A snapshot with two frontends, three backends (3, 0 and 2 servers, one
 * of each state, one name that needs escaping) and three threads. */
static struct statspage_data sample(void)
{
	struct statspage_data d = { 0 };
	uint64_t *p = (uint64_t *)&d.st;

	/* distinct values everywhere, so that a field rendered from the
	 * wrong place shows */
	for (size_t i = 0; i < offsetof(struct sluice_stats, nbthread) / 8; i++)
		p[i] = 1000 + i * 7;
	d.st.nbthread = 3;
	p = (uint64_t *)&d.pool;
	for (size_t i = 0; i < sizeof(d.pool) / 8; i++)
		p[i] = 5000 + i * 3;
	d.pool.in_use = 2;
	d.pool.wait_ns_total = 1234567890123ull;
	d.version = "0.1.0";
	d.uptime_ms = 93500;
	fe_rows[0] = (struct statspage_frontend){ "web", 12, 10000, 2 };
	fe_rows[1] = (struct statspage_frontend){ "admin", 0, 100, 1 };
	srv_rows[0] = (struct statspage_server){ .name = "s1", .cur = 3, .total = 100, .queue = 1,
		.weight = 1, .maxconn = 10, .up = 1, .chk_ok = 50, .chk_failed = 2,
		.chk_reason = "Layer7 check passed", .chk_last_status = 200, .chk_duration_ms = 1,
		.addr = "127.0.0.1:8081", .state = STATSPAGE_UP, .checked = 1, .last_change_s = 90 };
	srv_rows[1] = (struct statspage_server){ .name = "s2", .failures = 9, .weight = 2,
		.chk_failed = 7, .chk_buf_waits = 3, .chk_buf_timeouts = 1, .chk_bufs_taken = 4,
		.chk_bufs_released = 4, .chk_changes = 1, .chk_reason = "Layer4 connection problem",
		.addr = "[::1]:8082", .state = STATSPAGE_DOWN, .checked = 1 };
	srv_rows[2] = (struct statspage_server){ .name = "s3<&\"'>\\", .addr = "10.0.0.3:80",
		.state = STATSPAGE_MAINT };
	srv_rows[3] = (struct statspage_server){ .name = "x1", .cur = 1, .total = 5, .up = 1,
		.weight = 1, .addr = "127.0.0.1:9001", .state = STATSPAGE_UP };
	srv_rows[4] = (struct statspage_server){ .name = "x2", .total = 4, .up = 1, .weight = 1,
		.addr = "127.0.0.1:9002", .state = STATSPAGE_UP };
	be_rows[0] = (struct statspage_backend){ .name = "app", .cur = 3, .total = 100, .queue = 4,
		.failures = 9, .servers = 3, .active = 1, .first_srv = 0, .balance_lc = 1 };
	be_rows[1] = (struct statspage_backend){ .name = "empty", .first_srv = 3 };
	be_rows[2] = (struct statspage_backend){ .name = "other", .cur = 1, .total = 9, .servers = 2,
		.active = 2, .first_srv = 3 };
	for (unsigned t = 0; t < 3; t++)
		thr_rows[t] = (struct statspage_thread){ .loops = 10 + t, .tasks_run = 20 + t,
			.tasklets_run = 30 + t, .timers_fired = 40 + t, .streams = 50 + t,
			.stream_calls = 60 + t, .pool_allocs = 70 + t };
	d.fe = fe_rows;
	d.be = be_rows;
	d.srv = srv_rows;
	d.thr = thr_rows;
	d.nb_fe = 2;
	d.nb_be = 3;
	d.nb_srv = 5;
	d.nb_thr = 3;
	/* history: 5 requests in the last second, 40 in the last ten; 300
	 * chart points one second apart (three polylines per series) */
	for (unsigned k = 0; k < SP_RATE_COUNT; k++) {
		d.rate[k].st = d.st;
		d.rate[k].pool = d.pool;
	}
	d.rate[SP_RATE_NOW].t_ms = 100000;
	d.rate[SP_RATE_1S].t_ms = 99000;
	d.rate[SP_RATE_10S].t_ms = 90000;
	d.rate[SP_RATE_1S].st.req_received -= 5;
	d.rate[SP_RATE_10S].st.req_received -= 40;
	d.rate[SP_RATE_10S].pool.releases -= 20;
	d.nb_rate = SP_RATE_COUNT;
	for (unsigned i = 0; i < 300; i++) {
		pt_rows[i] = (struct statspage_point){ .t_ms = 100000 - (299 - i) * 1000ull,
			.in_use = i % 7, .allocated = 10, .handoffs = (uint64_t)i * i, .failed = i / 2 };
		for (unsigned c = 0; c < POOL_CRIT_COUNT; c++)
			pt_rows[i].waiting[c] = (i / 10 + c) % 3;
	}
	d.pts = pt_rows;
	d.nb_pts = 300;
	d.hist_span_ms = 600000;
	return d;
}

/* Renders <d> in pieces of <chunk> bytes. Returns a malloc'ed string and
 * sets *len; checks that every call made progress and that done is set at
 * the end only. */
static char *render(enum statspage_fmt fmt, const struct statspage_data *d, size_t chunk, size_t *len)
{
	struct statspage_cursor cur = { 0 };
	char *out = malloc(BIG), *piece = malloc(chunk);
	size_t total = 0;
	unsigned calls = 0;

	cr_assert(out && piece);
	while (!cur.done) {
		size_t n = statspage_render(fmt, d, &cur, piece, chunk);

		cr_assert(n > 0 || cur.done, "no progress at %zu bytes", total);
		cr_assert_leq(n, chunk);
		cr_assert_lt(total + n, (size_t)BIG);
		memcpy(out + total, piece, n);
		total += n;
		cr_assert_lt(++calls, 2000000u, "runaway rendering");
	}
	/* nothing more once done */
	cr_assert_eq(statspage_render(fmt, d, &cur, piece, chunk), 0);
	free(piece);
	out[total] = 0;
	*len = total;
	return out;
}

/* ---- a small JSON validator ---- */

struct jp {
	const char *s;
	size_t i, n;
};

static void jp_ws(struct jp *p)
{
	while (p->i < p->n && strchr(" \t\r\n", p->s[p->i]))
		p->i++;
}

static int jp_value(struct jp *p, int depth);

static int jp_string(struct jp *p)
{
	if (p->s[p->i] != '"')
		return -1;
	for (p->i++; p->i < p->n; p->i++) {
		unsigned char c = (unsigned char)p->s[p->i];

		if (c == '"') {
			p->i++;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			p->i++;
			if (p->i >= p->n || !strchr("\"\\/bfnrtu", p->s[p->i]))
				return -1;
			if (p->s[p->i] == 'u') {
				for (int k = 0; k < 4; k++)
					if (++p->i >= p->n || !isxdigit((unsigned char)p->s[p->i]))
						return -1;
			}
		}
	}
	return -1;
}

static int jp_number(struct jp *p)
{
	size_t start = p->i;

	if (p->s[p->i] == '-')
		p->i++;
	while (p->i < p->n && (isdigit((unsigned char)p->s[p->i]) || strchr(".eE+-", p->s[p->i])))
		p->i++;
	return p->i > start ? 0 : -1;
}

static int jp_container(struct jp *p, char close, int depth)
{
	p->i++;
	jp_ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		jp_ws(p);
		if (close == '}') {
			if (jp_string(p) < 0)
				return -1;
			jp_ws(p);
			if (p->i >= p->n || p->s[p->i++] != ':')
				return -1;
		}
		if (jp_value(p, depth + 1) < 0)
			return -1;
		jp_ws(p);
		if (p->i >= p->n)
			return -1;
		if (p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->s[p->i] == close) {
			p->i++;
			return 0;
		}
		return -1;
	}
}

static int jp_value(struct jp *p, int depth)
{
	if (depth > 32)
		return -1;
	jp_ws(p);
	if (p->i >= p->n)
		return -1;
	switch (p->s[p->i]) {
	case '{': return jp_container(p, '}', depth);
	case '[': return jp_container(p, ']', depth);
	case '"': return jp_string(p);
	case 't': p->i += 4; return strncmp(p->s + p->i - 4, "true", 4) ? -1 : 0;
	case 'f': p->i += 5; return strncmp(p->s + p->i - 5, "false", 5) ? -1 : 0;
	case 'n': p->i += 4; return strncmp(p->s + p->i - 4, "null", 4) ? -1 : 0;
	default: return jp_number(p);
	}
}

/* Returns 0 when <s> is exactly one JSON value (plus white space). */
static int json_valid(const char *s, size_t n)
{
	struct jp p = { s, 0, n };

	if (jp_value(&p, 0) < 0)
		return -1;
	jp_ws(&p);
	return p.i == n ? 0 : -1;
}

/* ---- the Prometheus grammar ---- */

static int prom_name_ok(const char *s, size_t n)
{
	if (!n || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return 0;
	return 1;
}

#define MAX_FAM 256

struct fam {
	char name[96];
	int help, type, samples;
	int counter;
};

static struct fam *fam_get(struct fam *f, int *nf, const char *name, size_t n)
{
	for (int i = 0; i < *nf; i++)
		if (strlen(f[i].name) == n && memcmp(f[i].name, name, n) == 0)
			return &f[i];
	cr_assert_lt(*nf, MAX_FAM);
	cr_assert_lt(n, sizeof(f[0].name));
	memset(&f[*nf], 0, sizeof(f[0]));
	memcpy(f[*nf].name, name, n);
	return &f[(*nf)++];
}

/* Checks one sample line "name{l="v",...} value" and returns its family. */
static struct fam *prom_sample(struct fam *f, int *nf, const char *line, size_t len)
{
	const char *p = line, *end = line + len, *name = line;
	struct fam *fm;
	char *num_end;

	while (p < end && *p != '{' && *p != ' ')
		p++;
	cr_assert(prom_name_ok(name, (size_t)(p - name)), "bad name: %.*s", (int)len, line);
	fm = fam_get(f, nf, name, (size_t)(p - name));
	if (p < end && *p == '{') {
		p++;
		for (;;) {
			const char *ln = p;

			while (p < end && *p != '=')
				p++;
			cr_assert(p < end && prom_name_ok(ln, (size_t)(p - ln)) && ln[0] != ':',
				  "bad label name: %.*s", (int)len, line);
			cr_assert(p + 1 < end && p[1] == '"', "unquoted label: %.*s", (int)len, line);
			for (p += 2; p < end && *p != '"'; p++) {
				if (*p == '\\') {
					p++;
					cr_assert(p < end && strchr("\\\"n", *p), "bad escape: %.*s", (int)len, line);
				}
			}
			cr_assert(p < end, "unterminated label value: %.*s", (int)len, line);
			p++;
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			cr_assert(p < end && *p == '}', "bad label set: %.*s", (int)len, line);
			p++;
			break;
		}
	}
	cr_assert(p < end && *p == ' ', "no value: %.*s", (int)len, line);
	p++;
	cr_assert(p < end && (isdigit((unsigned char)*p) || *p == '-'), "bad value: %.*s", (int)len, line);
	(void)strtod(p, &num_end);
	cr_assert_eq(num_end, end, "junk after the value: %.*s", (int)len, line);
	return fm;
}

/* Checks every line of <text>; returns the number of families. */
static int prom_check(const char *text, size_t n, struct fam *f)
{
	int nf = 0;
	struct fam *cur = NULL;
	const char *p = text, *end = text + n;

	cr_assert(n && text[n - 1] == '\n');
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);

		cr_assert(len > 0, "empty line");
		if (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0) {
			const char *name = p + 7, *sp = memchr(name, ' ', (size_t)(nl - name));
			struct fam *fm;

			cr_assert(sp, "no text: %.*s", (int)len, p);
			cr_assert(prom_name_ok(name, (size_t)(sp - name)), "%.*s", (int)len, p);
			fm = fam_get(f, &nf, name, (size_t)(sp - name));
			if (p[2] == 'H') {
				cr_assert_eq(fm->help, 0, "HELP twice for %s", fm->name);
				cr_assert(sp + 1 < nl, "empty help for %s", fm->name);
				fm->help = 1;
			} else {
				size_t tl = (size_t)(nl - sp - 1);

				cr_assert_eq(fm->type, 0, "TYPE twice for %s", fm->name);
				cr_assert_eq(fm->samples, 0, "TYPE after samples for %s", fm->name);
				cr_assert((tl == 7 && !memcmp(sp + 1, "counter", 7)) ||
					  (tl == 5 && !memcmp(sp + 1, "gauge", 5)), "%.*s", (int)len, p);
				fm->type = 1;
				fm->counter = tl == 7;
			}
			cur = fm;
		} else {
			struct fam *fm;

			cr_assert(p[0] != '#', "unknown comment: %.*s", (int)len, p);
			fm = prom_sample(f, &nf, p, len);
			/* samples of a family follow its own HELP/TYPE, together */
			cr_assert_eq(fm, cur, "sample away from its family: %.*s", (int)len, p);
			cr_assert(fm->help && fm->type, "sample before HELP/TYPE: %s", fm->name);
			fm->samples++;
		}
		p = nl + 1;
	}
	for (int i = 0; i < nf; i++) {
		size_t l = strlen(f[i].name);

		cr_assert(f[i].help && f[i].type, "%s lacks HELP or TYPE", f[i].name);
		cr_assert(strncmp(f[i].name, "sluice_", 7) == 0, "%s", f[i].name);
		cr_assert_eq(f[i].counter, l > 6 && strcmp(f[i].name + l - 6, "_total") == 0,
			     "counter iff _total: %s", f[i].name);
	}
	return nf;
}

/* Returns the value of the sample line starting with <prefix> ("name{...} "). */
static double prom_value(const char *text, const char *prefix)
{
	const char *p = text;
	size_t pl = strlen(prefix);

	while ((p = strstr(p, prefix))) {
		if (p == text || p[-1] == '\n')
			return strtod(p + pl, NULL);
		p += pl;
	}
	cr_assert_fail("no sample %s", prefix);
	return -1;
}

/* ---- tests ---- */

static const size_t chunks[] = { 512, 16384, 100, 7, 1 };

Test(statspage, same_bytes_whatever_the_pieces)
{
	struct statspage_data d = sample();

	for (int f = STATSPAGE_HTML; f <= STATSPAGE_OPENMETRICS; f++) {
		size_t whole_len, len;
		char *whole = render(f, &d, BIG, &whole_len);

		cr_assert_gt(whole_len, 1000u);
		for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
			char *cut = render(f, &d, chunks[c], &len);

			cr_assert_eq(len, whole_len, "format %d, pieces of %zu: %zu bytes vs %zu", f,
				     chunks[c], len, whole_len);
			cr_assert(memcmp(cut, whole, len) == 0, "format %d, pieces of %zu differ", f, chunks[c]);
			free(cut);
		}
		free(whole);
	}
}

Test(statspage, pieces_hold_whole_lines)
{
	struct statspage_data d = sample();

	/* with room for many items, each piece ends at an item boundary,
	 * and Prometheus and HTML items end with a newline */
	for (int f = STATSPAGE_HTML; f <= STATSPAGE_PROM; f += 2) {
		struct statspage_cursor cur = { 0 };
		char piece[2048];
		unsigned pieces = 0;

		while (!cur.done) {
			size_t n = statspage_render(f, &d, &cur, piece, sizeof(piece));

			if (!n)
				break;
			cr_assert_eq(piece[n - 1], '\n', "format %d: piece %u cut mid-line", f, pieces);
			pieces++;
		}
		cr_assert_gt(pieces, 2u);
	}
}

Test(statspage, json_parses_and_has_everything)
{
	struct statspage_data d = sample();
	size_t len;
	char *j = render(STATSPAGE_JSON, &d, 512, &len);

	cr_assert_eq(json_valid(j, len), 0, "invalid JSON:\n%s", j);
	/* the flat members of sluice_stats_json() stay at the top level */
	cr_assert(strstr(j, "{\"version\":\"0.1.0\",\"uptime_ms\":93500,\"nbthread\":3,\"conn_accepted\":1000,"));
	cr_assert(strstr(j, "\"req_received\":"));
	cr_assert(strstr(j, "\"pool_passes_on\":"));
	cr_assert(strstr(j, "\"sched_timers_fired\":"));
	cr_assert(strstr(j, "\"waiting_by_crit\":{\"newconn\":"));
	cr_assert(strstr(j, "\"pool\":{\"in_use\":"));
	cr_assert(strstr(j, "\"name\":\"s2\",\"addr\":\"[::1]:8082\",\"state\":\"DOWN\",\"checked\":true"));
	cr_assert(strstr(j, "\"state\":\"MAINT\""));
	cr_assert(strstr(j, "\"name\":\"s3<&\\\"'>\\\\\""), "escaping: %s", j);
	cr_assert(strstr(j, "\"name\":\"empty\",\"balance\":\"roundrobin\""));
	cr_assert(strstr(j, "\"servers\":[]"));
	cr_assert(strstr(j, "\"threads\":[{\"thread\":0,\"loops\":10"));
	cr_assert(strstr(j, "\"check_reason\":null"));
	free(j);
}

Test(statspage, prometheus_follows_the_grammar)
{
	static struct fam fams[MAX_FAM];
	struct statspage_data d = sample();
	size_t len;
	char *t = render(STATSPAGE_PROM, &d, 512, &len);
	int nf = prom_check(t, len, fams);
	int waiters = 0;

	cr_assert_gt(nf, 60);
	/* counters the brief names, with their values */
	cr_assert_eq(prom_value(t, "sluice_stream_calls_total "), (double)d.st.stream_calls);
	cr_assert_eq(prom_value(t, "sluice_streams_total "), (double)d.st.streams);
	cr_assert_eq(prom_value(t, "sluice_pool_passes_on_total "), (double)d.st.pool_passes_on);
	cr_assert_eq(prom_value(t, "sluice_pool_handoffs_total "), (double)d.st.pool_handoffs);
	cr_assert_eq(prom_value(t, "sluice_responses_total{class=\"4xx\"} "), (double)d.st.rsp_by_class[4]);
	cr_assert_eq(prom_value(t, "sluice_timeouts_total{kind=\"http_request\"} "),
		     (double)d.st.timeouts_http_request);
	cr_assert_eq(prom_value(t, "sluice_pool_waiters{crit=\"response\"} "),
		     (double)d.pool.waiting_by_crit[POOL_CRIT_RESPONSE]);
	cr_assert_eq(prom_value(t, "sluice_pool_wait_seconds_total "), 1234.567890123);
	cr_assert_eq(prom_value(t, "sluice_uptime_seconds "), 93.5);
	cr_assert_eq(prom_value(t, "sluice_server_up{backend=\"app\",server=\"s2\"} "), 0);
	cr_assert_eq(prom_value(t, "sluice_server_checks_failed_total{backend=\"app\",server=\"s2\"} "), 7);
	cr_assert_eq(prom_value(t, "sluice_server_check_buffer_waits_total{backend=\"app\",server=\"s2\"} "), 3);
	cr_assert_eq(prom_value(t, "sluice_server_sessions_total{backend=\"other\",server=\"x2\"} "), 4);
	cr_assert_eq(prom_value(t, "sluice_backend_servers_active{backend=\"app\"} "), 1);
	cr_assert_eq(prom_value(t, "sluice_sched_timers_fired_total{thread=\"2\"} "), 42);
	cr_assert_eq(prom_value(t, "sluice_frontend_connections_current{frontend=\"web\"} "), 12);
	cr_assert(strstr(t, "server=\"s3<&\\\"'>\\\\\"}"), "label escaping");
	for (int i = 0; i < nf; i++)
		if (strcmp(fams[i].name, "sluice_pool_waiters") == 0)
			waiters = fams[i].samples;
	cr_assert_eq(waiters, POOL_CRIT_COUNT);
	free(t);
}

/* Counts the occurrences of <needle> in <hay>. */
static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(statspage, html_is_balanced_and_complete)
{
	struct statspage_data d = sample();
	size_t len;
	char *h;

	d.refresh_s = 5;
	h = render(STATSPAGE_HTML, &d, 512, &len);
	cr_assert(strncmp(h, "<!DOCTYPE html>\n<html>", 22) == 0);
	cr_assert(strcmp(h + len - 15, "</body></html>\n") == 0);
	cr_assert(strstr(h, "<meta http-equiv=\"refresh\" content=\"5\">"));
	cr_assert_eq(count(h, "<table>"), count(h, "</table>"));
	cr_assert_eq(count(h, "<tr"), count(h, "</tr>"));
	cr_assert_eq(count(h, "<td"), count(h, "</td>"));
	cr_assert_eq(count(h, "<h3>Backend "), 3);
	cr_assert(strstr(h, "<td class=DOWN>DOWN</td>"));
	cr_assert(strstr(h, "<td class=MAINT>MAINT</td>"));
	cr_assert_eq(count(h, "<td class=UP>UP</td>"), 3);
	cr_assert(strstr(h, "s3&lt;&amp;&quot;&#39;&gt;\\"), "escaping");
	cr_assert(!strstr(h, "s3<"));
	cr_assert(strstr(h, "<td class=n>Layer7 check passed (200) in 1 ms</td>"));
	cr_assert(strstr(h, "<th>newconn</th><th>request</th><th>slot</th><th>response</th><th>emit</th>"));
	cr_assert(strstr(h, "<td class=n>Passes-on</td>"));
	cr_assert(strstr(h, "<td class=n>Stream processing calls</td>"));
	free(h);
	d.refresh_s = 0;
	h = render(STATSPAGE_HTML, &d, BIG, &len);
	cr_assert(!strstr(h, "http-equiv"));
	free(h);
}

Test(statspage, empty_snapshot)
{
	static struct fam fams[MAX_FAM];
	struct statspage_data d = { .version = "0.1.0" };
	size_t len;
	char *s;

	s = render(STATSPAGE_JSON, &d, 64, &len);
	cr_assert_eq(json_valid(s, len), 0, "%s", s);
	cr_assert(strstr(s, "\"frontends\":[],\"backends\":[],\"threads\":[]"));
	free(s);
	s = render(STATSPAGE_PROM, &d, 64, &len);
	prom_check(s, len, fams);
	free(s);
	s = render(STATSPAGE_HTML, &d, 64, &len);
	cr_assert(strstr(s, "</html>\n"));
	cr_assert(strstr(s, "<td class=r>-</td>"), "no rate without history");
	cr_assert_null(strstr(s, "<svg"), "no chart without points");
	free(s);
}

Test(statspage, zero_room_writes_nothing)
{
	struct statspage_data d = sample();
	struct statspage_cursor cur = { 0 };
	char c;

	cr_assert_eq(statspage_render(STATSPAGE_JSON, &d, &cur, &c, 0), 0);
	cr_assert_eq(cur.done, 0);
	cr_assert_eq(statspage_render(STATSPAGE_JSON, &d, &cur, &c, 1), 1);
	cr_assert_eq(c, '{');
}

Test(statspage, formats_and_types)
{
	cr_assert_eq(statspage_fmt_parse(NULL, 0, STATSPAGE_JSON), STATSPAGE_JSON);
	cr_assert_eq(statspage_fmt_parse("", 0, STATSPAGE_HTML), STATSPAGE_HTML);
	cr_assert_eq(statspage_fmt_parse("?json", 5, STATSPAGE_HTML), STATSPAGE_JSON);
	cr_assert_eq(statspage_fmt_parse(";format=json", 12, STATSPAGE_HTML), STATSPAGE_JSON);
	cr_assert_eq(statspage_fmt_parse("?prom", 5, STATSPAGE_HTML), STATSPAGE_PROM);
	cr_assert_eq(statspage_fmt_parse("?format=prometheus", 18, STATSPAGE_JSON), STATSPAGE_PROM);
	cr_assert_eq(statspage_fmt_parse("/metrics", 8, STATSPAGE_JSON), STATSPAGE_PROM);
	cr_assert_eq(statspage_fmt_parse("?html", 5, STATSPAGE_JSON), STATSPAGE_HTML);
	cr_assert_eq(statspage_fmt_parse("?x=1", 4, STATSPAGE_PROM), STATSPAGE_PROM);
	cr_assert_str_eq(statspage_content_type(STATSPAGE_JSON), "application/json");
	cr_assert(strstr(statspage_content_type(STATSPAGE_PROM), "version=0.0.4"));
	cr_assert(strstr(statspage_content_type(STATSPAGE_HTML), "text/html"));
}

/* ---- the lists: every line in every format ---- */

/* One line of the lists of sluice.h, as written. */
struct line {
	const char *name, *src, *type, *prom, *help, *label;
	size_t off;
};

#define LINE(name, src, type, prom, help, label) \
	{ #name, #src, #type, prom, help, label, offsetof(struct sluice_stats, name) },
static const struct line lines[] = {
	SLUICE_COUNTERS(LINE)
	SLUICE_POOL_COUNTERS(LINE)
	SLUICE_SCHED_COUNTERS(LINE)
};

/* The six keys, labels and indexes a CLASS line stands for. */
static const struct { const char *cls; int i; } classes[] = {
	{ "1xx", 1 }, { "2xx", 2 }, { "3xx", 3 }, { "4xx", 4 }, { "5xx", 5 }, { "other", 0 },
};

static const char *const crits[POOL_CRIT_COUNT] = { "newconn", "request", "slot", "response", "emit" };

/* Returns the uint64_t <off> bytes into <base>. */
static uint64_t u64_at(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* Checks that <json> has member "key":<v>. */
static void has_json(const char *json, const char *key, uint64_t v)
{
	char want[160];

	snprintf(want, sizeof(want), "\"%s\":%llu,", key, (unsigned long long)v);
	cr_assert(strstr(json, want), "JSON lacks %s", want);
}

/* Checks that <prom> has HELP (with <help> unless NULL) and TYPE <type>
 * for the family of <name> (<name> up to its labels). */
static void has_family(const char *prom, const char *name, const char *help, const char *type)
{
	char want[400];
	int len = (int)strcspn(name, "{");

	if (help)
		snprintf(want, sizeof(want), "# HELP %.*s %s\n", len, name, help);
	else
		snprintf(want, sizeof(want), "# HELP %.*s ", len, name);
	cr_assert(strstr(prom, want), "Prometheus lacks %s", want);
	snprintf(want, sizeof(want), "# TYPE %.*s %s\n", len, name, type);
	cr_assert(strstr(prom, want), "Prometheus lacks %s", want);
}

/* Checks that <html> has the row <label> with value <v>. */
static void has_row(const char *html, const char *label, uint64_t v)
{
	char want[200];

	snprintf(want, sizeof(want), "<tr><td class=n>%s</td><td>%llu</td>", label, (unsigned long long)v);
	cr_assert(strstr(html, want), "HTML lacks %s", want);
}

Test(statspage, every_counter_of_the_lists_in_every_format)
{
	struct statspage_data d = sample();
	size_t jl, pl, hl;
	char *j = render(STATSPAGE_JSON, &d, BIG, &jl);
	char *p = render(STATSPAGE_PROM, &d, BIG, &pl);
	char *h = render(STATSPAGE_HTML, &d, BIG, &hl);
	char want[200];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct line *l = &lines[i];
		uint64_t v = u64_at(&d.st, l->off);

		cr_assert(!strcmp(l->type, "counter") || !strcmp(l->type, "gauge"), "%s: %s", l->name, l->type);
		if (!strcmp(l->src, "CLASS")) {
			has_family(p, l->prom, l->help, l->type);
			for (size_t c = 0; c < 6; c++) {
				v = u64_at(&d.st, l->off + 8 * (size_t)classes[c].i);
				snprintf(want, sizeof(want), "rsp_%s", classes[c].cls);
				has_json(j, want, v);
				snprintf(want, sizeof(want), "%s{class=\"%s\"} ", l->prom, classes[c].cls);
				cr_assert_eq(prom_value(p, want), (double)v, "%s", want);
				snprintf(want, sizeof(want), "%s %s", classes[c].cls, l->label);
				has_row(h, want, v);
			}
			continue;
		}
		has_json(j, l->name, v);
		has_row(h, l->label, v);
		if (!strcmp(l->src, "WAITERS")) {
			/* by criticality: the pool's own figures */
			has_family(p, l->prom, l->help, l->type);
			for (int c = 0; c < POOL_CRIT_COUNT; c++) {
				snprintf(want, sizeof(want), "%s{crit=\"%s\"} ", l->prom, crits[c]);
				cr_assert_eq(prom_value(p, want), (double)d.pool.waiting_by_crit[c], "%s", want);
			}
		} else if (!strcmp(l->src, "SCHED")) {
			/* per thread: the family of the thread rows */
			has_family(p, l->prom, NULL, l->type);
			snprintf(want, sizeof(want), "%s{thread=\"0\"} ", l->prom);
			(void)prom_value(p, want);
		} else {
			has_family(p, l->prom, l->help, l->type);
			snprintf(want, sizeof(want), "%s ", l->prom);
			cr_assert_eq(prom_value(p, want), (double)v, "%s", want);
		}
	}
	free(j);
	free(p);
	free(h);
}

/* One line of SP_THREAD_FIELDS or SP_SERVER_FIELDS, as written. */
struct row_line {
	const char *key, *type, *prom, *help, *head;
	size_t off;
	enum statspage_unit unit;
};

#define THR_LINE(f, src, sf, type, prom, help, head) \
	{ #f, #type, prom, help, head, offsetof(struct statspage_thread, f), SP_RAW },
#define SRV_LINE(f, key, type, prom, unit, help) \
	{ key, #type, prom, help, NULL, offsetof(struct statspage_server, f), unit },

Test(statspage, every_thread_and_server_field_in_every_format)
{
	static const struct row_line thr[] = { SP_THREAD_FIELDS(THR_LINE) };
	static const struct row_line srv[] = { SP_SERVER_FIELDS(SRV_LINE) };
	struct statspage_data d = sample();
	size_t jl, pl, hl;
	char *j = render(STATSPAGE_JSON, &d, BIG, &jl);
	char *p = render(STATSPAGE_PROM, &d, BIG, &pl);
	char *h = render(STATSPAGE_HTML, &d, BIG, &hl);
	char want[300];

	for (size_t i = 0; i < sizeof(thr) / sizeof(thr[0]); i++) {
		uint64_t v = u64_at(&thr_rows[2], thr[i].off);

		/* the last thread's object: the key is followed by , or } */
		snprintf(want, sizeof(want), "\"%s\":%llu", thr[i].key, (unsigned long long)v);
		cr_assert(strstr(strstr(j, "{\"thread\":2"), want), "JSON lacks %s", want);
		snprintf(want, sizeof(want), "<th>%s</th>", thr[i].head);
		cr_assert(strstr(h, want), "HTML lacks %s", want);
		if (!thr[i].prom)
			continue;
		has_family(p, thr[i].prom, thr[i].help, thr[i].type);
		snprintf(want, sizeof(want), "%s{thread=\"2\"} ", thr[i].prom);
		cr_assert_eq(prom_value(p, want), (double)v, "%s", want);
	}
	for (size_t i = 0; i < sizeof(srv) / sizeof(srv[0]); i++) {
		uint64_t v = u64_at(&srv_rows[1], srv[i].off);

		snprintf(want, sizeof(want), "\"%s\":%llu,", srv[i].key, (unsigned long long)v);
		cr_assert(strstr(strstr(j, "\"name\":\"s2\""), want), "JSON lacks %s", want);
		has_family(p, srv[i].prom, srv[i].help, srv[i].type);
		snprintf(want, sizeof(want), "%s{backend=\"app\",server=\"s2\"} ", srv[i].prom);
		cr_assert_eq(prom_value(p, want), srv[i].unit == SP_MS_TO_S ? (double)v / 1000 : (double)v,
			     "%s", want);
	}
	free(j);
	free(p);
	free(h);
}

Test(statspage, json_flat_is_the_pages_flat_members)
{
	struct statspage_data d = sample();
	size_t jl;
	char *j = render(STATSPAGE_JSON, &d, BIG, &jl);
	char flat[8192], cut[16];
	int n = statspage_json_flat(&d.st, flat, sizeof(flat));

	cr_assert_gt(n, 100);
	cr_assert_lt((size_t)n, sizeof(flat));
	cr_assert_eq((size_t)n, strlen(flat));
	cr_assert_eq(json_valid(flat, (size_t)n), 0, "%s", flat);
	cr_assert(strncmp(flat, "{\"nbthread\":3,", 14) == 0, "%s", flat);
	cr_assert_str_eq(flat + n - 2, "}\n");
	/* the page's top level holds the same members in the same order */
	flat[n - 2] = 0;
	cr_assert(strstr(j, flat + 1), "the page's JSON lacks %s", flat + 1);
	/* like snprintf: cut and terminated, the whole length returned */
	cr_assert_eq(statspage_json_flat(&d.st, cut, sizeof(cut)), n);
	cr_assert_eq(strlen(cut), sizeof(cut) - 1);
	cr_assert_eq(statspage_json_flat(&d.st, NULL, 0), n);
	free(j);
}

/* Returns the number of fields of the CSV line at <s> (up to its '\n'). */
static int csv_fields(const char *s)
{
	int n = 1, quoted = 0;

	for (; *s && *s != '\n'; s++) {
		if (*s == '"')
			quoted = !quoted;
		else if (*s == ',' && !quoted)
			n++;
	}
	return n;
}

/* HAProxy's `;csv`: a header naming its columns in its order, then one
 * line per frontend, per server and per backend, each with as many fields
 * as the header, names first. */
Test(statspage, csv_has_haproxys_columns)
{
	struct statspage_data d = sample();
	size_t len;
	char *csv = render(STATSPAGE_CSV, &d, BIG, &len);
	int nlines = 0, head_fields;
	const char *l;

	cr_assert(strncmp(csv, "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,", 55) == 0, "%.80s", csv);
	head_fields = csv_fields(csv + 2);
	cr_assert_eq(head_fields, 45);
	for (l = strchr(csv, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
		cr_assert_eq(csv_fields(l), head_fields, "line %d: %.120s", nlines, l);
		nlines++;
	}
	cr_assert_eq(nlines, (int)(d.nb_fe + d.nb_srv + d.nb_be), "%d lines", nlines);
	cr_assert(strstr(csv, ",FRONTEND,"));
	cr_assert(strstr(csv, ",BACKEND,"));
	cr_assert_eq(statspage_fmt_parse(";csv", 4, STATSPAGE_HTML), STATSPAGE_CSV);
	cr_assert(strstr(statspage_content_type(STATSPAGE_CSV), "text/csv"));
	free(csv);
}

/* ---- history: rates and charts ---- */

Test(statspage, rates_over_the_last_1s_and_10s)
{
	struct statspage_data d = sample();
	char want[256];
	size_t len;
	char *s;

	s = render(STATSPAGE_HTML, &d, BIG, &len);
	snprintf(want, sizeof(want), "Requests received</td><td>%llu</td><td class=r>5.0</td><td class=r>4.0</td>",
		 (unsigned long long)d.st.req_received);
	cr_assert(strstr(s, want), "%s", want);
	cr_assert(strstr(s, "<th>1 s</th><th>10 s</th>"));
	cr_assert(strstr(s, "Releases</td>"), "pool rows too");
	cr_assert(strstr(s, "<td class=r>2.0</td></tr>"), "20 releases over 10 s");
	free(s);
	s = render(STATSPAGE_JSON, &d, 100, &len);
	cr_assert_eq(json_valid(s, len), 0, "%s", s);
	cr_assert(strstr(s, "\"rates\":{\"window_ms\":{\"1s\":1000,\"10s\":10000}"));
	cr_assert(strstr(s, ",\"req_received\":{\"1s\":5.000,\"10s\":4.000}"));
	cr_assert(strstr(s, ",\"bytes_in\":{\"1s\":0.000,\"10s\":0.000}"));
	cr_assert_null(strstr(s, "\"conn_current\":{"), "no rate for a gauge");
	free(s);
	/* one sample only: no window yet */
	d.nb_rate = 1;
	s = render(STATSPAGE_JSON, &d, BIG, &len);
	cr_assert_eq(json_valid(s, len), 0, "%s", s);
	cr_assert(strstr(s, "\"window_ms\":{\"1s\":null,\"10s\":null}"));
	cr_assert(strstr(s, ",\"req_received\":{\"1s\":null,\"10s\":null}"));
	free(s);
}

/* Counts the occurrences of <w> in <s>. */
static unsigned count_of(const char *s, const char *w)
{
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, w)); p += strlen(w))
		n++;
	return n;
}

Test(statspage, charts_are_inline_svg_with_points)
{
	struct statspage_data d = sample();
	size_t len;
	unsigned polylines = 0;
	char *s = render(STATSPAGE_HTML, &d, 4096, &len);

	cr_assert_eq(count_of(s, "<svg"), 3);
	cr_assert_eq(count_of(s, "</svg>"), 3);
	cr_assert_null(strstr(s, "<script"), "no script");
	cr_assert_null(strstr(s, "href=\"http"), "nothing external");
	cr_assert(strstr(s, ">-5 min</text>") && strstr(s, ">now</text>"), "x axis labels");
	cr_assert(strstr(s, ">hand-offs/s</text>") && strstr(s, ">emit</text>"), "legends");
	/* 2 + 5 + 2 series, 300 points each in three pieces of 120 */
	for (const char *p = s; (p = strstr(p, "points=\"")); polylines++) {
		const char *end = strchr(p += 8, '"');
		unsigned pairs = 0;

		cr_assert_not_null(end);
		while (p < end) {
			char *e;
			double x = strtod(p, &e), y;

			cr_assert_eq(*e, ',', "x,y pairs");
			y = strtod(e + 1, &e);
			cr_assert(x >= 56 && x <= 588 && y >= 26 && y <= 160, "(%g,%g) inside the plot", x, y);
			pairs++;
			p = e;
			while (*p == ' ')
				p++;
		}
		cr_assert_geq(pairs, 2u);
	}
	cr_assert_eq(polylines, 27u);
	free(s);
	/* a y axis that holds the largest value: hand-offs reach 2*299 per second */
	s = render(STATSPAGE_HTML, &d, BIG, &len);
	cr_assert(strstr(s, "text-anchor=\"end\">1000</text>"), "top of the hand-off chart");
	free(s);
	d.pts = NULL;
	s = render(STATSPAGE_HTML, &d, BIG, &len);
	cr_assert_null(strstr(s, "<svg"));
	free(s);
}

/* ---- OpenMetrics ---- */

Test(statspage, openmetrics_names_counters_and_ends_with_eof)
{
	struct statspage_data d = sample();
	size_t len, tlen;
	char *om = render(STATSPAGE_OPENMETRICS, &d, 100, &len);
	char *text = render(STATSPAGE_PROM, &d, BIG, &tlen);
	unsigned counters = 0;

	cr_assert(len > 6 && !strcmp(om + len - 6, "# EOF\n"), "ends with # EOF");
	cr_assert_eq(count_of(om, "# EOF"), 1u);
	cr_assert_null(strstr(text, "# EOF"), "text 0.0.4 has none");
	cr_assert_null(strstr(om, "_total counter\n"), "counter families named without _total");
	cr_assert(strstr(om, "# TYPE sluice_requests counter\nsluice_requests_total "));
	cr_assert(strstr(text, "# TYPE sluice_requests_total counter\nsluice_requests_total "));
	/* every sample of a counter family is named family_total */
	for (const char *p = om; (p = strstr(p, "# TYPE ")); counters++) {
		const char *name = p + 7, *sp = strchr(name, ' ');
		const char *nl = strchr(sp, '\n');
		char fam[128];

		p = nl + 1;
		if (strncmp(sp, " counter\n", 9)) {
			counters--;
			continue;
		}
		snprintf(fam, sizeof(fam), "%.*s_total", (int)(sp - name), name);
		for (const char *q = p; *q && *q != '#'; q = strchr(q, '\n') + 1)
			cr_assert(!strncmp(q, fam, strlen(fam)) && (q[strlen(fam)] == ' ' || q[strlen(fam)] == '{'),
				  "sample of %s: %.40s", fam, q);
	}
	cr_assert_gt(counters, 50u);
	/* the same samples in both: only the family lines differ */
	cr_assert_eq(len - 6 + count_of(text, "_total counter\n") * 12, tlen);
	free(om);
	free(text);
	cr_assert_str_eq(statspage_content_type(STATSPAGE_OPENMETRICS),
			 "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

/* Returns the Accept weights of header value <v>. */
static struct statspage_accept accept_of(const char *v)
{
	struct statspage_accept a = { -1, -1 };

	statspage_accept_scan(v, strlen(v), &a);
	return a;
}

Test(statspage, accept_weights)
{
	struct statspage_accept a;

	/* what Prometheus 2.x sends */
	a = accept_of("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
		      "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
	cr_assert(a.q_om == 1000 && a.q_text == 500, "%d %d", a.q_om, a.q_text);
	a = accept_of("application/openmetrics-text; version=1.0.0; charset=utf-8");
	cr_assert(a.q_om == 1000 && a.q_text == -1);
	a = accept_of("application/openmetrics-text;version=0.0.1");
	cr_assert_eq(a.q_om, -1, "another version is not ours");
	a = accept_of("text/plain, application/OpenMetrics-Text;q=0.3");
	cr_assert(a.q_om == 300 && a.q_text == 1000);
	a = accept_of("application/openmetrics-text;q=0");
	cr_assert_eq(a.q_om, 0, "q=0 refuses it");
	a = accept_of("");
	cr_assert(a.q_om == -1 && a.q_text == -1);
	a = accept_of("*/*;q=0.25 ,  text/html");
	cr_assert_eq(a.q_text, 250);
}

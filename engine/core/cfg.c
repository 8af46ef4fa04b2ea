/* cfg.c - parser of Sluice's HAProxy-style configuration (see cfg.h).
 *
 * The parser reads one line at a time into a reusable scratch area, splits
 * it into words and dispatches on the first word through a keyword table
 * that says in which sections each keyword applies, in which it is ignored
 * with a warning, and (by omission) where it is an error. A keyword that
 * sets one number carries a num_spec in its table entry (kind, bounds,
 * field) and shares one handler, kw_number(); server arguments are a table
 * of their own (srv_args[]) over the same num_spec, so every number of the
 * file is parsed, bounded and reported by the same code.
 *
 * Proxy keywords act on a struct px_settings: the one of the current
 * `defaults` section, or the one of the proxy being parsed, which starts as a
 * copy of the defaults. A proxy is built in a work area (struct px_work) and
 * moved into the struct cfg only when its section ends, so the cfg is always
 * consistent and cfg_free() can release it at any point. Checks that need
 * the whole file (backend references, buffer limits) run after the last line.
 */
#include "engine/core/cfg.h"
#include "engine/core/log.h"
#include "engine/core/tls.h"
#include "engine/core/tlsopt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CFG_MAX_WORDS 64   /* words per line, as in HAProxy */

/* Sections, as bits so that a keyword can list where it applies. */
enum {
	SEC_NONE     = 0,
	SEC_GLOBAL   = 1 << 0,
	SEC_DEFAULTS = 1 << 1,
	SEC_FRONTEND = 1 << 2,
	SEC_BACKEND  = 1 << 3,
	SEC_LISTEN   = 1 << 4,
};
#define SEC_FE      (SEC_FRONTEND | SEC_LISTEN)
#define SEC_BE      (SEC_BACKEND | SEC_LISTEN)
#define SEC_PROXIES (SEC_DEFAULTS | SEC_FRONTEND | SEC_BACKEND | SEC_LISTEN)

enum { TO_CLIENT, TO_SERVER, TO_CONNECT, TO_QUEUE, TO_HTTP_REQUEST,
       TO_HTTP_KEEP_ALIVE, TO_CHECK, TO_COUNT };

static const char *const timeout_names[TO_COUNT] = {
	"client", "server", "connect", "queue", "http-request", "http-keep-alive", "check",
};
#define TIMEOUT_LIST "client, server, connect, queue, http-request, http-keep-alive, check"

#define MAX_MAXCONN      10000000u
#define MAX_NBTHREAD     256u
#define MAX_DEF_NBTHREAD 64L
#define MIN_BUFSIZE      1024u
#define MAX_BUFSIZE      (1024u * 1024u)
#define H2_MAX_WINDOW    2147483647u   /* RFC 9113, 6.9.1 */
#define H2_MAX_TABLE     65536u

/* Settings whose line is remembered, for the checks that run once the
 * whole file is read (struct parser's lines[]). */
enum { LN_NONE = 0, LN_MAXREWRITE, LN_LIMIT, LN_RESERVE, LN_H2_LIST, LN_COUNT };

/* How a numeric setting is written and bounded. */
enum num_kind {
	NUM_COUNT,          /* a decimal integer in [min, max] */
	NUM_SIZE,           /* a size with an optional k/m/g suffix, in [min, max] bytes */
	NUM_TIME,           /* a time with an optional unit, at least <min> ms */
	NUM_PERCENT,        /* a decimal number from 0 to 100, '%' allowed; stored as a double */
};

/* Where the field of a numeric setting lives. */
enum num_where { NW_GLOBAL, NW_PROXY, NW_SERVER };

/* One numeric setting: how to parse it and which field receives it. A
 * keyword or a server argument points to one, so that every number of the
 * file is read, bounded and reported by the same code. */
struct num_spec {
	const char *what;   /* names the value in "missing ..." */
	enum num_kind kind;
	enum num_where where;
	uint64_t min, max;  /* max unused for NUM_TIME (a time always fits) */
	size_t off, width;  /* the field: offset in its struct, and its size */
	int line;           /* LN_*: also remember the line of the setting */
};

/* Fills the field part of a struct num_spec for field <f> of <type>. */
#define NUM_FIELD(type, f) .off = offsetof(type, f), .width = sizeof(((type *)0)->f)

/* A numeric setting of the `global` section (struct cfg_global), of a proxy
 * (struct px_settings) or of a server (struct cfg_server). */
#define NUM_G(f, k, lo, hi, w, ln) \
	(&(const struct num_spec){ .what = (w), .kind = (k), .where = NW_GLOBAL, .min = (lo), \
	                           .max = (hi), NUM_FIELD(struct cfg_global, f), .line = (ln) })
#define NUM_PX(f, k, lo, hi, w) \
	(&(const struct num_spec){ .what = (w), .kind = (k), .where = NW_PROXY, .min = (lo), \
	                           .max = (hi), NUM_FIELD(struct px_settings, f) })
#define NUM_SRV(f, k, lo, hi) \
	(&(const struct num_spec){ .what = "value", .kind = (k), .where = NW_SERVER, .min = (lo), \
	                           .max = (hi), NUM_FIELD(struct cfg_server, f) })

struct parser;

/* A keyword of the table: where it applies and what parses it. */
struct keyword {
	const char *name;
	int applies;        /* sections where it is parsed */
	int ignored;        /* sections where it is accepted with a warning */
	int (*parse)(struct parser *p);
	const struct num_spec *num;  /* for kw_number(): the setting */
};

/* What a `defaults` section carries and what a proxy starts from. */
struct px_settings {
	int mode;
	uint32_t timeouts[TO_COUNT];
	unsigned timeouts_set;          /* one bit per TO_* */
	unsigned maxconn;               /* 0: not set */
	int balance;
	unsigned retries;
	unsigned maxqueue;              /* backend queue bound, 0: none */
	int redispatch, httplog, forwardfor, conn_mode;
	int splice;                     /* CFG_SPLICE_* bits */
	struct cfg_fwd fwd;             /* forwardfor's arguments */
	char *chk_method, *chk_uri;     /* both set iff `option httpchk` */
	int chk_expect_status;
	int stats_enabled;
	char *stats_uri;
	char *stats_prom_uri;           /* `stats prometheus-uri`, or NULL */
	char *stats_auth;               /* `stats auth`: expected Authorization values, one per line */
	unsigned stats_refresh_ms;
	char *default_backend;
	int default_backend_line;
	char *uid_fmt, *uid_hdr;        /* `unique-id-format` / `-header`, checked when read */
	struct cfg_server srv;          /* `default-server`; name always NULL */
	struct tls_words srv_tls;       /* `default-server`'s TLS words, replayed on each server */
};

/* The frontend/backend/listen section being parsed. */
struct px_work {
	int kind;                       /* SEC_FRONTEND, SEC_BACKEND, SEC_LISTEN; 0: none */
	char *name;
	int line;
	struct px_settings set;
	struct cfg_bind *binds;
	unsigned nb_binds, cap_binds;
	struct cfg_server *servers;
	unsigned nb_servers, cap_servers;
	char *use_backend;
	int use_backend_line;
	struct cfg_rules *rules;        /* acl, conditional use_backend, http-request... */
};

struct parser {
	const char *file;
	int line;
	int sec;
	struct cfg *c;
	unsigned cap_frontends, cap_backends, cap_by_use;
	unsigned char *fe_by_use;       /* per frontend: its backend came from use_backend */
	struct px_settings defs;
	struct cfg_rules *def_rules;    /* the defaults section's errorfiles, copied
	                                 * into each frontend and listen after it */
	struct px_work px;
	char *scratch;
	size_t scratch_cap;
	char *argv[CFG_MAX_WORDS];
	int argc;
	char *err;                      /* every error so far, one per line */
	unsigned nb_errors;
	char *warnings;
	size_t warnings_len;
	const struct keyword *kw;       /* the table entry of the line being run */
	/* HAProxy settings accepted without effect, reported together once
	 * the file is read (ignored_flush()) */
	struct ign_note { char *what; int line; } *ign;
	unsigned nb_ign, cap_ign;
	/* lines of global settings checked once the whole file is read (0: unset) */
	int lines[LN_COUNT];
	/* ssl-default-bind-* and ssl-default-server-* words, replayed first on
	 * the bind and server lines that follow them */
	struct tls_words tls_def_bind, tls_def_srv;
	/* crt-base and ca-base (NULL: unset), and the paths made from them,
	 * which the lines' words point to until the parser goes */
	char *crt_base, *ca_base;
	struct tls_words based;
};

/* ---------- messages ---------- */

/* Formats "FILE:LINE: 'KW' body" (no keyword part when <kw> is NULL) into a
 * new string. Returns it, or NULL when out of memory. */
static char *vformat_msg(const struct parser *p, int line, const char *kw,
                         const char *fmt, va_list ap)
{
	char *body, *out;
	int n;

	if (vasprintf(&body, fmt, ap) < 0)
		return NULL;
	if (kw)
		n = asprintf(&out, "%s:%d: '%s' %s", p->file, line, kw, body);
	else
		n = asprintf(&out, "%s:%d: %s", p->file, line, body);
	free(body);
	return n < 0 ? NULL : out;
}

/* Errors reported in one pass: after this many, the rest of the file is
 * not read (a wrong section header can make every line after it wrong). */
#define CFG_MAX_ERRORS 20

/* Adds the error <msg> (malloc'ed, or NULL without memory) to the list the
 * parse returns, one per line, so that `sluice -c` shows every mistake of a
 * file at once. The line loop goes on after a failed line. */
static void add_error(struct parser *p, char *msg)
{
	size_t old = p->err ? strlen(p->err) : 0, len;
	char *all;

	p->nb_errors++;
	if (!msg) {
		if (!p->err)
			p->err = strdup("out of memory");
		return;
	}
	if (!p->err) {
		p->err = msg;
		return;
	}
	len = strlen(msg);
	all = realloc(p->err, old + 1 + len + 1);
	if (all) {
		all[old] = '\n';
		memcpy(all + old + 1, msg, len + 1);
		p->err = all;
	}
	free(msg);
}

/* Records the first error. Always returns -1 so that callers can return it. */
static int fail_at(struct parser *p, int line, const char *kw, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail_at(struct parser *p, int line, const char *kw, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vformat_msg(p, line, kw, fmt, ap);
	va_end(ap);
	add_error(p, msg);
	return -1;
}

/* Records an error about the current line's keyword. Returns -1. */
static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vformat_msg(p, p->line, p->argv[0], fmt, ap);
	va_end(ap);
	add_error(p, msg);
	return -1;
}

/* Appends warning <msg> (owned) to the newline-separated list. Returns 0,
 * or -1 with an error when out of memory. */
static int warn_add(struct parser *p, int line, const char *kw, char *msg)
{
	char *all;
	size_t len, sep;

	if (!msg)
		return fail_at(p, line, kw, "out of memory");
	len = strlen(msg);
	sep = p->warnings ? 1 : 0;
	all = realloc(p->warnings, p->warnings_len + sep + len + 1);
	if (!all) {
		free(msg);
		return fail_at(p, line, kw, "out of memory");
	}
	if (sep)
		all[p->warnings_len++] = '\n';
	memcpy(all + p->warnings_len, msg, len + 1);
	p->warnings_len += len;
	p->warnings = all;
	free(msg);
	return 0;
}

/* Appends a warning to the newline-separated list. Returns 0, or -1 with an
 * error when out of memory. */
static int warn_at(struct parser *p, int line, const char *kw, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int warn_at(struct parser *p, int line, const char *kw, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = vformat_msg(p, line, kw, fmt, ap);
	va_end(ap);
	return warn_add(p, line, kw, msg);
}

/* Notes that the current line holds an HAProxy setting Sluice accepts
 * without effect, described by <fmt>. A file written for HAProxy may hold
 * many: one warning lists them all at the end (ignored_flush()) instead of
 * one per line burying the other warnings. Returns 0, or -1 with an error
 * when out of memory. */
static int ignore_at(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ignore_at(struct parser *p, const char *fmt, ...)
{
	struct ign_note *n = p->ign;
	va_list ap;
	char *what;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		return fail(p, "out of memory");
	if (p->nb_ign == p->cap_ign) {
		unsigned cap = p->cap_ign ? 2 * p->cap_ign : 8;

		if (!(n = realloc(p->ign, cap * sizeof(*n)))) {
			free(what);
			return fail(p, "out of memory");
		}
		p->cap_ign = cap;
	}
	p->ign = n;
	p->ign[p->nb_ign++] = (struct ign_note){ what, p->line };
	return 0;
}

/* Adds the one warning that lists the ignored settings, each description
 * once with every line it was found at, in the order first seen:
 * "FILE: ignored, no effect in Sluice: 'daemon' (...) at line 2; ...".
 * Returns 0, or -1 with an error when out of memory. */
static int ignored_flush(struct parser *p)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *f;

	if (!p->nb_ign)
		return 0;
	f = open_memstream(&msg, &len);
	if (!f)
		return fail_at(p, p->ign[0].line, NULL, "out of memory");
	fprintf(f, "%s: ignored, no effect in Sluice:", p->file);
	for (unsigned i = 0, items = 0; i < p->nb_ign; i++) {
		unsigned k, lines = 0;

		for (k = 0; k < i && strcmp(p->ign[k].what, p->ign[i].what); k++)
			;
		if (k < i)
			continue; /* listed with its first occurrence */
		for (k = i; k < p->nb_ign; k++)
			lines += !strcmp(p->ign[k].what, p->ign[i].what);
		fprintf(f, "%s %s at line%s", items++ ? ";" : "", p->ign[i].what, lines > 1 ? "s" : "");
		for (k = i, lines = 0; k < p->nb_ign; k++)
			if (!strcmp(p->ign[k].what, p->ign[i].what))
				fprintf(f, "%s %d", lines++ ? "," : "", p->ign[k].line);
	}
	if (fclose(f) != 0) {
		free(msg);
		msg = NULL;
	}
	return warn_add(p, p->ign[0].line, NULL, msg);
}

static const char *sec_name(int sec)
{
	switch (sec) {
	case SEC_GLOBAL:   return "global";
	case SEC_DEFAULTS: return "defaults";
	case SEC_FRONTEND: return "frontend";
	case SEC_BACKEND:  return "backend";
	case SEC_LISTEN:   return "listen";
	default:           return "none";
	}
}

/* ---------- small helpers ---------- */

/* Makes room for at least <need> items of <size> bytes in the array <arr>
 * of capacity *<cap>. Returns the (possibly moved) array, or NULL when out of
 * memory, in which case <arr> is left as it was. */
static void *grow(void *arr, unsigned *cap, unsigned need, size_t size)
{
	unsigned ncap;
	void *n;

	if (need <= *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 4;
	while (ncap < need)
		ncap *= 2;
	n = realloc(arr, (size_t)ncap * size);
	if (n)
		*cap = ncap;
	return n;
}

/* Replaces the string at *<dst> by a copy of <src> (NULL allowed). Returns
 * 0, or -1 when out of memory (then *<dst> is unchanged). */
static int set_str(char **dst, const char *src)
{
	char *n = NULL;

	if (src && !(n = strdup(src)))
		return -1;
	free(*dst);
	*dst = n;
	return 0;
}

/* Parses a non-empty run of decimal digits. Returns 0, or -1 when <s> holds
 * anything else or overflows. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parses the leading digits of <s> into *<out> and points *<end> past them.
 * Returns 0, or -1 when there is no digit or the number overflows. */
static int parse_u64_prefix(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *q = s;

	for (; *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (q == s)
		return -1;
	*out = v;
	*end = q;
	return 0;
}

int cfg_parse_time(const char *s, uint32_t *ms)
{
	static const struct { const char *unit; uint64_t mul; } units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (!s || parse_u64_prefix(s, &v, &end) < 0)
		return -1;
	if (strcmp(end, "us") == 0) {
		/* rounded up so that a short non-zero delay never becomes 0 */
		v = v / 1000 + (v % 1000 != 0);
		if (v > UINT32_MAX)
			return -1;
		*ms = (uint32_t)v;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > UINT32_MAX / units[i].mul)
			return -1;
		*ms = (uint32_t)(v * units[i].mul);
		return 0;
	}
	return -1;
}

int cfg_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned shift;
	uint64_t v;

	if (!s || parse_u64_prefix(s, &v, &end) < 0)
		return -1;
	switch (*end) {
	case '\0':           shift = 0;  break;
	case 'k': case 'K':  shift = 10; break;
	case 'm': case 'M':  shift = 20; break;
	case 'g': case 'G':  shift = 30; break;
	default:             return -1;
	}
	if (*end && end[1])
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

/* ---------- argument checks (each returns 0, or -1 with the error set) ---------- */

/* Checks that the keyword has between <min> and <max> arguments; <what>
 * names the missing argument. */
static int want_words(struct parser *p, int min, int max, const char *what)
{
	int n = p->argc - 1;

	if (n < min)
		return fail(p, "missing %s", what);
	if (n > max)
		return fail(p, "unexpected argument '%s'", p->argv[1 + max]);
	return 0;
}

/* Checks that the keyword has at least <min> arguments. */
static int want_min(struct parser *p, int min, const char *what)
{
	return p->argc - 1 < min ? fail(p, "missing %s", what) : 0;
}

/* Parses an integer in [min, max]; <ctx> ("" or " for 'x'") says which one. */
static int get_uint(struct parser *p, const char *arg, const char *ctx,
                    uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (parse_u64(arg, &v) < 0)
		return fail(p, "invalid value '%s'%s (expected an integer from %llu to %llu)",
		            arg, ctx, (unsigned long long)min, (unsigned long long)max);
	if (v < min || v > max)
		return fail(p, "value '%s'%s out of range (expected an integer from %llu to %llu)",
		            arg, ctx, (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

/* Parses a size in [min, max]. */
static int get_size(struct parser *p, const char *arg, const char *ctx,
                    uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (cfg_parse_size(arg, &v) < 0)
		return fail(p, "invalid size '%s'%s (expected a number with an optional k, m or g suffix)",
		            arg, ctx);
	if (v < min || v > max)
		return fail(p, "size '%s'%s out of range (expected %llu to %llu bytes)",
		            arg, ctx, (unsigned long long)min, (unsigned long long)max);
	*out = v;
	return 0;
}

/* Parses a time of at least <min_ms>. */
static int get_time(struct parser *p, const char *arg, const char *ctx,
                    uint32_t min_ms, uint32_t *out)
{
	uint32_t v;

	if (cfg_parse_time(arg, &v) < 0)
		return fail(p, "invalid time '%s'%s (expected a number with an optional unit us, ms, s, m, h, d, at most 49 days)",
		            arg, ctx);
	if (v < min_ms)
		return fail(p, "time '%s'%s too small (expected at least %ums)", arg, ctx, min_ms);
	*out = v;
	return 0;
}

/* ---------- proxy settings ---------- */

static void srv_defaults_init(struct cfg_server *s)
{
	memset(s, 0, sizeof(*s));
	s->weight = CFG_SRV_DEFAULT_WEIGHT;
	s->inter_ms = CFG_SRV_DEFAULT_INTER_MS;
	s->rise = CFG_SRV_DEFAULT_RISE;
	s->fall = CFG_SRV_DEFAULT_FALL;
}

/* Sets <s> to the built-in defaults (what a new `defaults` section resets to). */
static void settings_init(struct px_settings *s)
{
	memset(s, 0, sizeof(*s));
	s->mode = CFG_MODE_HTTP;
	s->balance = CFG_BALANCE_RR;
	s->retries = 3;
	s->conn_mode = CFG_CONN_KEEPALIVE;
	srv_defaults_init(&s->srv);
}

static void settings_clear(struct px_settings *s)
{
	free(s->chk_method);
	free(s->chk_uri);
	free(s->stats_uri);
	free(s->stats_prom_uri);
	free(s->stats_auth);
	free(s->default_backend);
	free(s->fwd.hdr);
	free(s->uid_fmt);
	free(s->uid_hdr);
	tls_words_free(&s->srv_tls);
	settings_init(s);
}

/* Deep-copies <src> into the cleared <dst>. Returns 0, or -1 when out of
 * memory (then <dst> holds the built-in defaults). */
static int settings_copy(struct px_settings *dst, const struct px_settings *src)
{
	*dst = *src;
	dst->chk_method = dst->chk_uri = dst->stats_uri = dst->default_backend = NULL;
	dst->stats_prom_uri = dst->stats_auth = NULL;
	dst->fwd.hdr = dst->uid_fmt = dst->uid_hdr = NULL;
	dst->srv_tls.v = NULL;
	dst->srv_tls.n = 0;
	if (tls_words_copy(&dst->srv_tls, &src->srv_tls) < 0 ||
	    set_str(&dst->fwd.hdr, src->fwd.hdr) < 0 ||
	    set_str(&dst->uid_fmt, src->uid_fmt) < 0 ||
	    set_str(&dst->uid_hdr, src->uid_hdr) < 0 ||
	    set_str(&dst->chk_method, src->chk_method) < 0 ||
	    set_str(&dst->chk_uri, src->chk_uri) < 0 ||
	    set_str(&dst->stats_uri, src->stats_uri) < 0 ||
	    set_str(&dst->stats_prom_uri, src->stats_prom_uri) < 0 ||
	    set_str(&dst->stats_auth, src->stats_auth) < 0 ||
	    set_str(&dst->default_backend, src->default_backend) < 0) {
		settings_clear(dst);
		return -1;
	}
	return 0;
}

/* Fills <t> with the effective timeouts of <s>: built-in values for those
 * not set, and HAProxy's chain for the derived ones. */
static void resolve_timeouts(const struct px_settings *s, struct cfg_timeouts *t)
{
#define TO_OR(i, dflt) ((s->timeouts_set & (1u << (i))) ? s->timeouts[i] : (dflt))
	t->client_ms = TO_OR(TO_CLIENT, 30000);
	t->server_ms = TO_OR(TO_SERVER, 30000);
	t->connect_ms = TO_OR(TO_CONNECT, 5000);
	t->queue_ms = TO_OR(TO_QUEUE, t->connect_ms);
	t->http_request_ms = TO_OR(TO_HTTP_REQUEST, t->client_ms);
	t->http_keep_alive_ms = TO_OR(TO_HTTP_KEEP_ALIVE, t->http_request_ms);
	t->check_ms = TO_OR(TO_CHECK, 0);
#undef TO_OR
}

static void px_work_free(struct px_work *w)
{
	unsigned i;

	free(w->name);
	settings_clear(&w->set);
	for (i = 0; i < w->nb_binds; i++)
		tls_bind_free(w->binds[i].tls);
	free(w->binds);
	for (i = 0; i < w->nb_servers; i++) {
		free(w->servers[i].name);
		tls_srv_free(w->servers[i].tls);
	}
	free(w->servers);
	free(w->use_backend);
	cfg_rules_free(w->rules);
	memset(w, 0, sizeof(*w));
}

/* Returns the settings proxy keywords act on in the current section. */
static struct px_settings *cur_settings(struct parser *p)
{
	return p->sec == SEC_DEFAULTS ? &p->defs : &p->px.set;
}

/* ---------- addresses ---------- */

/* Returns non-zero when <host> is a numeric IPv6 address (with an optional
 * %scope) or, unless <v6_only>, a dotted-quad IPv4 address. getaddrinfo()
 * alone is not enough: with AI_NUMERICHOST glibc still takes "*" (as ::1)
 * and inet_aton() shorthands such as "127.1". */
static int numeric_host(const char *host, int v6_only)
{
	char part[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t n = strcspn(host, "%");

	if (!strchr(host, ':'))
		return !v6_only && host[n] == '\0' && inet_pton(AF_INET, host, bin) == 1;
	if (n >= sizeof(part) || (host[n] == '%' && !host[n + 1]))
		return 0;
	memcpy(part, host, n);
	part[n] = '\0';
	return inet_pton(AF_INET6, part, bin) == 1;
}

/* Parses "ADDR:PORT" of the current keyword: ADDR is a numeric IPv4 address, an
 * IPv6 address in brackets, or an unbracketed IPv6 address whose last colon
 * starts the port (HAProxy style, ":::80"). When <wildcard> is set, an empty
 * ADDR or `*` means every IPv4 address. Returns 0, or -1 with the error set. */
static int parse_addr(struct parser *p, const char *text, int wildcard,
                      struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 64];
	const char *port_s, *colon;
	struct addrinfo hints, *res = NULL;
	uint64_t port;
	size_t hlen;
	int rc;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return fail(p, "missing ']' in address '%s'", text);
		if (close[1] != ':')
			return fail(p, "missing port in address '%s' (expected [ADDR]:PORT)", text);
		hlen = (size_t)(close - text - 1);
		if (hlen >= sizeof(host))
			return fail(p, "invalid address '%s'", text);
		memcpy(host, text + 1, hlen);
		port_s = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return fail(p, "missing port in address '%s' (expected ADDR:PORT)", text);
		hlen = (size_t)(colon - text);
		if (hlen >= sizeof(host))
			return fail(p, "invalid address '%s'", text);
		memcpy(host, text, hlen);
		port_s = colon + 1;
	}
	host[hlen] = '\0';
	if (parse_u64(port_s, &port) < 0 || port < 1 || port > 65535)
		return fail(p, "invalid port '%s' in address '%s' (expected 1 to 65535)", port_s, text);
	if (text[0] != '[' && (hlen == 0 || strcmp(host, "*") == 0)) {
		if (!wildcard)
			return fail(p, "missing host in address '%s'", text);
		strcpy(host, "0.0.0.0");
	}

	if (!numeric_host(host, text[0] == '['))
		return fail(p, "invalid address '%s' (numeric IPv4 or IPv6 only, no DNS)", text);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port_s, &hints, &res);
	if (rc != 0 || !res || res->ai_addrlen > sizeof(*ss)) {
		if (res)
			freeaddrinfo(res);
		return fail(p, "invalid address '%s' (numeric IPv4 or IPv6 only, no DNS)", text);
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Parses "h1" or "h2" after a `proto` word at argv[i]. */
static int get_proto(struct parser *p, int i, int *h2)
{
	if (i + 1 >= p->argc)
		return fail(p, "missing value after 'proto' (expected h1, h2)");
	if (strcmp(p->argv[i + 1], "h2") == 0)
		*h2 = 1;
	else if (strcmp(p->argv[i + 1], "h1") == 0)
		*h2 = 0;
	else
		return fail(p, "unsupported proto '%s' (expected h1, h2)", p->argv[i + 1]);
	return 0;
}

/* Adds one bind per comma-separated address of <spec>, with <h2>, and
 * TLS contexts built from <tls> when it is not NULL (one set per address,
 * so that each bind owns and frees its own). */
static int add_binds(struct parser *p, const char *spec, int h2, const struct tls_bind_opts *tls)
{
	struct px_work *w = &p->px;
	char one[256];

	for (;;) {
		const char *comma = strchr(spec, ',');
		size_t n = comma ? (size_t)(comma - spec) : strlen(spec);
		struct cfg_bind *b;

		if (n == 0 || n >= sizeof(one))
			return fail(p, "invalid address '%.*s'", (int)n, spec);
		memcpy(one, spec, n);
		one[n] = '\0';
		b = grow(w->binds, &w->cap_binds, w->nb_binds + 1, sizeof(*b));
		if (!b)
			return fail(p, "out of memory");
		w->binds = b;
		b += w->nb_binds;
		memset(b, 0, sizeof(*b));
		if (parse_addr(p, one, 1, &b->addr, &b->addrlen) < 0)
			return -1;
		b->proto_h2 = h2;
		b->line = p->line;
		w->nb_binds++;
		if (tls) {
			char err[512];

			b->tls = tls_bind_new(tls, err, sizeof(err));
			if (!b->tls)
				return fail(p, "%s", err);
		}
		if (!comma)
			return 0;
		spec = comma + 1;
	}
}

/* ---------- numeric settings ---------- */

/* Parses <arg> as a percentage from 0 to 100 (a trailing '%' allowed).
 * Returns 0, or -1 with the error set. */
static int get_percent(struct parser *p, const char *arg, const char *ctx, double *out)
{
	char *end;
	double v;

	/* strtod() alone would also take signs, blanks, "inf" and "nan" */
	if (!((*arg >= '0' && *arg <= '9') || *arg == '.'))
		goto bad;
	errno = 0;
	v = strtod(arg, &end);
	if (*end == '%')
		end++;
	if (errno || *end || !isfinite(v) || v < 0.0 || v > 100.0)
		goto bad;
	*out = v;
	return 0;
bad:
	return fail(p, "invalid percentage '%s'%s (expected a number from 0 to 100)", arg, ctx);
}

/* Returns the struct that holds the fields of settings kept <where>, for
 * the current line; <srv> is the server being parsed (NW_SERVER only). */
static void *num_base(struct parser *p, enum num_where where, struct cfg_server *srv)
{
	switch (where) {
	case NW_GLOBAL: return &p->c->g;
	case NW_PROXY:  return cur_settings(p);
	default:        return srv;
	}
}

/* Parses <arg> as the setting <n> and stores it into its field of <base>
 * (see num_base()); <ctx> ("" or " for 'x'") says which value a message is
 * about. Returns 0, or -1 with the error set and the field unchanged. */
static int num_set(struct parser *p, const struct num_spec *n, const char *arg,
                   const char *ctx, void *base)
{
	char *field = (char *)base + n->off;
	uint64_t v = 0;
	uint32_t t = 0;
	double d = 0.0;

	switch (n->kind) {
	case NUM_PERCENT:
		if (get_percent(p, arg, ctx, &d) < 0)
			return -1;
		memcpy(field, &d, sizeof(d));
		goto stored;
	case NUM_TIME:
		if (get_time(p, arg, ctx, (uint32_t)n->min, &t) < 0)
			return -1;
		v = t;
		break;
	case NUM_SIZE:
		if (get_size(p, arg, ctx, n->min, n->max, &v) < 0)
			return -1;
		break;
	case NUM_COUNT:
		if (get_uint(p, arg, ctx, n->min, n->max, &v) < 0)
			return -1;
		break;
	}
	/* the bounds of each setting keep <v> within its field's width */
	if (n->width == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;

		memcpy(field, &v32, sizeof(v32));
	} else {
		memcpy(field, &v, sizeof(v));
	}
stored:
	if (n->line)
		p->lines[n->line] = p->line;
	return 0;
}

/* Any keyword that sets one number: `KEYWORD VALUE`, described by the
 * num_spec of its table entry. */
static int kw_number(struct parser *p)
{
	const struct num_spec *n = p->kw->num;

	if (want_words(p, 1, 1, n->what) < 0)
		return -1;
	return num_set(p, n, p->argv[1], "", num_base(p, n->where, NULL));
}

/* ---------- global keywords ---------- */

/* `log TARGET [FACILITY [LEVEL...]]`: TARGET is stderr, stdout, a file, a
 * UNIX datagram socket path (/dev/log, unix@PATH) or a UDP syslog address
 * ([udp@]ADDR[:PORT], engine/core/log.h). For a syslog target the first
 * word after it that names a facility is kept, appended to the target after
 * a space (log_open() reads it back; cfg.h has no room for it); other
 * words (levels, format...) are HAProxy's, accepted so that the same file
 * runs on both. A network address is checked here so that `sluice -c`
 * reports it with its line. */
static int kw_global_log(struct parser *p)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	const char *t, *fac = NULL;
	char *spec;
	int r;

	if (want_min(p, 1, "target (stderr, stdout, a file path, a socket path or [udp@]ADDR[:PORT])") < 0)
		return -1;
	t = p->argv[1];
	if (!*t)
		return fail(p, "empty log target (expected stderr, stdout, a file path, a socket path or [udp@]ADDR[:PORT])");
	if (strncmp(t, "unix@", 5) == 0 && !t[5])
		return fail(p, "empty socket path in log target '%s'", t);
	if (log_target_is_net(t) && log_parse_net(t, &ss, &sl) < 0)
		return fail(p, "invalid log target '%s' (expected [udp@]ADDR[:PORT] with a numeric IPv4 or [IPv6] address)", t);
	if (strcmp(t, "stderr") == 0 || strcmp(t, "stdout") == 0)
		return set_str(&p->c->g.log_target, t) < 0 ? fail(p, "out of memory") : 0;
	for (int i = 2; i < p->argc && !fac; i++)
		if (log_facility_code(p->argv[i]) >= 0)
			fac = p->argv[i];
	if (!fac)
		return set_str(&p->c->g.log_target, t) < 0 ? fail(p, "out of memory") : 0;
	if (asprintf(&spec, "%s %s", t, fac) < 0)
		return fail(p, "out of memory");
	r = set_str(&p->c->g.log_target, spec);
	free(spec);
	return r < 0 ? fail(p, "out of memory") : 0;
}

/* `stats socket PATH [mode OCTAL] [level user|operator|admin]` in global:
 * the command socket (client/cli.h); `stats timeout TIME` and `stats
 * maxconn N`: how long its clients may stay idle and how many are served
 * at once. Other HAProxy forms (bind-process) are refused by name. */
static int kw_global_stats(struct parser *p)
{
	static const char *const levels[] = { "user", "operator", "admin" };
	struct cfg_global *g = &p->c->g;
	uint64_t u;
	int i;

	if (want_min(p, 1, "argument (expected socket, timeout or maxconn)") < 0)
		return -1;
	if (strcmp(p->argv[1], "timeout") == 0)
		return want_words(p, 2, 2, "time") < 0 ? -1 :
		       get_time(p, p->argv[2], " for stats timeout", 1, &g->cli_timeout_ms);
	if (strcmp(p->argv[1], "maxconn") == 0) {
		if (want_words(p, 2, 2, "number") < 0 ||
		    get_uint(p, p->argv[2], " for stats maxconn", 1, 65535, &u) < 0)
			return -1;
		g->cli_maxconn = (unsigned)u;
		return 0;
	}
	if (strcmp(p->argv[1], "socket") != 0)
		return fail(p, "unsupported argument '%s' in global (expected socket, timeout or maxconn)",
		            p->argv[1]);
	if (want_min(p, 2, "socket path") < 0)
		return -1;
	if (p->argv[2][0] != '/' && p->argv[2][0] != '.')
		return fail(p, "invalid socket path '%s' (expected a file path)", p->argv[2]);
	if (set_str(&g->cli_path, p->argv[2]) < 0)
		return fail(p, "out of memory");
	for (i = 3; i < p->argc; i += 2) {
		const char *arg = p->argv[i], *val = i + 1 < p->argc ? p->argv[i + 1] : NULL;
		char *end;

		if (!val)
			return fail(p, "missing value after '%s'", arg);
		if (strcmp(arg, "mode") == 0) {
			unsigned long m = strtoul(val, &end, 8);

			if (*end || end == val || m > 0777)
				return fail(p, "invalid mode '%s' (expected octal permissions such as 600)", val);
			g->cli_mode = (unsigned)m;
		} else if (strcmp(arg, "level") == 0) {
			int found = -1;

			for (int l = 0; l < 3; l++)
				if (strcmp(val, levels[l]) == 0)
					found = l;
			if (found < 0)
				return fail(p, "invalid level '%s' (expected user, operator or admin)", val);
			g->cli_level = found;
		} else {
			return fail(p, "unsupported argument '%s' (expected mode, level)", arg);
		}
	}
	return 0;
}

static int kw_daemon(struct parser *p)
{
	if (want_words(p, 0, 0, "") < 0)
		return -1;
	return ignore_at(p, "'daemon' (Sluice runs in the foreground)");
}

/* `user`, `group`, `uid`, `gid`, `chroot`: refused with the reason. A
 * reload reads the configuration and certificates again inside the running
 * process, which privileges dropped or a chroot made at start would deny
 * it; the process is started as the user it runs as instead. */
static int kw_privileges(struct parser *p)
{
	if (strcmp(p->argv[0], "chroot") == 0)
		return fail(p, "not supported by Sluice: a reload reads the configuration and "
		            "certificates again in the running process (the systemd unit confines it "
		            "with ProtectSystem=strict instead)");
	return fail(p, "not supported by Sluice: a reload reads the configuration and certificates "
	            "again in the running process; start it as the user it should run as (the "
	            "systemd unit does, with DynamicUser and CAP_NET_BIND_SERVICE)");
}

/* ---------- proxy keywords ---------- */

static int kw_mode(struct parser *p)
{
	struct px_settings *s = cur_settings(p);

	if (want_words(p, 1, 1, "mode (expected http, tcp)") < 0)
		return -1;
	if (strcmp(p->argv[1], "http") == 0)
		s->mode = CFG_MODE_HTTP;
	else if (strcmp(p->argv[1], "tcp") == 0)
		s->mode = CFG_MODE_TCP;
	else
		return fail(p, "unknown mode '%s' (expected http, tcp)", p->argv[1]);
	return 0;
}

static int kw_timeout(struct parser *p)
{
	struct px_settings *s = cur_settings(p);
	char ctx[64];
	uint32_t v = 0;
	int i;

	if (want_words(p, 1, 2, "timeout name (expected " TIMEOUT_LIST ")") < 0)
		return -1;
	for (i = 0; i < TO_COUNT; i++)
		if (strcmp(p->argv[1], timeout_names[i]) == 0)
			break;
	if (i == TO_COUNT)
		return fail(p, "unknown timeout '%s' (expected " TIMEOUT_LIST ")", p->argv[1]);
	if (p->argc < 3)
		return fail(p, "missing time for '%s'", p->argv[1]);
	snprintf(ctx, sizeof(ctx), " for '%s'", timeout_names[i]);
	if (get_time(p, p->argv[2], ctx, 1, &v) < 0)
		return -1;
	s->timeouts[i] = v;
	s->timeouts_set |= 1u << i;
	return 0;
}

static int kw_balance(struct parser *p)
{
	struct px_settings *s = cur_settings(p);

	if (want_words(p, 1, 1, "algorithm (expected roundrobin, leastconn)") < 0)
		return -1;
	if (strcmp(p->argv[1], "roundrobin") == 0)
		s->balance = CFG_BALANCE_RR;
	else if (strcmp(p->argv[1], "leastconn") == 0)
		s->balance = CFG_BALANCE_LC;
	else
		return fail(p, "unsupported algorithm '%s' (expected roundrobin, leastconn)", p->argv[1]);
	return 0;
}

/* Checks one word of the health check's request line: <what> names it in
 * the message. The word goes into the request as is, so a control
 * character (which the quoting escapes can produce: "\r\n") would end the
 * request line early and let the configuration inject headers or a second
 * request; a blank in the method or the URI (<no_blank>) would shift the
 * request line's fields. Returns 0, or -1 with the error set. */
static int chk_word_ok(struct parser *p, const char *what, const char *word, int no_blank)
{
	for (const unsigned char *c = (const unsigned char *)word; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			return fail(p, "control character 0x%02x in %s for 'httpchk' (not allowed in the check request)",
			            *c, what);
		if (no_blank && *c == ' ')
			return fail(p, "blank in %s for 'httpchk' (not allowed in the check request line)", what);
	}
	return 0;
}

/* `option httpchk [[METHOD] URI [VERSION]]`; <i> is the index of "httpchk". */
static int opt_httpchk(struct parser *p, struct px_settings *s, int i)
{
	const char *meth = CFG_CHK_DEFAULT_METHOD, *uri = CFG_CHK_DEFAULT_URI;
	int n = p->argc - i - 1;

	if (n > 3)
		return fail(p, "unexpected argument '%s'", p->argv[i + 4]);
	if (n == 1) {
		uri = p->argv[i + 1];
	} else if (n >= 2) {
		meth = p->argv[i + 1];
		uri = p->argv[i + 2];
	}
	if (!*meth)
		return fail(p, "empty method for 'httpchk'");
	/* control characters first, so that no message quotes one */
	if (chk_word_ok(p, "method", meth, 1) < 0 || chk_word_ok(p, "URI", uri, 1) < 0 ||
	    (n == 3 && chk_word_ok(p, "HTTP version", p->argv[i + 3], 0) < 0))
		return -1;
	if (uri[0] != '/' && uri[0] != '*')
		return fail(p, "invalid URI '%s' for 'httpchk' (expected a path starting with '/')", uri);
	if (set_str(&s->chk_method, meth) < 0 || set_str(&s->chk_uri, uri) < 0)
		return fail(p, "out of memory");
	if (n == 3 && ignore_at(p, "HTTP version '%s' of 'option httpchk'", p->argv[i + 3]) < 0)
		return -1;
	return 0;
}

/* `option forwardfor [except NET] [header NAME]`; <i> is the index of
 * "forwardfor". Each `option forwardfor` line starts from no arguments. */
static int opt_forwardfor(struct parser *p, struct px_settings *s, int i)
{
	free(s->fwd.hdr);
	memset(&s->fwd, 0, sizeof(s->fwd));
	for (i++; i < p->argc; i += 2) {
		const char *w = p->argv[i], *v = i + 1 < p->argc ? p->argv[i + 1] : NULL;

		if (strcmp(w, "except") && strcmp(w, "header"))
			return fail(p, "unexpected argument '%s' after 'forwardfor' (expected except NET, header NAME)", w);
		if (!v)
			return fail(p, "missing %s after '%s'", w[0] == 'e' ? "network" : "header name", w);
		if (w[0] == 'e') {
			if (acl_parse_net(v, &s->fwd.fam, s->fwd.net, &s->fwd.bits) < 0)
				return fail(p, "invalid network '%s' after 'except' (expected ADDR[/BITS])", v);
			s->fwd.except = 1;
			continue;
		}
		if (!*v)
			return fail(p, "empty header name after 'header'");
		for (const char *c = v; *c; c++)
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || strchr("!#$%&'*+-.^_`|~", *c)))
				return fail(p, "invalid character 0x%02x in header name '%s'", (unsigned char)*c, v);
		if (set_str(&s->fwd.hdr, v) < 0)
			return fail(p, "out of memory");
	}
	return 0;
}

enum { OPT_REDISPATCH, OPT_HTTPLOG, OPT_FORWARDFOR, OPT_KEEPALIVE, OPT_SERVER_CLOSE,
       OPT_CLOSE, OPT_HTTPCHK, OPT_DONTLOGNULL, OPT_SPLICE_AUTO, OPT_SPLICE_REQ,
       OPT_SPLICE_RSP };

static const struct {
	const char *name;
	int id;
	int applies;        /* sections where it means something; elsewhere: warning */
} options[] = {
	{ "redispatch",        OPT_REDISPATCH,   SEC_DEFAULTS | SEC_BE },
	{ "httplog",           OPT_HTTPLOG,      SEC_DEFAULTS | SEC_FE },
	{ "forwardfor",        OPT_FORWARDFOR,   SEC_PROXIES },
	{ "http-keep-alive",   OPT_KEEPALIVE,    SEC_PROXIES },
	{ "http-server-close", OPT_SERVER_CLOSE, SEC_PROXIES },
	{ "httpclose",         OPT_CLOSE,        SEC_PROXIES },
	{ "httpchk",           OPT_HTTPCHK,      SEC_DEFAULTS | SEC_BE },
	{ "dontlognull",       OPT_DONTLOGNULL,  SEC_PROXIES },
	{ "splice-auto",       OPT_SPLICE_AUTO,  SEC_PROXIES },
	{ "splice-request",    OPT_SPLICE_REQ,   SEC_PROXIES },
	{ "splice-response",   OPT_SPLICE_RSP,   SEC_PROXIES },
};
#define OPTION_LIST "redispatch, httplog, forwardfor, http-keep-alive, http-server-close, httpclose, httpchk, dontlognull, " \
	"splice-auto, splice-request, splice-response"

/* `[no] option NAME [args]`; <i> is the index of NAME, <on> is 0 after "no". */
static int apply_option(struct parser *p, int i, int on)
{
	struct px_settings *s = cur_settings(p);
	const char *name;
	size_t k;
	int mode;

	if (i >= p->argc)
		return fail(p, "missing option name (expected " OPTION_LIST ")");
	name = p->argv[i];
	for (k = 0; k < sizeof(options) / sizeof(options[0]); k++)
		if (strcmp(name, options[k].name) == 0)
			break;
	if (k == sizeof(options) / sizeof(options[0]))
		return fail(p, "unknown option '%s' (expected " OPTION_LIST ")", name);
	if (!(options[k].applies & p->sec))
		return ignore_at(p, "'option %s' in '%s' section (only meaningful for %s)",
		               name, sec_name(p->sec),
		               (options[k].applies & SEC_BACKEND) ? "backends" : "frontends");
	if (((options[k].id != OPT_HTTPCHK && options[k].id != OPT_FORWARDFOR) || !on) &&
	    i + 1 < p->argc)
		return fail(p, "unexpected argument '%s' after '%s'", p->argv[i + 1], name);

	switch (options[k].id) {
	case OPT_REDISPATCH:  s->redispatch = on; break;
	case OPT_HTTPLOG:     s->httplog = on; break;
	case OPT_FORWARDFOR:
		s->forwardfor = on;
		return on ? opt_forwardfor(p, s, i) : 0;
	case OPT_DONTLOGNULL:
		return ignore_at(p, "'option %s'", name);
	case OPT_SPLICE_AUTO:
	case OPT_SPLICE_REQ:
	case OPT_SPLICE_RSP:
		mode = options[k].id == OPT_SPLICE_AUTO ? CFG_SPLICE_AUTO :
		       options[k].id == OPT_SPLICE_REQ ? CFG_SPLICE_REQ : CFG_SPLICE_RSP;
		s->splice = on ? (s->splice | mode) : (s->splice & ~mode);
		break;
	case OPT_HTTPCHK:
		if (on)
			return opt_httpchk(p, s, i);
		free(s->chk_method);
		free(s->chk_uri);
		s->chk_method = s->chk_uri = NULL;
		break;
	default:
		mode = options[k].id == OPT_SERVER_CLOSE ? CFG_CONN_SERVER_CLOSE :
		       options[k].id == OPT_CLOSE ? CFG_CONN_CLOSE : CFG_CONN_KEEPALIVE;
		if (on)
			s->conn_mode = mode;
		else if (s->conn_mode == mode)
			s->conn_mode = CFG_CONN_KEEPALIVE;
		break;
	}
	return 0;
}

static int kw_option(struct parser *p)
{
	return apply_option(p, 1, 1);
}

static int kw_no(struct parser *p)
{
	if (p->argc < 2 || strcmp(p->argv[1], "option") != 0)
		return fail(p, "only 'no option NAME' is supported");
	return apply_option(p, 2, 0);
}

static int kw_http_check(struct parser *p)
{
	uint64_t v;

	if (want_words(p, 1, 3, "'expect status CODE'") < 0)
		return -1;
	if (strcmp(p->argv[1], "expect") != 0)
		return fail(p, "unsupported directive '%s' (only 'expect status CODE')", p->argv[1]);
	if (p->argc < 3)
		return fail(p, "missing 'status CODE' after 'expect'");
	if (strcmp(p->argv[2], "status") != 0)
		return fail(p, "unsupported match '%s' (only 'expect status CODE')", p->argv[2]);
	if (p->argc < 4)
		return fail(p, "missing status code after 'status'");
	if (get_uint(p, p->argv[3], " for 'status'", 100, 599, &v) < 0)
		return -1;
	cur_settings(p)->chk_expect_status = (int)v;
	return 0;
}

static int kw_proxy_log(struct parser *p)
{
	if (p->argc != 2 || strcmp(p->argv[1], "global") != 0)
		return fail(p, "only 'log global' is supported in '%s' section", sec_name(p->sec));
	return 0;
}

/* The arguments of `server` and `default-server`: a flag sets an int
 * field to 1, a number is `NAME VALUE` described by its num_spec, and
 * `proto` takes h1 or h2. The TLS words are core/tlsopt.c's. The order is
 * the one the error message lists. */
enum { SA_FLAG, SA_NUM, SA_PROTO };

static const struct srv_arg {
	const char *name;
	int kind;                       /* SA_* */
	size_t flag_off;                /* SA_FLAG: the int field of struct cfg_server */
	const struct num_spec *num;     /* SA_NUM */
} srv_args[] = {
	{ "maxconn",  SA_NUM,   0, NUM_SRV(maxconn, NUM_COUNT, 0, MAX_MAXCONN) },
	{ "maxqueue", SA_NUM,   0, NUM_SRV(maxqueue, NUM_COUNT, 0, MAX_MAXCONN) },
	{ "weight",   SA_NUM,   0, NUM_SRV(weight, NUM_COUNT, 0, 256) },
	{ "check",    SA_FLAG,  offsetof(struct cfg_server, check), NULL },
	{ "inter",    SA_NUM,   0, NUM_SRV(inter_ms, NUM_TIME, 1, 0) },
	{ "rise",     SA_NUM,   0, NUM_SRV(rise, NUM_COUNT, 1, 1000) },
	{ "fall",     SA_NUM,   0, NUM_SRV(fall, NUM_COUNT, 1, 1000) },
	{ "proto",    SA_PROTO, 0, NULL },
	{ "disabled", SA_FLAG,  offsetof(struct cfg_server, disabled), NULL },
	{ "backup",   SA_FLAG,  offsetof(struct cfg_server, backup), NULL },
};
#define NB_SRV_ARGS (sizeof(srv_args) / sizeof(srv_args[0]))

/* Fails for the unknown server argument <a>, listing the known ones. */
static int fail_srv_arg(struct parser *p, const char *a)
{
	char list[768];
	size_t len = 0;

	list[0] = '\0';
	for (size_t k = 0; k < NB_SRV_ARGS && len < sizeof(list); k++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", k ? ", " : "",
		                        srv_args[k].name);
	if (len < sizeof(list) - 2) {
		memcpy(list + len, ", ", 3);
		tlsopt_list(TLSO_SRV, list + len + 2, sizeof(list) - len - 2);
	}
	return fail(p, "unknown argument '%s' (expected %s)", a, list);
}

/* crt-base DIR and ca-base DIR (global): where relative paths after crt
 * and crt-list (and inside a crt-list), and after ca-file, are taken from,
 * as in HAProxy: on the lines that follow, an absolute path ignores it. */
static int kw_tls_base(struct parser *p)
{
	char **dst = strcmp(p->argv[0], "crt-base") == 0 ? &p->crt_base : &p->ca_base;
	size_t n;

	if (want_words(p, 1, 1, "directory") < 0)
		return -1;
	n = strlen(p->argv[1]);
	while (n > 1 && p->argv[1][n - 1] == '/')
		p->argv[1][--n] = '\0';   /* "dir/" and "dir" name the same */
	if (set_str(dst, p->argv[1]) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* When argv[i] is a TLS word whose value is a file path (crt, crt-list,
 * ca-file) and that value is relative while crt-base or ca-base is set,
 * makes argv[i + 1] the path under that directory (kept in p->based).
 * Returns 0, or -1 after reporting. */
static int tls_path_rebase(struct parser *p, int i)
{
	int base = tlsopt_path_base(p->argv[i]);
	const char *dir = base == TLSO_BASE_CRT ? p->crt_base : base == TLSO_BASE_CA ? p->ca_base : NULL;
	char path[PATH_MAX], *one = path;

	if (!dir || i + 1 >= p->argc || p->argv[i + 1][0] == '/')
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, p->argv[i + 1]) >= sizeof(path))
		return fail(p, "path '%s' too long under '%s'", p->argv[i + 1], dir);
	if (tls_words_add(&p->based, &one, 1) < 0)
		return fail(p, "out of memory");
	p->argv[i + 1] = p->based.v[p->based.n - 1];
	return 0;
}

/* Applies server settings argv[i..] to <srv> (`server` and `default-server`);
 * TLS words go to <t>, and on `default-server` lines also to <save>, whose
 * words each later server line replays before its own. */
static int parse_server_args(struct parser *p, int i, struct cfg_server *srv,
			     struct tlsopt_set *t, struct tls_words *save)
{
	char ctx[64], err[256];

	for (; i < p->argc; i++) {
		const char *a = p->argv[i];
		const struct srv_arg *sa = NULL;
		int n;

		for (size_t k = 0; k < NB_SRV_ARGS && !sa; k++)
			if (strcmp(a, srv_args[k].name) == 0)
				sa = &srv_args[k];
		if (!sa) {
			if (tls_path_rebase(p, i) < 0)
				return -1;
			n = tlsopt_word(t, TLSO_SRV, p->argv, p->argc, i, err, sizeof(err));
			if (n < 0)
				return fail(p, "%s", err);
			if (!n)
				return fail_srv_arg(p, a);
			if (save && tls_words_add(save, p->argv + i, (unsigned)n) < 0)
				return fail(p, "out of memory");
			i += n - 1;
			continue;
		}
		switch (sa->kind) {
		case SA_FLAG:
			*(int *)((char *)srv + sa->flag_off) = 1;
			break;
		case SA_PROTO:
			if (get_proto(p, i, &srv->proto_h2) < 0)
				return -1;
			i++;
			break;
		default:
			if (i + 1 >= p->argc)
				return fail(p, "missing value after '%s'", a);
			snprintf(ctx, sizeof(ctx), " for '%s'", a);
			if (num_set(p, sa->num, p->argv[++i], ctx, srv) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

static int kw_default_server(struct parser *p)
{
	struct px_settings *s = cur_settings(p);
	struct tlsopt_set t;

	memset(&t, 0, sizeof(t));
	return parse_server_args(p, 1, &s->srv, &t, &s->srv_tls);
}

/* Returns non-zero when <name> is a usable proxy or server name; otherwise
 * records the error and returns 0. */
static int valid_name(struct parser *p, const char *name)
{
	const char *c;

	if (!*name) {
		fail(p, "empty name");
		return 0;
	}
	for (c = name; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("-_.:", *c))
			continue;
		fail(p, "invalid character '%c' in name '%s' (expected letters, digits, '-', '_', '.', ':')",
		     *c, name);
		return 0;
	}
	return 1;
}

static int kw_server(struct parser *p)
{
	struct px_work *w = &p->px;
	struct cfg_server srv, *arr;
	struct tlsopt_set tw;
	char err[512];
	unsigned i;

	if (want_min(p, 1, "server name") < 0)
		return -1;
	if (!valid_name(p, p->argv[1]))
		return -1;
	if (p->argc < 3)
		return fail(p, "missing address for server '%s' (expected ADDR:PORT)", p->argv[1]);
	for (i = 0; i < w->nb_servers; i++)
		if (strcmp(w->servers[i].name, p->argv[1]) == 0)
			return fail(p, "duplicate server name '%s' in '%s' (first declared at line %d)",
			            p->argv[1], w->name, w->servers[i].line);
	srv = w->set.srv;
	/* TLS: global defaults, then default-server, then this line */
	memset(&tw, 0, sizeof(tw));
	if (tlsopt_apply(&tw, TLSO_SRV, &p->tls_def_srv, err, sizeof(err)) < 0 ||
	    tlsopt_apply(&tw, TLSO_SRV, &w->set.srv_tls, err, sizeof(err)) < 0)
		return fail(p, "%s", err);
	if (parse_addr(p, p->argv[2], 0, &srv.addr, &srv.addrlen) < 0 ||
	    parse_server_args(p, 3, &srv, &tw, NULL) < 0)
		return -1;
	if (tw.seen && !tw.ssl)
		return fail(p, "TLS options on server '%s' without 'ssl'", p->argv[1]);
	/* HTTP/2 over TLS is chosen by ALPN: offer h2 unless told otherwise */
	if (tw.ssl && srv.proto_h2 && !tw.srv.alpn)
		tw.srv.alpn = "h2";
	srv.tls = NULL;
	if (tw.ssl) {
		srv.tls = tls_srv_new(&tw.srv, err, sizeof(err));
		if (!srv.tls)
			return fail(p, "%s", err);
	}
	srv.line = p->line;
	arr = grow(w->servers, &w->cap_servers, w->nb_servers + 1, sizeof(*arr));
	if (!arr) {
		tls_srv_free(srv.tls);
		return fail(p, "out of memory");
	}
	w->servers = arr;
	if (!(srv.name = strdup(p->argv[1]))) {
		tls_srv_free(srv.tls);
		return fail(p, "out of memory");
	}
	w->servers[w->nb_servers++] = srv;
	return 0;
}

/* bind ADDR:PORT[,...] [proto h1|h2] [ssl crt FILE|DIR|crt-list FILE
 * [alpn LIST] ...]: the TLS words (core/tlsopt.c) take at most one value
 * each, as in HAProxy, and need `ssl`; the global ssl-default-bind-* words
 * come first, the line's own override them. */
static int kw_bind(struct parser *p)
{
	struct tlsopt_set t;
	char err[512], list[512];
	int h2 = 0, i, n;

	if (want_min(p, 1, "address (expected ADDR:PORT)") < 0)
		return -1;
	memset(&t, 0, sizeof(t));
	if (tlsopt_apply(&t, TLSO_BIND, &p->tls_def_bind, err, sizeof(err)) < 0)
		return fail(p, "%s", err);
	for (i = 2; i < p->argc; i += n) {
		if (strcmp(p->argv[i], "proto") == 0) {
			if (get_proto(p, i, &h2) < 0)
				return -1;
			n = 2;
			continue;
		}
		if (tls_path_rebase(p, i) < 0)
			return -1;
		n = tlsopt_word(&t, TLSO_BIND, p->argv, p->argc, i, err, sizeof(err));
		if (n < 0)
			return fail(p, "%s", err);
		if (!n) {
			tlsopt_list(TLSO_BIND, list, sizeof(list));
			return fail(p, "unsupported bind option '%s' (expected proto, %s)", p->argv[i], list);
		}
	}
	if (t.seen && !t.ssl)
		return fail(p, "TLS options on a bind without 'ssl'");
	if (t.ssl && !t.bind.crt && !t.bind.crt_list)
		return fail(p, "'ssl' needs 'crt FILE|DIR' or 'crt-list FILE'");
	t.bind.crt_base = p->crt_base;
	return add_binds(p, p->argv[1], h2, t.ssl ? &t.bind : NULL);
}

/* ssl-default-bind-{options,ciphers,ciphersuites,curves} and the
 * ssl-default-server-* ones: checked here, replayed on later lines. */
static int kw_ssl_default(struct parser *p)
{
	char err[512];

	if (tlsopt_global(p->argv, p->argc, &p->tls_def_bind, &p->tls_def_srv, err, sizeof(err)) < 0)
		return fail(p, "%s", err);
	return 0;
}

static int kw_default_backend(struct parser *p)
{
	struct px_settings *s = cur_settings(p);

	if (want_words(p, 1, 1, "backend name") < 0 || !valid_name(p, p->argv[1]))
		return -1;
	if (set_str(&s->default_backend, p->argv[1]) < 0)
		return fail(p, "out of memory");
	s->default_backend_line = p->line;
	return 0;
}

/* Writes the base64 form of src[0..len) and a NUL into <dst>, which holds
 * at least 4 * ((len + 2) / 3) + 1 bytes. */
static void base64_encode(const unsigned char *src, size_t len, char *dst)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*dst++ = tbl[src[i] >> 2];
		*dst++ = tbl[((src[i] & 3) << 4) | (src[i + 1] >> 4)];
		*dst++ = tbl[((src[i + 1] & 15) << 2) | (src[i + 2] >> 6)];
		*dst++ = tbl[src[i + 2] & 63];
	}
	if (i < len) {
		*dst++ = tbl[src[i] >> 2];
		*dst++ = tbl[((src[i] & 3) << 4) | (i + 1 < len ? src[i + 1] >> 4 : 0)];
		*dst++ = i + 1 < len ? tbl[(src[i + 1] & 15) << 2] : '=';
		*dst++ = '=';
	}
	*dst = 0;
}

/* `stats auth USER:PASS`: adds the Authorization value a client must send
 * ("Basic " and the base64 of USER:PASS) to the frontend's list; the
 * request path compares whole values, so nothing is decoded at run time. */
static int stats_auth_add(struct parser *p, struct px_settings *s, const char *cred)
{
	size_t len = strlen(cred), old = s->stats_auth ? strlen(s->stats_auth) : 0;
	char *n;

	if (!strchr(cred, ':'))
		return fail(p, "invalid credentials '%s' (expected USER:PASS)", cred);
	n = realloc(s->stats_auth, old + 6 + 4 * ((len + 2) / 3) + 2);
	if (!n)
		return fail(p, "out of memory");
	memcpy(n + old, "Basic ", 6);
	base64_encode((const unsigned char *)cred, len, n + old + 6);
	strcat(n + old, "\n");
	s->stats_auth = n;
	return 0;
}

static int kw_stats_admin(struct parser *p);

/* `stats enable | uri PATH | prometheus-uri PATH | refresh TIME | auth
 * USER:PASS | admin if|unless COND`; any of them enables stats. */
static int kw_stats(struct parser *p)
{
	struct px_settings *s = cur_settings(p);
	const char *what;

	if (p->argc >= 2 && strcmp(p->argv[1], "admin") == 0) {
		if (kw_stats_admin(p) < 0)
			return -1;
	} else if (want_words(p, 1, 2, "argument (expected enable, uri, prometheus-uri, refresh, auth, admin)") < 0) {
		return -1;
	}
	what = p->argv[1];
	if (strcmp(what, "admin") == 0) {
		/* parsed above */
	} else if (strcmp(what, "enable") == 0) {
		if (p->argc > 2)
			return fail(p, "unexpected argument '%s'", p->argv[2]);
	} else if (strcmp(what, "uri") == 0 || strcmp(what, "prometheus-uri") == 0) {
		if (p->argc < 3)
			return fail(p, "missing path after '%s'", what);
		if (p->argv[2][0] != '/')
			return fail(p, "invalid uri '%s' (expected a path starting with '/')", p->argv[2]);
		if (set_str(what[0] == 'u' ? &s->stats_uri : &s->stats_prom_uri, p->argv[2]) < 0)
			return fail(p, "out of memory");
	} else if (strcmp(what, "auth") == 0) {
		if (p->argc < 3)
			return fail(p, "missing USER:PASS after 'auth'");
		if (stats_auth_add(p, s, p->argv[2]) < 0)
			return -1;
	} else if (strcmp(what, "refresh") == 0) {
		if (p->argc < 3)
			return fail(p, "missing time after 'refresh'");
		if (get_time(p, p->argv[2], " for 'refresh'", 0, &s->stats_refresh_ms) < 0)
			return -1;
	} else {
		return fail(p, "unsupported argument '%s' (expected enable, uri, prometheus-uri, refresh, auth, admin)", what);
	}
	s->stats_enabled = 1;
	if (!s->stats_uri && set_str(&s->stats_uri, CFG_STATS_DEFAULT_URI) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* ---------- request rules ---------- */

static char *read_file(const char *path, size_t *len);

static void http_rule_free(struct cfg_http_rule *r)
{
	acl_cond_free(r->cond);
	free(r->name);
	acl_fmt_free(r->value);
	acl_regex_free(r->re);
	free(r->reason);
	free(r->ctype);
	free(r->body);
}

void cfg_rules_free(struct cfg_rules *r)
{
	unsigned i;

	if (!r)
		return;
	acl_cond_free(r->stats_admin);
	for (i = 0; i < r->nb_req; i++)
		http_rule_free(&r->req[i]);
	for (i = 0; i < r->nb_rsp; i++)
		http_rule_free(&r->rsp[i]);
	for (i = 0; i < r->nb_ub; i++) {
		free(r->ub[i].name);
		sample_free(r->ub[i].dyn);
		acl_cond_free(r->ub[i].cond);
	}
	for (i = 0; i < r->nb_ef; i++)
		free(r->ef[i].msg);
	free(r->req);
	free(r->rsp);
	free(r->ub);
	free(r->ef);
	acl_list_free(r->acls);
	free(r);
}

/* Returns *<slot>, made empty on first use, or NULL with the error set. */
static struct cfg_rules *rules_made(struct parser *p, struct cfg_rules **slot)
{
	struct cfg_rules *r = *slot;

	if (r)
		return r;
	if (!(r = calloc(1, sizeof(*r))) || !(r->acls = acl_list_new())) {
		free(r);
		fail(p, "out of memory");
		return NULL;
	}
	return *slot = r;
}

/* Returns the rules of the section being parsed, made on first use, or
 * NULL with the error set. */
static struct cfg_rules *work_rules(struct parser *p)
{
	return rules_made(p, &p->px.rules);
}

/* Records the message <msg> (from acl.c, owned) as the line's error. */
static int fail_owned(struct parser *p, char *msg)
{
	fail(p, "%s", msg ? msg : "out of memory");
	free(msg);
	return -1;
}

/* Returns the index of the first "if" or "unless" at or after <from>, or
 * argc when the line has no condition. */
static int cond_at(const struct parser *p, int from)
{
	for (int i = from; i < p->argc; i++)
		if (!strcmp(p->argv[i], "if") || !strcmp(p->argv[i], "unless"))
			return i;
	return p->argc;
}

/* Parses the condition starting at word <at> (argc: none) into *<out>. */
static int get_cond(struct parser *p, struct cfg_rules *r, int at, struct acl_cond **out)
{
	char *err;

	*out = NULL;
	if (at >= p->argc)
		return 0;
	*out = acl_cond_parse(r->acls, p->argc - at, p->argv + at, &err);
	return *out ? 0 : fail_owned(p, err);
}

/* `stats admin if|unless COND` (HAProxy's): the stats page shows server
 * controls, and accepts their POST, to requests COND holds for. COND is
 * compiled with the section's ACLs (and HAProxy's predefined ones, such as
 * LOCALHOST). Only where the page is served: a frontend or listen. */
static int kw_stats_admin(struct parser *p)
{
	struct cfg_rules *r;

	if (!(p->sec & SEC_FE))
		return fail(p, "'admin' is only allowed in frontend and listen sections");
	if (p->argc < 3 || cond_at(p, 2) != 2)
		return fail(p, "'admin' expects a condition ('if COND' or 'unless COND')");
	if (!(r = work_rules(p)))
		return -1;
	if (r->stats_admin)
		return fail(p, "'admin' given twice: write one condition with '||'");
	return get_cond(p, r, 2, &r->stats_admin);
}

static int kw_acl(struct parser *p)
{
	struct cfg_rules *r = work_rules(p);
	char *err;

	if (!r)
		return -1;
	if (acl_add(r->acls, p->argc - 1, p->argv + 1, &err) < 0)
		return fail_owned(p, err);
	return 0;
}

/* Checks a header name an action edits: an HTTP token, and not a header
 * that frames the body, since the body's framing was read from the head
 * before the rules run and must stay what both peers agree on. */
static int rule_hdr_name(struct parser *p, const char *name)
{
	if (!*name)
		return fail(p, "empty header name");
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("!#$%&'*+-.^_`|~", *c)))
			return fail(p, "invalid character 0x%02x in header name '%s'", (unsigned char)*c, name);
	if (!strcasecmp(name, "content-length") || !strcasecmp(name, "transfer-encoding"))
		return fail(p, "cannot edit '%s' (it decides where the body ends)", name);
	return 0;
}

/* Parses a value format into *out, replacing one given earlier on the line
 * ("return string a string b": the last wins). */
static int get_fmt(struct parser *p, const char *text, int no_ctl, struct acl_fmt **out)
{
	char *err;

	acl_fmt_free(*out);
	*out = acl_fmt_parse(text, no_ctl, &err);
	return *out ? 0 : fail_owned(p, err);
}

/* Loads file <path> named on the current line, for an answer sent as it
 * is (errorfile, return file): read once here, so that a request never
 * touches the file system. It must fit a response buffer with room for
 * the head rewrite. Returns the text (its length in *len), or NULL with
 * the error set. */
static char *load_answer_file(struct parser *p, const char *path, size_t *len)
{
	size_t max = p->c->g.bufsize - p->c->g.maxrewrite;
	char *text = read_file(path, len);

	if (!text) {
		fail(p, "cannot read '%s' (%s)", path, strerror(errno));
		return NULL;
	}
	if (*len > max) {
		fail(p, "'%s' holds %zu bytes, more than the %zu a response buffer leaves for it "
		     "(tune.bufsize - tune.maxrewrite)", path, *len, max);
		free(text);
		return NULL;
	}
	return text;
}

/* Parses the words between the action (word 1) and the condition of an
 * `http-request` (<req>) or `http-response` line into <r>. */
static int http_action(struct parser *p, int req, struct cfg_http_rule *r, int end)
{
	const char *a = p->argv[1];
	int n = end - 2;          /* arguments of the action */
	char **v = p->argv + 2;
	uint64_t u;
	char *err;

	if (!strcmp(a, "set-header") || !strcmp(a, "add-header")) {
		r->act = a[0] == 's' ? HA_SET_HDR : HA_ADD_HDR;
		if (n != 2)
			return fail(p, "'%s' expects a header name and a value", a);
		if (rule_hdr_name(p, v[0]) < 0 || get_fmt(p, v[1], 1, &r->value) < 0)
			return -1;
	} else if (!strcmp(a, "del-header")) {
		r->act = HA_DEL_HDR;
		if (n != 1)
			return fail(p, "'%s' expects a header name", a);
		if (rule_hdr_name(p, v[0]) < 0)
			return -1;
	} else if (!strcmp(a, "replace-header")) {
		r->act = HA_REPLACE_HDR;
		if (n != 3)
			return fail(p, "'%s' expects a header name, a regex and a replacement", a);
		if (rule_hdr_name(p, v[0]) < 0)
			return -1;
		if (!(r->re = acl_regex_new(v[1], v[2], &err)))
			return fail_owned(p, err);
	} else if (req && (!strcmp(a, "set-path") || !strcmp(a, "set-query") ||
	                   !strcmp(a, "set-method"))) {
		r->act = a[4] == 'p' ? HA_SET_PATH : a[4] == 'q' ? HA_SET_QUERY : HA_SET_METHOD;
		if (n != 1)
			return fail(p, "'%s' expects one value", a);
		if (get_fmt(p, v[0], 1, &r->value) < 0)
			return -1;
		return 0;
	} else if (req && !strcmp(a, "deny")) {
		r->act = HA_DENY;
		r->status = 403;
		if (n == 2 && !strcmp(v[0], "deny_status")) {
			if (get_uint(p, v[1], " for 'deny_status'", 200, 599, &u) < 0)
				return -1;
			r->status = (int)u;
		} else if (n) {
			return fail(p, "unexpected argument '%s' (expected deny [deny_status CODE])", v[0]);
		}
		return 0;
	} else if (req && !strcmp(a, "return")) {
		r->act = HA_RETURN;
		r->status = 200;
		for (int i = 0; i < n; i += 2) {
			if (i + 1 >= n)
				return fail(p, "missing value after '%s'", v[i]);
			if (!strcmp(v[i], "status")) {
				if (get_uint(p, v[i + 1], " for 'status'", 200, 599, &u) < 0)
					return -1;
				r->status = (int)u;
			} else if (!strcmp(v[i], "content-type")) {
				for (const char *c = v[i + 1]; *c; c++)
					if ((unsigned char)*c < 0x20 || *c == 0x7f)
						return fail(p, "control character in content-type");
				if (set_str(&r->ctype, v[i + 1]) < 0)
					return fail(p, "out of memory");
			} else if (!strcmp(v[i], "string") || !strcmp(v[i], "file") ||
			           !strcmp(v[i], "lf-string") || !strcmp(v[i], "lf-file")) {
				/* as HAProxy: string and file are sent as they
				 * are, the lf- forms are formats; the last body
				 * given wins */
				int is_file = !strcmp(v[i], "file") || !strcmp(v[i], "lf-file");
				size_t len;
				char *text = is_file ? load_answer_file(p, v[i + 1], &len)
				                     : strdup(v[i + 1]);

				if (!text)
					return is_file ? -1 : fail(p, "out of memory");
				if (!is_file)
					len = strlen(text);
				acl_fmt_free(r->value);
				r->value = NULL;
				free(r->body);
				r->body = NULL;
				if (!strncmp(v[i], "lf-", 3)) {
					int rc = get_fmt(p, text, 0, &r->value);

					free(text);
					if (rc < 0)
						return -1;
				} else {
					r->body = text;
					r->body_len = len;
				}
			} else {
				return fail(p, "unexpected argument '%s' (expected status, content-type, "
				            "string, lf-string, file, lf-file)", v[i]);
			}
		}
		return 0;
	} else if (req && !strcmp(a, "redirect")) {
		r->act = HA_REDIRECT;
		r->status = 302;
		if (n < 2)
			return fail(p, "'redirect' expects location|prefix|scheme and a value");
		if (!strcmp(v[0], "location"))
			r->redir = CFG_REDIR_LOCATION;
		else if (!strcmp(v[0], "prefix"))
			r->redir = CFG_REDIR_PREFIX;
		else if (!strcmp(v[0], "scheme"))
			r->redir = CFG_REDIR_SCHEME;
		else
			return fail(p, "unknown redirect type '%s' (expected location, prefix, scheme)", v[0]);
		if (get_fmt(p, v[1], 1, &r->value) < 0)
			return -1;
		if (n == 4 && !strcmp(v[2], "code")) {
			if (get_uint(p, v[3], " for 'code'", 301, 308, &u) < 0)
				return -1;
			if (u == 304 || u == 305 || u == 306)
				return fail(p, "invalid redirect code '%s' (expected 301, 302, 303, 307, 308)", v[3]);
			r->status = (int)u;
		} else if (n != 2) {
			return fail(p, "unexpected argument '%s' (expected redirect TYPE VALUE [code N])", v[2]);
		}
		return 0;
	} else if (req && !strcmp(a, "use-service")) {
		/* the name is resolved when the engine starts: the host
		 * registers its services after the configuration is read */
		r->act = HA_USE_SERVICE;
		r->svc_idx = -1;
		if (n != 1)
			return fail(p, "'use-service' expects a service name");
	} else if (!req && !strcmp(a, "set-status")) {
		r->act = HA_SET_STATUS;
		if (n != 1 && !(n == 3 && !strcmp(v[1], "reason")))
			return fail(p, "'set-status' expects a status code [reason TEXT]");
		if (get_uint(p, v[0], " for 'set-status'", 200, 599, &u) < 0)
			return -1;
		r->status = (int)u;
		if (n == 3) {
			for (const char *c = v[2]; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					return fail(p, "control character in reason");
			if (set_str(&r->reason, v[2]) < 0)
				return fail(p, "out of memory");
		}
		return 0;
	} else {
		return fail(p, "unsupported action '%s' (expected %s)", a,
		            req ? "set-header, add-header, del-header, replace-header, set-path, set-query, "
		                  "set-method, deny, return, redirect, use-service"
		                : "set-header, add-header, del-header, replace-header, set-status");
	}
	if (!(r->name = strdup(v[0])))
		return fail(p, "out of memory");
	r->name_len = strlen(r->name);
	return 0;
}

/* `http-request ACTION ARGS [if|unless COND]`, and `http-response` alike. */
static int http_rule(struct parser *p, int req)
{
	struct cfg_rules *rs = work_rules(p);
	struct cfg_http_rule r = { .line = p->line }, *arr;
	unsigned *nb, *cap;
	int end;

	if (!rs || want_min(p, 1, "action") < 0)
		return -1;
	end = cond_at(p, 2);
	if (http_action(p, req, &r, end) < 0 || get_cond(p, rs, end, &r.cond) < 0) {
		http_rule_free(&r);
		return -1;
	}
	nb = req ? &rs->nb_req : &rs->nb_rsp;
	cap = req ? &rs->cap_req : &rs->cap_rsp;
	arr = grow(req ? rs->req : rs->rsp, cap, *nb + 1, sizeof(r));
	if (!arr) {
		http_rule_free(&r);
		return fail(p, "out of memory");
	}
	if (req)
		rs->req = arr;
	else
		rs->rsp = arr;
	arr[(*nb)++] = r;
	return 0;
}

static int kw_http_request(struct parser *p)
{
	return http_rule(p, 1);
}

static int kw_http_response(struct parser *p)
{
	return http_rule(p, 0);
}

/* Sets <ef> (owned) as the answer of its status in <rs>, replacing the
 * one set before. Returns 0, or -1 (out of memory, <ef> freed). */
static int errorfile_set(struct cfg_rules *rs, struct cfg_errorfile ef)
{
	struct cfg_errorfile *arr;

	for (unsigned i = 0; i < rs->nb_ef; i++)
		if (rs->ef[i].status == ef.status) {
			free(rs->ef[i].msg);
			rs->ef[i] = ef;
			return 0;
		}
	if (!(arr = grow(rs->ef, &rs->cap_ef, rs->nb_ef + 1, sizeof(ef)))) {
		free(ef.msg);
		return -1;
	}
	rs->ef = arr;
	arr[rs->nb_ef++] = ef;
	return 0;
}

/* Copies the errorfiles of the defaults section into the frontend or
 * listen being opened: its own, set later, replace them code by code. */
static int errorfile_inherit(struct parser *p)
{
	struct cfg_rules *rs;

	if (!p->def_rules || !p->def_rules->nb_ef)
		return 0;
	if (!(rs = work_rules(p)))
		return -1;
	for (unsigned i = 0; i < p->def_rules->nb_ef; i++) {
		struct cfg_errorfile ef = p->def_rules->ef[i];

		if (!(ef.msg = malloc(ef.len + 1)))
			return fail(p, "out of memory");
		memcpy(ef.msg, p->def_rules->ef[i].msg, ef.len + 1);
		if (errorfile_set(rs, ef) < 0)
			return fail(p, "out of memory");
	}
	return 0;
}

/* `errorfile CODE FILE`: the file holds a whole HTTP/1 answer. In a
 * defaults section, for the frontends and listens that follow. */
static int kw_errorfile(struct parser *p)
{
	struct cfg_rules *rs = p->sec == SEC_DEFAULTS ? rules_made(p, &p->def_rules) : work_rules(p);
	struct cfg_errorfile ef = { 0 };
	uint64_t u;
	size_t len;
	char *text;

	if (!rs || want_words(p, 2, 2, "status code and file") < 0 ||
	    get_uint(p, p->argv[1], " for the status", 200, 599, &u) < 0)
		return -1;
	if (!(text = load_answer_file(p, p->argv[2], &len)))
		return -1;
	if (len < 12 || strncmp(text, "HTTP/1.", 7) != 0 ||
	    (!strstr(text, "\r\n\r\n") && !strstr(text, "\n\n"))) {
		free(text);
		return fail(p, "'%s' is not an HTTP/1 answer (expected a status line, headers and an empty line)",
		            p->argv[2]);
	}
	ef = (struct cfg_errorfile){ .status = (int)u, .msg = text, .len = len };
	return errorfile_set(rs, ef) < 0 ? fail(p, "out of memory") : 0;
}

/* `unique-id-format FMT`: a format (literals, %[sample], log-format
 * variables) built once per request into its unique id. Compiled here to
 * report a mistake on its line, and again for each frontend using it. */
static int kw_unique_id_format(struct parser *p)
{
	struct px_settings *s = cur_settings(p);
	struct acl_fmt *f;
	char *err;

	if (want_words(p, 1, 1, "format") < 0)
		return -1;
	if (!(f = acl_fmt_parse(p->argv[1], 1, &err)))
		return fail_owned(p, err);
	acl_fmt_free(f);
	if (set_str(&s->uid_fmt, p->argv[1]) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* `unique-id-header NAME`: the header that carries the id to the server. */
static int kw_unique_id_header(struct parser *p)
{
	struct px_settings *s = cur_settings(p);

	if (want_words(p, 1, 1, "header name") < 0 || rule_hdr_name(p, p->argv[1]) < 0)
		return -1;
	if (set_str(&s->uid_hdr, p->argv[1]) < 0)
		return fail(p, "out of memory");
	return 0;
}

/* `use_backend NAME` (the frontend's backend, as before), `use_backend
 * NAME if|unless COND`, or `use_backend %[SAMPLE] [if|unless COND]`: the
 * conditional and sample forms are rules tried in order before the
 * default backend. */
static int kw_use_backend(struct parser *p)
{
	struct px_work *w = &p->px;
	struct cfg_use_backend ub = { .backend_idx = -1, .dyn_default_idx = -1, .line = p->line };
	struct cfg_rules *rs;
	const char *name = p->argc > 1 ? p->argv[1] : "";
	char *err;

	if (want_min(p, 1, "backend name") < 0)
		return -1;
	if (p->argc == 2 && strncmp(name, "%[", 2) != 0) {
		if (!valid_name(p, name))
			return -1;
		if (w->use_backend)
			return warn_at(p, p->line, p->argv[0],
			               "ignored: the unconditional use_backend at line %d always matches first",
			               w->use_backend_line);
		if (set_str(&w->use_backend, name) < 0)
			return fail(p, "out of memory");
		w->use_backend_line = p->line;
		return 0;
	}
	if (p->argc > 2 && strcmp(p->argv[2], "if") && strcmp(p->argv[2], "unless"))
		return fail(p, "unexpected argument '%s' (expected if or unless)", p->argv[2]);
	if (!(rs = work_rules(p)))
		return -1;
	if (!strncmp(name, "%[", 2)) {
		size_t l = strlen(name);
		char *inner;

		if (name[l - 1] != ']')
			return fail(p, "missing ']' at the end of '%s'", name);
		if (!(inner = strndup(name + 2, l - 3)))
			return fail(p, "out of memory");
		ub.dyn = sample_parse(inner, &err);
		free(inner);
		if (!ub.dyn)
			return fail_owned(p, err);
	} else if (!valid_name(p, name)) {
		return -1;
	} else if (!(ub.name = strdup(name))) {
		return fail(p, "out of memory");
	}
	if (get_cond(p, rs, 2, &ub.cond) < 0) {
		free(ub.name);
		sample_free(ub.dyn);
		return -1;
	}
	{
		struct cfg_use_backend *arr = grow(rs->ub, &rs->cap_ub, rs->nb_ub + 1, sizeof(ub));

		if (!arr) {
			free(ub.name);
			sample_free(ub.dyn);
			acl_cond_free(ub.cond);
			return fail(p, "out of memory");
		}
		rs->ub = arr;
		arr[rs->nb_ub++] = ub;
	}
	return 0;
}

static int kw_unsupported(struct parser *p)
{
	return fail(p, "not supported by Sluice");
}

/* ---------- keyword table ---------- */

static const struct keyword keywords[] = {
	{ "nbthread",                       SEC_GLOBAL, 0, kw_number,
	  NUM_G(nbthread, NUM_COUNT, 1, MAX_NBTHREAD, "number of threads", LN_NONE) },
	{ "maxconn",                        SEC_GLOBAL, 0, kw_number,
	  NUM_G(maxconn, NUM_COUNT, 1, MAX_MAXCONN, "number of connections", LN_NONE) },
	{ "tune.bufsize",                   SEC_GLOBAL, 0, kw_number,
	  NUM_G(bufsize, NUM_SIZE, MIN_BUFSIZE, MAX_BUFSIZE, "size", LN_NONE) },
	{ "tune.maxrewrite",                SEC_GLOBAL, 0, kw_number,
	  NUM_G(maxrewrite, NUM_SIZE, 0, MAX_BUFSIZE, "size", LN_MAXREWRITE) },
	{ "tune.buffers.limit",             SEC_GLOBAL, 0, kw_number,
	  NUM_G(buf_limit, NUM_COUNT, 0, UINT32_MAX, "number of buffers", LN_LIMIT) },
	{ "tune.buffers.reserve",           SEC_GLOBAL, 0, kw_number,
	  NUM_G(buf_reserve, NUM_COUNT, 0, UINT32_MAX, "number of buffers", LN_RESERVE) },
	{ "tune.fail-alloc",                SEC_GLOBAL, 0, kw_number,
	  NUM_G(fail_alloc_pct, NUM_PERCENT, 0, 100, "percentage", LN_NONE) },
	/* maxconn counts connections; one HTTP/2 connection carries many
	 * streams, each of which may hold buffers: this bounds them all */
	{ "maxstreams",                     SEC_GLOBAL, 0, kw_number,
	  NUM_G(max_streams, NUM_COUNT, 0, UINT32_MAX, "number of streams", LN_NONE) },
	{ "tune.h2.max-concurrent-streams", SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_max_streams, NUM_COUNT, 1, INT32_MAX, "number of streams", LN_NONE) },
	{ "tune.h2.initial-window-size",    SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_init_window, NUM_SIZE, 0, H2_MAX_WINDOW, "size", LN_NONE) },
	{ "tune.h2.header-table-size",      SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_header_table, NUM_SIZE, 0, H2_MAX_TABLE, "size", LN_NONE) },
	/* HPACK entries our encoder keeps are per-connection memory: none by
	 * default, as HAProxy (idle HTTP/2 memory, bench/RESULTS.md) */
	{ "tune.h2.encoder-table-size",     SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_encoder_table, NUM_SIZE, 0, H2_MAX_TABLE, "size", LN_NONE) },
	{ "tune.h2.max-header-list-size",   SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_max_header_list, NUM_SIZE, 1, UINT32_MAX, "size", LN_H2_LIST) },
	/* below 128 KiB nghttp2's own session would leave almost nothing for
	 * streams: the heap one HTTP/2 connection may hold outside the pool */
	{ "tune.h2.max-heap-per-conn",      SEC_GLOBAL, 0, kw_number,
	  NUM_G(h2_max_heap, NUM_SIZE, 128 << 10, 1ull << 30, "size", LN_NONE) },
	/* pipes for splicing bodies: descriptors and kernel memory, capped */
	{ "tune.pipes.limit",               SEC_GLOBAL, 0, kw_number,
	  NUM_G(pipes_limit, NUM_COUNT, 1, MAX_MAXCONN, "number of pipes", LN_NONE) },
	{ "grace",                          SEC_GLOBAL, 0, kw_number,
	  NUM_G(grace_ms, NUM_TIME, 0, 0, "time", LN_NONE) },
	{ "log",                            SEC_GLOBAL, 0, kw_global_log, NULL },
	{ "stats",                          SEC_GLOBAL, 0, kw_global_stats, NULL },
	{ "daemon",                         SEC_GLOBAL, 0, kw_daemon, NULL },
	{ "user",                           SEC_GLOBAL, 0, kw_privileges, NULL },
	{ "group",                          SEC_GLOBAL, 0, kw_privileges, NULL },
	{ "uid",                            SEC_GLOBAL, 0, kw_privileges, NULL },
	{ "gid",                            SEC_GLOBAL, 0, kw_privileges, NULL },
	{ "chroot",                         SEC_GLOBAL, 0, kw_privileges, NULL },
	{ "crt-base",                       SEC_GLOBAL, 0, kw_tls_base, NULL },
	{ "ca-base",                        SEC_GLOBAL, 0, kw_tls_base, NULL },
	{ "ssl-default-bind-options",       SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-bind-ciphers",       SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-bind-ciphersuites",  SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-bind-curves",        SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-server-options",     SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-server-ciphers",     SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-server-ciphersuites", SEC_GLOBAL, 0, kw_ssl_default, NULL },
	{ "ssl-default-server-curves",      SEC_GLOBAL, 0, kw_ssl_default, NULL },

	{ "mode",            SEC_PROXIES,           0,            kw_mode, NULL },
	{ "timeout",         SEC_PROXIES,           0,            kw_timeout, NULL },
	{ "maxconn",         SEC_DEFAULTS | SEC_FE, SEC_BACKEND,  kw_number,
	  NUM_PX(maxconn, NUM_COUNT, 1, MAX_MAXCONN, "number of connections") },
	{ "maxqueue",        SEC_DEFAULTS | SEC_BE, SEC_FRONTEND, kw_number,
	  NUM_PX(maxqueue, NUM_COUNT, 0, MAX_MAXCONN, "number of queued streams") },
	{ "balance",         SEC_DEFAULTS | SEC_BE, SEC_FRONTEND, kw_balance, NULL },
	{ "retries",         SEC_DEFAULTS | SEC_BE, SEC_FRONTEND, kw_number,
	  NUM_PX(retries, NUM_COUNT, 0, 100, "number of retries") },
	{ "option",          SEC_PROXIES,           0,            kw_option, NULL },
	{ "no",              SEC_PROXIES,           0,            kw_no, NULL },
	{ "http-check",      SEC_DEFAULTS | SEC_BE, SEC_FRONTEND, kw_http_check, NULL },
	{ "log",             SEC_PROXIES,           0,            kw_proxy_log, NULL },
	{ "default-server",  SEC_DEFAULTS | SEC_BE, 0,            kw_default_server, NULL },
	{ "server",          SEC_BE,                0,            kw_server, NULL },
	{ "bind",            SEC_FE,                0,            kw_bind, NULL },
	{ "default_backend", SEC_DEFAULTS | SEC_FE, SEC_BACKEND,  kw_default_backend, NULL },
	{ "use_backend",     SEC_FE,                0,            kw_use_backend, NULL },
	{ "stats",           SEC_PROXIES,           0,            kw_stats, NULL },
	/* request rules: the frontend's, then (once it is chosen) the backend's */
	{ "acl",             SEC_FE | SEC_BACKEND,  0,            kw_acl, NULL },
	{ "http-request",    SEC_FE | SEC_BACKEND,  0,            kw_http_request, NULL },
	{ "http-response",   SEC_FE | SEC_BACKEND,  0,            kw_http_response, NULL },
	{ "errorfile",       SEC_DEFAULTS | SEC_FE, 0,            kw_errorfile, NULL },
	{ "unique-id-format", SEC_DEFAULTS | SEC_FE, SEC_BACKEND, kw_unique_id_format, NULL },
	{ "unique-id-header", SEC_DEFAULTS | SEC_FE, SEC_BACKEND, kw_unique_id_header, NULL },

	/* HAProxy keywords Sluice knows it does not implement */
	{ "http-after-response", SEC_PROXIES, 0, kw_unsupported, NULL },
	{ "tcp-request",         SEC_PROXIES, 0, kw_unsupported, NULL },
	{ "tcp-response",        SEC_PROXIES, 0, kw_unsupported, NULL },
	{ "redirect",            SEC_PROXIES, 0, kw_unsupported, NULL },
};

/* HAProxy sections Sluice does not have. */
static const char *const unsupported_sections[] = {
	"userlist", "peers", "resolvers", "mailers", "program", "cache", "ring",
	"http-errors", "fcgi-app", "crt-store",
};

/* Returns the edit distance (insertions, deletions, substitutions,
 * transpositions of neighbours) between <a> and <b>, or a value above
 * <max> as soon as it is certain to exceed it. */
static size_t edit_distance(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[3][64], *pp = d[0], *prev = d[1], *cur = d[2];

	if (la >= 64 || lb >= 64 || (la > lb ? la - lb : lb - la) > max)
		return max + 1;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t best = cur[0] = i;

		for (size_t j = 1; j <= lb; j++) {
			size_t v = prev[j - 1] + (a[i - 1] != b[j - 1]);

			if (prev[j] + 1 < v)
				v = prev[j] + 1;
			if (cur[j - 1] + 1 < v)
				v = cur[j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
				v = pp[j - 2] + 1;
			cur[j] = v;
			if (v < best)
				best = v;
		}
		if (best > max)
			return max + 1;
		{
			size_t *t = pp;

			pp = prev;
			prev = cur;
			cur = t;
		}
	}
	return prev[lb];
}

/* Returns the keyword of section <sec> closest to the unknown <kw> when it
 * is close enough to be what was meant (a typo: at most a third of its
 * letters off, and two at most), else NULL. */
static const char *nearest_keyword(const char *kw, int sec)
{
	size_t max = strlen(kw) / 3 < 2 ? strlen(kw) / 3 : 2, best = max + 1;
	const char *near = NULL;

	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		size_t dist;

		if (!(keywords[i].applies & sec))
			continue;
		dist = edit_distance(kw, keywords[i].name, max);
		if (dist < best) {
			best = dist;
			near = keywords[i].name;
		}
	}
	return near;
}

/* Runs the keyword of the current line in the current section. */
static int run_keyword(struct parser *p)
{
	const char *kw = p->argv[0];
	const char *near;
	int known = 0;
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		const struct keyword *k = &keywords[i];

		if (strcmp(k->name, kw) != 0)
			continue;
		if (k->applies & p->sec) {
			p->kw = k;
			return k->parse(p);
		}
		if (k->ignored & p->sec)
			return ignore_at(p, "'%s' in '%s' section (only meaningful for %s)", kw,
			                 sec_name(p->sec),
			               (k->applies & SEC_BACKEND) ? "backends" : "frontends");
		known = 1;
	}
	if (known)
		return fail(p, "not allowed in '%s' section", sec_name(p->sec));
	near = nearest_keyword(kw, p->sec);
	if (near)
		return fail_at(p, p->line, NULL, "unknown keyword '%s' in '%s' section (did you mean '%s'?)",
			       kw, sec_name(p->sec), near);
	return fail_at(p, p->line, NULL, "unknown keyword '%s' in '%s' section", kw, sec_name(p->sec));
}

/* ---------- sections ---------- */

/* Returns the line of the frontend (or backend when <is_be>) named <name>
 * and sets *<from_listen>, or returns 0 when there is none. */
static int find_proxy(const struct cfg *c, const char *name, int is_be, int *from_listen)
{
	unsigned i;

	for (i = 0; !is_be && i < c->nb_frontends; i++)
		if (strcmp(c->frontends[i].name, name) == 0) {
			*from_listen = c->frontends[i].from_listen;
			return c->frontends[i].line;
		}
	for (i = 0; is_be && i < c->nb_backends; i++)
		if (strcmp(c->backends[i].name, name) == 0) {
			*from_listen = c->backends[i].from_listen;
			return c->backends[i].line;
		}
	return 0;
}

static void frontend_free(struct cfg_frontend *fe)
{
	free(fe->name);
	for (unsigned i = 0; i < fe->nb_binds; i++)
		tls_bind_free(fe->binds[i].tls);
	free(fe->binds);
	free(fe->default_backend);
	free(fe->stats_uri);
	free(fe->fwd.hdr);
	cfg_rules_free(fe->rules);
	acl_fmt_free(fe->uid_fmt);
	free(fe->uid_hdr);
	free(fe->stats_prom_uri);
	free(fe->stats_auth);
}

static void backend_free(struct cfg_backend *be)
{
	unsigned i;

	free(be->name);
	free(be->chk_method);
	free(be->chk_uri);
	free(be->stats_uri);
	free(be->fwd.hdr);
	for (i = 0; i < be->nb_servers; i++) {
		free(be->servers[i].name);
		tls_srv_free(be->servers[i].tls);
	}
	free(be->servers);
	if (!be->rules_shared)
		cfg_rules_free(be->rules);
}

/* Moves the frontend side of the work area into the cfg. */
static int commit_frontend(struct parser *p)
{
	struct px_work *w = &p->px;
	const struct px_settings *s = &w->set;
	struct cfg_frontend fe, *fes;
	unsigned char *by_use_arr;
	const char *ref = NULL;
	int by_use = 0;

	memset(&fe, 0, sizeof(fe));
	fe.backend_idx = -1;
	if (w->use_backend) {
		ref = w->use_backend;
		fe.default_backend_line = w->use_backend_line;
		by_use = 1;
	} else if (s->default_backend) {
		ref = s->default_backend;
		fe.default_backend_line = s->default_backend_line;
	} else if (w->kind == SEC_LISTEN) {
		ref = w->name;
	}
	fes = grow(p->c->frontends, &p->cap_frontends, p->c->nb_frontends + 1, sizeof(fe));
	if (fes)
		p->c->frontends = fes;
	by_use_arr = grow(p->fe_by_use, &p->cap_by_use, p->c->nb_frontends + 1, 1);
	if (by_use_arr)
		p->fe_by_use = by_use_arr;
	if (!fes || !by_use_arr ||
	    !(fe.name = strdup(w->name)) ||
	    set_str(&fe.default_backend, ref) < 0 ||
	    set_str(&fe.stats_uri, s->stats_uri) < 0 ||
	    set_str(&fe.fwd.hdr, s->fwd.hdr) < 0 ||
	    set_str(&fe.stats_prom_uri, s->stats_prom_uri) < 0 ||
	    set_str(&fe.stats_auth, s->stats_auth) < 0 ||
	    (s->uid_fmt && set_str(&fe.uid_hdr, s->uid_hdr) < 0)) {
		frontend_free(&fe);
		return fail_at(p, w->line, sec_name(w->kind), "out of memory");
	}
	if (s->uid_fmt) {
		char *err;

		/* checked when read: only memory can fail here */
		if (!(fe.uid_fmt = acl_fmt_parse(s->uid_fmt, 1, &err))) {
			frontend_free(&fe);
			fail_at(p, w->line, sec_name(w->kind), "unique-id-format: %s", err ? err : "out of memory");
			free(err);
			return -1;
		}
	}
	fe.mode = s->mode;
	fe.maxconn = s->maxconn;
	resolve_timeouts(s, &fe.t);
	fe.forwardfor = s->forwardfor;
	{
		char *hdr = fe.fwd.hdr; /* the copy made above */

		fe.fwd = s->fwd;
		fe.fwd.hdr = hdr;
	}
	fe.httplog = s->httplog;
	fe.stats_enabled = s->stats_enabled;
	fe.stats_refresh_ms = s->stats_refresh_ms;
	fe.conn_mode = s->conn_mode;
	fe.splice = s->splice;
	fe.from_listen = w->kind == SEC_LISTEN;
	fe.line = w->line;
	fe.binds = w->binds;
	fe.nb_binds = w->nb_binds;
	fe.rules = w->rules;
	w->rules = NULL;
	w->binds = NULL;
	w->nb_binds = w->cap_binds = 0;
	p->fe_by_use[p->c->nb_frontends] = (unsigned char)by_use;
	p->c->frontends[p->c->nb_frontends++] = fe;
	return 0;
}

/* Moves the backend side of the work area into the cfg. */
static int commit_backend(struct parser *p)
{
	struct px_work *w = &p->px;
	const struct px_settings *s = &w->set;
	struct cfg_backend be, *bes;

	memset(&be, 0, sizeof(be));
	bes = grow(p->c->backends, &p->cap_backends, p->c->nb_backends + 1, sizeof(be));
	if (bes)
		p->c->backends = bes;
	if (!bes || !(be.name = strdup(w->name)) ||
	    set_str(&be.chk_method, s->chk_method) < 0 ||
	    set_str(&be.chk_uri, s->chk_uri) < 0 ||
	    set_str(&be.stats_uri, s->stats_uri) < 0 ||
	    set_str(&be.fwd.hdr, s->fwd.hdr) < 0) {
		backend_free(&be);
		return fail_at(p, w->line, sec_name(w->kind), "out of memory");
	}
	be.mode = s->mode;
	be.balance = s->balance;
	be.retries = s->retries;
	be.maxqueue = s->maxqueue;
	be.redispatch = s->redispatch;
	resolve_timeouts(s, &be.t);
	be.chk_expect_status = s->chk_expect_status;
	be.stats_enabled = s->stats_enabled;
	be.stats_refresh_ms = s->stats_refresh_ms;
	be.conn_mode = s->conn_mode;
	be.splice = s->splice;
	be.forwardfor = s->forwardfor;
	{
		char *hdr = be.fwd.hdr; /* the copy made above */

		be.fwd = s->fwd;
		be.fwd.hdr = hdr;
	}
	be.from_listen = w->kind == SEC_LISTEN;
	be.line = w->line;
	be.servers = w->servers;
	be.nb_servers = w->nb_servers;
	if (w->kind == SEC_LISTEN) {
		/* commit_frontend() took them: one set of rules for both
		 * sides, run once when the listen routes to itself */
		be.rules = p->c->frontends[p->c->nb_frontends - 1].rules;
		be.rules_shared = 1;
	} else {
		be.rules = w->rules;
		w->rules = NULL;
	}
	w->servers = NULL;
	w->nb_servers = w->cap_servers = 0;
	p->c->backends[p->c->nb_backends++] = be;
	return 0;
}

/* Ends the current section: a proxy being parsed goes into the cfg. */
static int close_section(struct parser *p)
{
	int kind = p->px.kind;
	int rc = 0;

	/* no proxy open, yet settings may hold strings: the lines after a
	 * section header that failed (the parse goes on to report more
	 * errors) still wrote into the work area */
	if (!kind) {
		px_work_free(&p->px);
		return 0;
	}
	if (kind & SEC_FE)
		rc = commit_frontend(p);
	if (rc == 0 && (kind & SEC_BE))
		rc = commit_backend(p);
	px_work_free(&p->px);
	return rc;
}

/* Fails when <name> is taken by a proxy on the same side(s) as <kind>:
 * frontends and backends have separate name spaces, a listen uses both. */
static int check_unique(struct parser *p, int kind, const char *name)
{
	int side, line, listen;

	for (side = 0; side < 2; side++) {
		if (!(kind & (side ? SEC_BE : SEC_FE)))
			continue;
		line = find_proxy(p->c, name, side, &listen);
		if (line)
			return fail(p, "duplicate name '%s': already used by the %s at line %d", name,
			            listen ? "listen" : side ? "backend" : "frontend", line);
	}
	return 0;
}

/* `frontend NAME [ADDR:PORT]`, `backend NAME`, `listen NAME [ADDR:PORT]`. */
static int open_proxy(struct parser *p, int kind)
{
	struct px_work *w = &p->px;
	const char *name;

	if (want_words(p, 1, kind == SEC_BACKEND ? 1 : 2, "name") < 0 || !valid_name(p, p->argv[1]))
		return -1;
	name = p->argv[1];
	if (check_unique(p, kind, name) < 0)
		return -1;
	w->kind = kind;
	w->line = p->line;
	p->sec = kind;
	if (!(w->name = strdup(name)) || settings_copy(&w->set, &p->defs) < 0)
		return fail(p, "out of memory");
	if ((kind & SEC_FE) && errorfile_inherit(p) < 0)
		return -1;
	if (kind == SEC_LISTEN) {
		/* a listen serves its own servers unless it says otherwise itself */
		free(w->set.default_backend);
		w->set.default_backend = NULL;
		w->set.default_backend_line = 0;
	}
	if (p->argc == 3)
		return add_binds(p, p->argv[2], 0, NULL);
	return 0;
}

/* Handles a section header line. Returns 1 when the line was not one, 0 when
 * it was handled, -1 on error. */
static int try_section(struct parser *p)
{
	const char *kw = p->argv[0];
	size_t i;

	for (i = 0; i < sizeof(unsupported_sections) / sizeof(unsupported_sections[0]); i++)
		if (strcmp(kw, unsupported_sections[i]) == 0)
			return fail(p, "sections are not supported by Sluice");

	if (strcmp(kw, "global") == 0) {
		if (want_words(p, 0, 0, "") < 0 || close_section(p) < 0)
			return -1;
		p->sec = SEC_GLOBAL;
		return 0;
	}
	if (strcmp(kw, "defaults") == 0) {
		/* an optional name is accepted; `from` inheritance is not */
		if (want_words(p, 0, 1, "") < 0 || close_section(p) < 0)
			return -1;
		settings_clear(&p->defs);
		cfg_rules_free(p->def_rules);
		p->def_rules = NULL;
		p->sec = SEC_DEFAULTS;
		return 0;
	}
	if (strcmp(kw, "frontend") == 0 || strcmp(kw, "backend") == 0 || strcmp(kw, "listen") == 0) {
		if (close_section(p) < 0)
			return -1;
		return open_proxy(p, kw[0] == 'f' ? SEC_FRONTEND : kw[0] == 'b' ? SEC_BACKEND : SEC_LISTEN);
	}
	return 1;
}

/* ---------- lines ---------- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Returns what backslash + <c> stands for outside quotes, or 0 when the
 * backslash is kept as is. */
static char unescape_bare(char c)
{
	switch (c) {
	case ' ': case '\t': case '#': case '\\': case '"': case '\'': return c;
	case 'r': return '\r';
	case 'n': return '\n';
	case 't': return '\t';
	default:  return 0;
	}
}

/* Same inside double quotes. */
static char unescape_quoted(char c)
{
	switch (c) {
	case '"': case '\\': return c;
	case 'r': return '\r';
	case 'n': return '\n';
	case 't': return '\t';
	default:  return 0;
	}
}

/* Splits the line [s, s+len) into p->argv (words live in p->scratch).
 * Returns 0, or -1 with the error set. */
static int split_line(struct parser *p, const char *s, size_t len)
{
	size_t i = 0;
	char *o;

	p->argc = 0;
	/* a word is never longer than what it was read from, and each word's
	 * terminating NUL takes the place of at least one blank but the last */
	if (len + 1 > p->scratch_cap) {
		char *n = realloc(p->scratch, len + 1);

		if (!n)
			return fail_at(p, p->line, NULL, "out of memory");
		p->scratch = n;
		p->scratch_cap = len + 1;
	}
	o = p->scratch;
	for (;;) {
		while (i < len && is_blank(s[i]))
			i++;
		if (i >= len || s[i] == '#')
			return 0;
		if (p->argc == CFG_MAX_WORDS)
			return fail(p, "too many words on one line (at most %d)", CFG_MAX_WORDS);
		p->argv[p->argc++] = o;
		while (i < len && !is_blank(s[i]) && s[i] != '#') {
			char c = s[i++], e;

			if (c == '"' || c == '\'') {
				char q = c;

				for (;;) {
					if (i >= len) {
						*o = '\0';
						return fail(p, "unterminated quote");
					}
					c = s[i++];
					if (c == q)
						break;
					if (q == '"' && c == '\\' && i < len && (e = unescape_quoted(s[i]))) {
						c = e;
						i++;
					}
					*o++ = c;
				}
				continue;
			}
			if (c == '\\' && i < len && (e = unescape_bare(s[i]))) {
				c = e;
				i++;
			}
			*o++ = c;
		}
		*o++ = '\0';
	}
}

static int parse_line(struct parser *p, const char *s, size_t len)
{
	int rc;

	if (split_line(p, s, len) < 0)
		return -1;
	if (p->argc == 0)
		return 0;
	rc = try_section(p);
	if (rc <= 0)
		return rc;
	if (p->sec == SEC_NONE)
		return fail(p, "outside of any section (expected global, defaults, frontend, backend or listen first)");
	return run_keyword(p);
}

/* ---------- whole-file checks ---------- */

static int check_global(struct parser *p)
{
	struct cfg_global *g = &p->c->g;

	if (g->maxrewrite * 2 >= g->bufsize) {
		if (p->lines[LN_MAXREWRITE])
			return fail_at(p, p->lines[LN_MAXREWRITE], "tune.maxrewrite",
			               "%zu must be less than half of tune.bufsize (%zu)",
			               g->maxrewrite, g->bufsize);
		/* the built-in value adapts to a small bufsize */
		g->maxrewrite = g->bufsize / 4;
	}
	if (g->buf_limit && g->buf_reserve >= g->buf_limit) {
		if (p->lines[LN_RESERVE])
			return fail_at(p, p->lines[LN_RESERVE], "tune.buffers.reserve",
			               "%llu must be less than tune.buffers.limit (%llu)",
			               (unsigned long long)g->buf_reserve, (unsigned long long)g->buf_limit);
		return fail_at(p, p->lines[LN_LIMIT], "tune.buffers.limit",
		               "%llu must be greater than tune.buffers.reserve (%llu)",
		               (unsigned long long)g->buf_limit, (unsigned long long)g->buf_reserve);
	}
	if (!p->lines[LN_H2_LIST])
		g->h2_max_header_list = (uint32_t)g->bufsize;
	/* HAProxy's tune.maxpipes default: a pipe for one connection in four
	 * (the keyword's minimum is 1, so 0 means "not set") */
	if (!g->pipes_limit)
		g->pipes_limit = g->maxconn / 4 ? g->maxconn / 4 : 1;
	return 0;
}

/* Returns the index of the backend named <name>, or -1. */
static int backend_index(const struct cfg *c, const char *name)
{
	unsigned i;

	for (i = 0; i < c->nb_backends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return (int)i;
	return -1;
}

static const char *mode_name(int mode)
{
	return mode == CFG_MODE_TCP ? "tcp" : "http";
}

/* Checks that backend <bi>, named by <kw> at <line> for frontend <fe>,
 * can serve it: same mode, and servers unless stats answer. */
static int check_fe_backend(struct parser *p, const struct cfg_frontend *fe, int bi,
                            int line, const char *kw)
{
	const char *kind = fe->from_listen ? "listen" : "frontend";
	const struct cfg_backend *be = &p->c->backends[bi];

	if (be->mode != fe->mode)
		return fail_at(p, line ? line : fe->line, line ? kw : kind,
		               "backend '%s' is in %s mode but %s '%s' is in %s mode",
		               be->name, mode_name(be->mode), kind, fe->name, mode_name(fe->mode));
	if (be->nb_servers == 0 && !be->stats_enabled && !fe->stats_enabled)
		return fail_at(p, be->line, be->from_listen ? "listen" : "backend",
		               "'%s' has no server (used by %s '%s' at line %d)",
		               be->name, kind, fe->name, fe->line);
	return 0;
}

/* Backend names hashed once per check, so that resolving a map of many
 * hosts over many backends stays linear in the map's size. */
struct be_names {
	int *slots;          /* backend index + 1; 0: empty */
	size_t mask;
};

static size_t name_hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

static int be_names_init(struct be_names *bn, const struct cfg *c)
{
	size_t cap = 16;

	while (cap < (size_t)c->nb_backends * 2)
		cap <<= 1;
	if (!(bn->slots = calloc(cap, sizeof(*bn->slots))))
		return -1;
	bn->mask = cap - 1;
	for (unsigned i = 0; i < c->nb_backends; i++) {
		size_t k = name_hash(c->backends[i].name) & bn->mask;

		while (bn->slots[k])
			k = (k + 1) & bn->mask;
		bn->slots[k] = (int)i + 1;
	}
	return 0;
}

/* Returns the index of the backend named <name>, or -1. */
static int be_names_find(const struct be_names *bn, const struct cfg *c, const char *name)
{
	for (size_t k = name_hash(name) & bn->mask; bn->slots[k]; k = (k + 1) & bn->mask)
		if (!strcmp(c->backends[bn->slots[k] - 1].name, name))
			return bn->slots[k] - 1;
	return -1;
}

/* Resolves the backends the use_backend rules of <fe> name: once here, so
 * that a request never looks a name up. A map's values must all name
 * backends, since a typo there would otherwise show up as traffic quietly
 * going to the default backend. */
static int check_fe_rules(struct parser *p, struct cfg_frontend *fe)
{
	struct cfg_rules *r = fe->rules;

	if (!r)
		return 0;
	if (fe->mode == CFG_MODE_TCP && (r->nb_req || r->nb_rsp || r->nb_ub))
		return fail_at(p, fe->line, fe->from_listen ? "listen" : "frontend",
		               "'%s' is in tcp mode: http-request, http-response and conditional "
		               "use_backend need mode http", fe->name);
	for (unsigned i = 0; i < r->nb_ub; i++) {
		struct cfg_use_backend *ub = &r->ub[i];
		struct be_names bn;
		struct map *mp;
		const char *def;

		if (ub->name) {
			ub->backend_idx = backend_index(p->c, ub->name);
			if (ub->backend_idx < 0)
				return fail_at(p, ub->line, "use_backend", "unknown backend '%s' in %s '%s' (line %d)",
				               ub->name, fe->from_listen ? "listen" : "frontend", fe->name, fe->line);
			if (check_fe_backend(p, fe, ub->backend_idx, ub->line, "use_backend") < 0)
				return -1;
			continue;
		}
		if (!(mp = sample_map(ub->dyn)))
			continue; /* a name computed per request, looked up then */
		if (be_names_init(&bn, p->c) < 0)
			return fail_at(p, ub->line, "use_backend", "out of memory");
		for (long k = 0; k < (long)map_count(mp); k++) {
			int bi = be_names_find(&bn, p->c, map_value(mp, k));

			if (bi < 0) {
				free(bn.slots);
				return fail_at(p, ub->line, "use_backend", "map %s: key '%s' names unknown backend '%s'",
				               map_path(mp), map_key(mp, k), map_value(mp, k));
			}
			if (check_fe_backend(p, fe, bi, ub->line, "use_backend") < 0) {
				free(bn.slots);
				return -1;
			}
			map_set_ref(mp, k, bi);
		}
		free(bn.slots);
		if ((def = sample_map_default(ub->dyn))) {
			ub->dyn_default_idx = backend_index(p->c, def);
			if (ub->dyn_default_idx < 0)
				return fail_at(p, ub->line, "use_backend", "map default '%s' names no backend", def);
			if (check_fe_backend(p, fe, ub->dyn_default_idx, ub->line, "use_backend") < 0)
				return -1;
		}
	}
	return 0;
}

static int check_frontend(struct parser *p, unsigned idx)
{
	struct cfg_frontend *fe = &p->c->frontends[idx];
	const char *kind = fe->from_listen ? "listen" : "frontend";
	const char *ref_kw = p->fe_by_use[idx] ? "use_backend" : "default_backend";
	int bi;

	if (fe->nb_binds == 0)
		return fail_at(p, fe->line, kind, "'%s' has no bind", fe->name);
	if (!fe->maxconn)
		fe->maxconn = p->c->g.maxconn;
	if (check_fe_rules(p, fe) < 0)
		return -1;
	if (!fe->default_backend) {
		if (fe->stats_enabled || (fe->rules && fe->rules->nb_ub))
			return 0;
		return warn_at(p, fe->line, kind, "'%s' has no default_backend: every %s",
		               fe->name, fe->mode == CFG_MODE_TCP ? "connection will be closed"
		                                                  : "request will get a 503");
	}
	bi = backend_index(p->c, fe->default_backend);
	if (bi < 0)
		return fail_at(p, fe->default_backend_line, ref_kw,
		               "unknown backend '%s' in %s '%s' (line %d)",
		               fe->default_backend, kind, fe->name, fe->line);
	if (check_fe_backend(p, fe, bi, fe->default_backend_line, ref_kw) < 0)
		return -1;
	fe->backend_idx = bi;
	return 0;
}

static int check_all(struct parser *p)
{
	unsigned i;

	if (check_global(p) < 0)
		return -1;
	for (i = 0; i < p->c->nb_frontends; i++)
		if (check_frontend(p, i) < 0)
			return -1;
	for (i = 0; i < p->c->nb_backends; i++) {
		const struct cfg_backend *be = &p->c->backends[i];

		if (be->mode == CFG_MODE_TCP && be->rules && !be->rules_shared &&
		    (be->rules->nb_req || be->rules->nb_rsp))
			return fail_at(p, be->line, "backend",
			               "'%s' is in tcp mode: http-request and http-response need mode http",
			               be->name);
	}
	return 0;
}

/* ---------- entry points ---------- */

static unsigned default_nbthread(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return (unsigned)(n > MAX_DEF_NBTHREAD ? MAX_DEF_NBTHREAD : n);
}

static void global_init(struct cfg_global *g)
{
	memset(g, 0, sizeof(*g));
	g->nbthread = default_nbthread();
	g->maxconn = 4096;
	g->bufsize = 16384;
	g->maxrewrite = 1024;
	g->buf_limit = 0;
	g->buf_reserve = 2;
	g->fail_alloc_pct = 0.0;
	g->h2_max_streams = 100;
	g->h2_init_window = 65535;
	g->h2_header_table = 4096;
	g->grace_ms = 10000;
	g->cli_mode = 0600;
	g->cli_level = CFG_CLI_ADMIN;
	g->cli_timeout_ms = 10000;   /* HAProxy's defaults for its stats socket */
	g->cli_maxconn = 10;
}

static void parser_release(struct parser *p)
{
	px_work_free(&p->px);
	settings_clear(&p->defs);
	cfg_rules_free(p->def_rules);
	tls_words_free(&p->tls_def_bind);
	tls_words_free(&p->tls_def_srv);
	tls_words_free(&p->based);
	free(p->crt_base);
	free(p->ca_base);
	free(p->fe_by_use);
	free(p->scratch);
	free(p->warnings);
	for (unsigned i = 0; i < p->nb_ign; i++)
		free(p->ign[i].what);
	free(p->ign);
}

struct cfg *cfg_parse_text(const char *text, const char *name, char **err)
{
	struct parser p;
	const char *s = text;
	struct cfg *c;

	*err = NULL;
	memset(&p, 0, sizeof(p));
	p.file = name ? name : "(config)";
	settings_init(&p.defs);
	settings_init(&p.px.set);
	c = p.c = calloc(1, sizeof(*c));
	if (!c) {
		*err = strdup("out of memory");
		return NULL;
	}
	global_init(&c->g);

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);

		p.line++;
		/* a failed line is reported and the next one read: every
		 * mistake of the file shows at once */
		if (parse_line(&p, s, len) < 0 && (!p.err || p.nb_errors >= CFG_MAX_ERRORS))
			goto fail;
		s = nl ? nl + 1 : s + len;
	}
	/* the whole-file checks would only echo the lines already refused */
	if (p.err || close_section(&p) < 0 || check_all(&p) < 0 || ignored_flush(&p) < 0)
		goto fail;

	c->warnings = p.warnings;
	p.warnings = NULL;
	parser_release(&p);
	c->file = strdup(name ? name : "(config)");
	if (!c->file) {
		cfg_free(c);
		*err = strdup("out of memory");
		return NULL;
	}
	return c;
fail:
	*err = p.err;
	p.err = NULL;
	parser_release(&p);
	cfg_free(c);
	return NULL;
}

/* Reads the whole file at <path> into a new NUL-terminated string and its
 * length. Returns it, or NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	int fd, saved;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	for (;;) {
		ssize_t r;

		if (cap - n < 2) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				errno = ENOMEM;
				goto fail_fd;
			}
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail_fd;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
fail_fd:
	saved = errno;
	close(fd);
	errno = saved;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return NULL;
}

struct cfg *cfg_parse_file(const char *path, char **err)
{
	struct cfg *c;
	const char *nul;
	size_t len;
	char *text;

	*err = NULL;
	text = read_file(path, &len);
	if (!text) {
		if (asprintf(err, "%s: cannot read the configuration: %s", path, strerror(errno)) < 0)
			*err = NULL;
		return NULL;
	}
	nul = memchr(text, '\0', len);
	if (nul) {
		int line = 1;
		const char *q;

		for (q = text; q < nul; q++)
			line += *q == '\n';
		if (asprintf(err, "%s:%d: NUL byte in the configuration", path, line) < 0)
			*err = NULL;
		free(text);
		return NULL;
	}
	c = cfg_parse_text(text, path, err);
	free(text);
	return c;
}

static const char default_text[] =
	"# Sluice's built-in configuration, used when no -f is given.\n"
	"# Run an origin server on 127.0.0.1:8081, then browse http://127.0.0.1:8080/\n"
	"global\n"
	"    nbthread 2\n"
	"    maxconn 4096\n"
	"\n"
	"defaults\n"
	"    mode http\n"
	"    timeout client 30s\n"
	"    timeout server 30s\n"
	"    timeout connect 5s\n"
	"    timeout queue 10s\n"
	"    timeout http-request 10s\n"
	"    timeout http-keep-alive 10s\n"
	"    retries 3\n"
	"    option redispatch\n"
	"\n"
	"frontend main\n"
	"    bind 127.0.0.1:8080\n"
	"    bind [::1]:8080\n"
	"    stats uri /sluice-stats\n"
	"    default_backend demo\n"
	"\n"
	"backend demo\n"
	"    balance roundrobin\n"
	"    server origin1 127.0.0.1:8081 maxconn 64\n";

const char *cfg_default_text(void)
{
	return default_text;
}

void cfg_free(struct cfg *c)
{
	unsigned i;

	if (!c)
		return;
	for (i = 0; i < c->nb_frontends; i++)
		frontend_free(&c->frontends[i]);
	for (i = 0; i < c->nb_backends; i++)
		backend_free(&c->backends[i]);
	free(c->frontends);
	free(c->backends);
	free(c->g.log_target);
	free(c->g.cli_path);
	free(c->warnings);
	free(c->file);
	free(c);
}

/* acl.c - fetches, converters, matchers, conditions and formats (see acl.h).
 *
 * A fetch walks its values with a callback, so a header present several
 * times (or a comma-separated list) is matched value by value without any
 * copy: values are spans of the request head. Patterns are compiled once
 * (regexes with PCRE2's JIT when the platform has it; when it has not,
 * PCRE2 interprets the same code, slower but with the same answers).
 */
#include "engine/core/acl.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum fetch_kind { F_PATH, F_URL, F_QUERY, F_URL_PARAM, F_METHOD, F_HDR, F_HDR_CNT,
                  F_SRC, F_SRC_PORT, F_DST_PORT, F_HTTP_VER, F_UNIQUE_ID };
enum match_kind { M_STR, M_BEG, M_END, M_SUB, M_REG, M_FOUND, M_INT, M_IP };
enum conv_kind { C_LOWER, C_UPPER, C_MAP, C_MAP_BEG, C_MAP_DOM };
enum val_kind { V_STR, V_INT, V_IP };

/* The fetch names an ACL or a sample may start with, and the matcher an
 * ACL uses when it has no -m. */
static const struct {
	const char *name;
	enum fetch_kind f;
	enum match_kind m;
	int arg;            /* 1: takes (ARG), which is required */
} fetches[] = {
	{ "path",        F_PATH,      M_STR, 0 },
	{ "path_beg",    F_PATH,      M_BEG, 0 },
	{ "path_end",    F_PATH,      M_END, 0 },
	{ "path_sub",    F_PATH,      M_SUB, 0 },
	{ "path_reg",    F_PATH,      M_REG, 0 },
	{ "url",         F_URL,       M_STR, 0 },
	{ "url_beg",     F_URL,       M_BEG, 0 },
	{ "url_reg",     F_URL,       M_REG, 0 },
	{ "query",       F_QUERY,     M_STR, 0 },
	{ "url_param",   F_URL_PARAM, M_STR, 1 },
	{ "method",      F_METHOD,    M_STR, 0 },
	{ "hdr",         F_HDR,       M_STR, 1 },
	{ "hdr_beg",     F_HDR,       M_BEG, 1 },
	{ "hdr_end",     F_HDR,       M_END, 1 },
	{ "hdr_sub",     F_HDR,       M_SUB, 1 },
	{ "hdr_reg",     F_HDR,       M_REG, 1 },
	{ "hdr_cnt",     F_HDR_CNT,   M_INT, 1 },
	{ "req.hdr",     F_HDR,       M_STR, 1 },
	{ "req.hdr_cnt", F_HDR_CNT,   M_INT, 1 },
	{ "src",         F_SRC,       M_IP,  0 },
	{ "src_port",    F_SRC_PORT,  M_INT, 0 },
	{ "dst_port",    F_DST_PORT,  M_INT, 0 },
	{ "http_ver",    F_HTTP_VER,  M_STR, 0 },
	{ "req.ver",     F_HTTP_VER,  M_STR, 0 },
	{ "unique-id",   F_UNIQUE_ID, M_STR, 0 },
};

static const char *const match_names[] = { "str", "beg", "end", "sub", "reg", "found", "int", "ip" };

struct fetch {
	enum fetch_kind kind;
	char *arg;
	size_t arglen;
};

struct conv {
	enum conv_kind kind;
	struct map *map;
	char *def;           /* map default, or NULL */
	size_t deflen;
};

struct sample_expr {
	struct fetch f;
	struct conv *convs;
	unsigned nb_convs;
};

struct val {
	const char *p;
	size_t len;
	enum val_kind kind;
	int64_t i;
	int fam;
	uint8_t a[16];
};

struct pattern {
	char *s;
	size_t len;
	pcre2_code *re;
	int64_t lo, hi;
	int fam;
	uint8_t a[16];
	unsigned bits;
};

struct acl_expr {
	struct sample_expr *se;
	enum match_kind match;
	int icase;
	int sorted;          /* M_STR: pats sorted by pat_cmp(), found by bsearch */
	struct pattern *pats;
	unsigned nb_pats, cap_pats;
	struct acl_expr *next;
};

struct acl {
	char *name;
	struct acl_expr *first, *last;
};

struct acl_list {
	struct acl **a;
	unsigned nb, cap;
};

struct term {
	const struct acl *acl;
	int neg;
	int or_before;       /* a "||" comes before this term */
};

struct acl_cond {
	int unless;
	struct term *t;
	unsigned nb;
	struct acl **anon;   /* the anonymous ACLs it owns */
	unsigned nb_anon;
};

/* Log-format variables a format may hold besides %[sample]. */
enum fmt_var { FV_NONE = 0, FV_CI, FV_CP, FV_FI, FV_FP, FV_TS, FV_RT, FV_ID };

static const struct {
	const char *name;
	enum fmt_var v;
} fmt_vars[] = {
	{ "ci", FV_CI }, { "cp", FV_CP }, { "fi", FV_FI }, { "fp", FV_FP },
	{ "Ts", FV_TS }, { "rt", FV_RT }, { "ID", FV_ID },
};
#define FMT_VAR_LIST "%ci, %cp, %fi, %fp, %Ts, %rt, %pid, %ID, %[SAMPLE]"

/* One part of a format: a literal, a sample, or a variable. */
struct fmt_part {
	char *lit;
	size_t len;
	struct sample_expr *se;
	enum fmt_var var;
	int hex;             /* numbers and IPv4 addresses in upper-case hex */
};

struct acl_fmt {
	struct fmt_part *parts;
	unsigned nb;
	int no_ctl;
};

/* Returns a new message from printf arguments (NULL without memory). */
static char *msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msg(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;

	va_start(ap, fmt);
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

/* ---------- addresses ---------- */

int acl_parse_net(const char *s, int *family, uint8_t addr[16], unsigned *bits)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	if (alen >= INET6_ADDRSTRLEN)
		return -1;
	memcpy(tmp, s, alen);
	tmp[alen] = 0;
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, tmp, addr) == 1)
		*family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, tmp, addr) == 1)
		*family = AF_INET6, max = 128;
	else
		return -1;
	*bits = max;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);

		if (!slash[1] || *end || b > max)
			return -1;
		*bits = (unsigned)b;
	}
	return 0;
}

/* Compares the first <bits> bits of a and b. */
static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return 0;
	if (!rest)
		return 1;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int acl_net_match(int family, const uint8_t a[16], int nfam, const uint8_t n[16], unsigned bits)
{
	if (family == nfam)
		return prefix_eq(a, n, bits);
	/* an IPv4 client seen on an IPv6 socket, or the other way round */
	if (family == AF_INET6 && nfam == AF_INET && memcmp(a, v4mapped, 12) == 0)
		return prefix_eq(a + 12, n, bits);
	if (family == AF_INET && nfam == AF_INET6 && memcmp(n, v4mapped, 12) == 0 && bits >= 96)
		return prefix_eq(a, n + 12, bits - 96);
	return 0;
}

/* ---------- fetches ---------- */

/* Finds the path and query of the request target: origin form "/p?q",
 * absolute form "http://host/p?q" (path after the authority), or "*". */
static void uri_split(const struct acl_ctx *ctx, const char **path, size_t *plen,
                      const char **query, size_t *qlen)
{
	const char *u = ctx->base + ctx->m->uri.ofs, *end = u + ctx->m->uri.len, *q;

	if (u < end && *u != '/' && *u != '*') {
		const char *s = memchr(u, ':', (size_t)(end - u));

		if (s && end - s >= 3 && s[1] == '/' && s[2] == '/') {
			for (u = s + 3; u < end && *u != '/' && *u != '?'; u++)
				;
		}
	}
	q = memchr(u, '?', (size_t)(end - u));
	*path = u;
	*plen = (size_t)((q ? q : end) - u);
	*query = q ? q + 1 : NULL;
	*qlen = q ? (size_t)(end - q - 1) : 0;
}

typedef int (*val_cb)(const struct val *v, void *arg);

static int str_val(const char *p, size_t len, val_cb cb, void *arg)
{
	struct val v = { .p = p, .len = len, .kind = V_STR };

	return cb(&v, arg);
}

static int int_val(int64_t i, val_cb cb, void *arg)
{
	struct val v = { .kind = V_INT, .i = i };

	return cb(&v, arg);
}

/* Calls <cb> on each value of header <name> in the request: each element of
 * a comma-separated list, trimmed of blanks, as HAProxy's hdr() does. Stops
 * when cb returns non-zero and returns that; <count> only counts (into
 * *count) instead. */
static int hdr_each(const struct acl_ctx *ctx, const struct fetch *f, val_cb cb, void *arg,
                    int64_t *count)
{
	const struct h1_msg *m = ctx->m;

	for (unsigned i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];
		const char *v, *end, *c;

		if (h->name.len != f->arglen ||
		    strncasecmp(ctx->base + h->name.ofs, f->arg, f->arglen) != 0)
			continue;
		v = ctx->base + h->value.ofs;
		end = v + h->value.len;
		for (;;) {
			const char *s = v, *e;

			c = memchr(v, ',', (size_t)(end - v));
			e = c ? c : end;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			if (count)
				(*count)++;
			else {
				int r = str_val(s, (size_t)(e - s), cb, arg);

				if (r)
					return r;
			}
			if (!c)
				break;
			v = c + 1;
		}
	}
	return 0;
}

/* Parses the client address once per evaluation. */
static int ctx_src(struct acl_ctx *ctx)
{
	unsigned bits;

	if (!ctx->src_state)
		ctx->src_state = ctx->src_str &&
		                 acl_parse_net(ctx->src_str, &ctx->src_family, ctx->src_addr, &bits) == 0
		                 ? 1 : -1;
	return ctx->src_state > 0;
}

/* Calls <cb> on each value of fetch <f>, stopping at the first non-zero
 * return, which it returns (0 when every value was seen, or none exists). */
static int fetch_each(const struct fetch *f, struct acl_ctx *ctx, val_cb cb, void *arg)
{
	const struct h1_msg *m = ctx->m;
	const char *path, *query;
	size_t plen, qlen;
	int64_t n = 0;

	switch (f->kind) {
	case F_PATH:
		uri_split(ctx, &path, &plen, &query, &qlen);
		return str_val(path, plen, cb, arg);
	case F_URL:
		return str_val(ctx->base + m->uri.ofs, m->uri.len, cb, arg);
	case F_QUERY:
		uri_split(ctx, &path, &plen, &query, &qlen);
		return query ? str_val(query, qlen, cb, arg) : 0;
	case F_URL_PARAM:
		uri_split(ctx, &path, &plen, &query, &qlen);
		while (query) {
			const char *amp = memchr(query, '&', qlen);
			size_t l = amp ? (size_t)(amp - query) : qlen;
			const char *eq = memchr(query, '=', l);
			size_t kl = eq ? (size_t)(eq - query) : l;

			if (kl == f->arglen && memcmp(query, f->arg, kl) == 0) {
				int r = eq ? str_val(eq + 1, l - kl - 1, cb, arg) : str_val(query + l, 0, cb, arg);

				if (r)
					return r;
			}
			if (!amp)
				break;
			qlen -= l + 1;
			query = amp + 1;
		}
		return 0;
	case F_METHOD:
		return str_val(ctx->base + m->method.ofs, m->method.len, cb, arg);
	case F_HDR:
		return hdr_each(ctx, f, cb, arg, NULL);
	case F_HDR_CNT:
		(void)hdr_each(ctx, f, cb, arg, &n);
		return int_val(n, cb, arg);
	case F_SRC: {
		struct val v = { .kind = V_IP };

		if (!ctx_src(ctx))
			return 0;
		v.fam = ctx->src_family;
		memcpy(v.a, ctx->src_addr, 16);
		return cb(&v, arg);
	}
	case F_SRC_PORT:
		return int_val(ctx->src_port, cb, arg);
	case F_DST_PORT:
		return int_val(ctx->dst_port, cb, arg);
	case F_HTTP_VER:
		return m->version == 10 ? str_val("1.0", 3, cb, arg) : str_val("1.1", 3, cb, arg);
	case F_UNIQUE_ID:
		return ctx->uid ? str_val(ctx->uid, ctx->uid_len, cb, arg) : 0;
	}
	return 0;
}

/* ---------- samples ---------- */

/* Splits "NAME(ARG)" at <s>[0..len): the name's length goes to *nlen and the
 * argument (without parentheses) to *arg / *alen, or *arg NULL without one.
 * Returns 0, or -1 when a parenthesis is unbalanced. */
static int split_call(const char *s, size_t len, size_t *nlen, const char **arg, size_t *alen)
{
	const char *op = memchr(s, '(', len);

	*arg = NULL;
	*alen = 0;
	if (!op) {
		*nlen = len;
		return memchr(s, ')', len) ? -1 : 0;
	}
	if (s[len - 1] != ')')
		return -1;
	*nlen = (size_t)(op - s);
	*arg = op + 1;
	*alen = len - *nlen - 2;
	return 0;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

/* Parses fetch "NAME[(ARG)]" at s[0..len); *dflt gets its default matcher.
 * Returns 0, or -1 with *err set. */
static int fetch_parse(const char *s, size_t len, struct fetch *f, enum match_kind *dflt, char **err)
{
	const char *arg;
	size_t nlen, alen, i;

	if (split_call(s, len, &nlen, &arg, &alen) < 0) {
		*err = msg("unbalanced parentheses in '%.*s'", (int)len, s);
		return -1;
	}
	for (i = 0; i < sizeof(fetches) / sizeof(fetches[0]); i++)
		if (strlen(fetches[i].name) == nlen && memcmp(fetches[i].name, s, nlen) == 0)
			break;
	if (i == sizeof(fetches) / sizeof(fetches[0])) {
		*err = msg("unknown fetch '%.*s'", (int)nlen, s);
		return -1;
	}
	if (fetches[i].arg && (!arg || !alen)) {
		*err = msg("fetch '%s' needs an argument, as in %s(NAME)", fetches[i].name, fetches[i].name);
		return -1;
	}
	if (!fetches[i].arg && arg) {
		*err = msg("fetch '%s' takes no argument", fetches[i].name);
		return -1;
	}
	f->kind = fetches[i].f;
	*dflt = fetches[i].m;
	if (arg && !(f->arg = dupn(arg, alen))) {
		*err = msg("out of memory");
		return -1;
	}
	f->arglen = alen;
	return 0;
}

static int conv_parse(const char *s, size_t len, struct conv *c, char **err)
{
	const char *arg, *comma;
	size_t nlen, alen;
	char *file;

	if (split_call(s, len, &nlen, &arg, &alen) < 0) {
		*err = msg("unbalanced parentheses in '%.*s'", (int)len, s);
		return -1;
	}
#define IS(n) (nlen == strlen(n) && memcmp(s, n, nlen) == 0)
	if (IS("lower") || IS("upper")) {
		if (arg) {
			*err = msg("converter '%.*s' takes no argument", (int)nlen, s);
			return -1;
		}
		c->kind = IS("lower") ? C_LOWER : C_UPPER;
		return 0;
	}
	if (IS("map") || IS("map_str"))
		c->kind = C_MAP;
	else if (IS("map_beg"))
		c->kind = C_MAP_BEG;
	else if (IS("map_dom"))
		c->kind = C_MAP_DOM;
	else {
		*err = msg("unknown converter '%.*s' (expected lower, upper, map, map_beg, map_dom)",
		           (int)nlen, s);
		return -1;
	}
#undef IS
	if (!arg || !alen) {
		*err = msg("converter '%.*s' needs a file, as in %.*s(FILE[,DEFAULT])",
		           (int)nlen, s, (int)nlen, s);
		return -1;
	}
	comma = memchr(arg, ',', alen);
	if (!(file = dupn(arg, comma ? (size_t)(comma - arg) : alen)) ||
	    (comma && !(c->def = dupn(comma + 1, alen - (size_t)(comma - arg) - 1)))) {
		free(file);
		*err = msg("out of memory");
		return -1;
	}
	c->deflen = c->def ? strlen(c->def) : 0;
	c->map = map_load(file, err);
	free(file);
	return c->map ? 0 : -1;
}

void sample_free(struct sample_expr *se)
{
	if (!se)
		return;
	free(se->f.arg);
	for (unsigned i = 0; i < se->nb_convs; i++) {
		map_free(se->convs[i].map);
		free(se->convs[i].def);
	}
	free(se->convs);
	free(se);
}

/* Returns the length of the next element of a comma list at s (commas
 * inside parentheses belong to the element). */
static size_t elem_len(const char *s)
{
	int depth = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')')
			depth--;
		else if (s[i] == ',' && depth == 0)
			break;
	}
	return i;
}

/* Parses a sample; <dflt> (may be NULL) receives the fetch's default
 * matcher. */
static struct sample_expr *sample_parse2(const char *text, enum match_kind *dflt, char **err)
{
	struct sample_expr *se = calloc(1, sizeof(*se));
	enum match_kind m;
	size_t l = elem_len(text);

	*err = NULL;
	if (!se) {
		*err = msg("out of memory");
		return NULL;
	}
	if (!l) {
		*err = msg("empty fetch");
		goto fail;
	}
	if (fetch_parse(text, l, &se->f, &m, err) < 0)
		goto fail;
	if (dflt)
		*dflt = m;
	text += l;
	while (*text == ',') {
		struct conv *nc;

		text++;
		l = elem_len(text);
		if (!l) {
			*err = msg("empty converter");
			goto fail;
		}
		nc = realloc(se->convs, (se->nb_convs + 1) * sizeof(*nc));
		if (!nc) {
			*err = msg("out of memory");
			goto fail;
		}
		se->convs = nc;
		memset(&nc[se->nb_convs], 0, sizeof(*nc));
		se->nb_convs++;
		if (conv_parse(text, l, &nc[se->nb_convs - 1], err) < 0)
			goto fail;
		text += l;
	}
	return se;
fail:
	sample_free(se);
	return NULL;
}

struct sample_expr *sample_parse(const char *text, char **err)
{
	return sample_parse2(text, NULL, err);
}

struct map *sample_map(const struct sample_expr *se)
{
	if (!se->nb_convs)
		return NULL;
	return se->convs[se->nb_convs - 1].map;
}

const char *sample_map_default(const struct sample_expr *se)
{
	if (!se->nb_convs || !se->convs[se->nb_convs - 1].map)
		return NULL;
	return se->convs[se->nb_convs - 1].def;
}

struct first_val {
	struct val v;
	int found;
};

static int take_first(const struct val *v, void *arg)
{
	struct first_val *fv = arg;

	fv->v = *v;
	fv->found = 1;
	return 1;
}

int sample_eval(const struct sample_expr *se, struct acl_ctx *ctx, char *tmp, size_t room,
                const char **out, size_t *len, long *map_idx)
{
	struct first_val fv = { .found = 0 };
	const char *p;
	size_t l;

	*map_idx = -1;
	if (se->f.kind == F_SRC && ctx->src_str && *ctx->src_str) {
		/* the client address already exists as text: no parse into
		 * bytes and back to text for every %[src] */
		fv.found = 1;
		fv.v.kind = V_STR;
		fv.v.p = ctx->src_str;
		fv.v.len = strlen(ctx->src_str);
	} else {
		(void)fetch_each(&se->f, ctx, take_first, &fv);
	}
	if (!fv.found)
		return 0;
	if (fv.v.kind == V_STR) {
		p = fv.v.p;
		l = fv.v.len;
	} else if (fv.v.kind == V_INT) {
		int n = snprintf(tmp, room, "%lld", (long long)fv.v.i);

		if (n < 0 || (size_t)n >= room)
			return 0;
		p = tmp;
		l = (size_t)n;
	} else {
		if (room < INET6_ADDRSTRLEN || !inet_ntop(fv.v.fam, fv.v.a, tmp, (socklen_t)room))
			return 0;
		p = tmp;
		l = strlen(tmp);
	}
	for (unsigned i = 0; i < se->nb_convs; i++) {
		const struct conv *c = &se->convs[i];
		long idx;

		switch (c->kind) {
		case C_LOWER:
		case C_UPPER:
			if (l > room)
				return 0;
			for (size_t k = 0; k < l; k++)
				tmp[k] = (char)(c->kind == C_LOWER ? tolower((unsigned char)p[k])
				                                   : toupper((unsigned char)p[k]));
			p = tmp;
			break;
		default:
			idx = c->kind == C_MAP ? map_find(c->map, p, l) :
			      c->kind == C_MAP_BEG ? map_find_beg(c->map, p, l) : map_find_dom(c->map, p, l);
			*map_idx = idx;
			if (idx >= 0) {
				p = map_value(c->map, idx);
				l = strlen(p);
			} else if (c->def) {
				p = c->def;
				l = c->deflen;
			} else {
				return 0;
			}
			break;
		}
		if (i + 1 < se->nb_convs)
			*map_idx = -1;
	}
	*out = p;
	*len = l;
	return 1;
}

/* ---------- matching ---------- */

static pthread_key_t md_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_free(void *md)
{
	pcre2_match_data_free(md);
}

static void md_init(void)
{
	(void)pthread_key_create(&md_key, md_free);
}

/* Returns this thread's match block: regexes run on every worker thread at
 * once, and a shared block would be written by all of them. */
static pcre2_match_data *thread_md(void)
{
	pcre2_match_data *md;

	(void)pthread_once(&md_once, md_init);
	md = pthread_getspecific(md_key);
	if (!md && (md = pcre2_match_data_create(1, NULL)))
		(void)pthread_setspecific(md_key, md);
	return md;
}

/* Finds <n> in <h>, optionally ignoring case. */
static int has_sub(const char *h, size_t hl, const char *n, size_t nl, int icase)
{
	if (nl > hl)
		return 0;
	for (size_t i = 0; i + nl <= hl; i++)
		if (icase ? strncasecmp(h + i, n, nl) == 0 : memcmp(h + i, n, nl) == 0)
			return 1;
	return 0;
}

/* Parses a decimal integer (with a sign) filling all of s[0..len). */
static int to_int(const char *s, size_t len, int64_t *out)
{
	int neg = 0;
	int64_t v = 0;
	size_t i = 0;

	if (i < len && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == len)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static int pat_match(const struct acl_expr *x, const struct pattern *pt, const struct val *v)
{
	int64_t i;
	char tmp[INET6_ADDRSTRLEN];
	int fam;
	uint8_t a[16];
	unsigned bits;

	switch (x->match) {
	case M_FOUND:
		return 1;
	case M_INT:
		if (v->kind == V_INT)
			i = v->i;
		else if (v->kind != V_STR || to_int(v->p, v->len, &i) < 0)
			return 0;
		return i >= pt->lo && i <= pt->hi;
	case M_IP:
		if (v->kind == V_IP)
			return acl_net_match(v->fam, v->a, pt->fam, pt->a, pt->bits);
		if (v->kind != V_STR || v->len >= sizeof(tmp))
			return 0;
		memcpy(tmp, v->p, v->len);
		tmp[v->len] = 0;
		return acl_parse_net(tmp, &fam, a, &bits) == 0 && !strchr(tmp, '/') &&
		       acl_net_match(fam, a, pt->fam, pt->a, pt->bits);
	default:
		break;
	}
	if (v->kind != V_STR)
		return 0; /* string matchers on numbers and addresses: not offered by the parser */
	switch (x->match) {
	case M_STR:
		return v->len == pt->len &&
		       (x->icase ? strncasecmp(v->p, pt->s, pt->len) : memcmp(v->p, pt->s, pt->len)) == 0;
	case M_BEG:
		return v->len >= pt->len &&
		       (x->icase ? strncasecmp(v->p, pt->s, pt->len) : memcmp(v->p, pt->s, pt->len)) == 0;
	case M_END:
		return v->len >= pt->len &&
		       (x->icase ? strncasecmp(v->p + v->len - pt->len, pt->s, pt->len)
		                 : memcmp(v->p + v->len - pt->len, pt->s, pt->len)) == 0;
	case M_SUB:
		return has_sub(v->p, v->len, pt->s, pt->len, x->icase);
	case M_REG: {
		pcre2_match_data *md = thread_md();

		/* rc 0 is a match whose groups did not fit the one-pair block */
		return md && pcre2_match(pt->re, (PCRE2_SPTR)v->p, v->len, 0, 0, md, NULL) >= 0;
	}
	default:
		return 0;
	}
}

/* Orders exact-string patterns: by length, then bytes (folded to lower
 * case for -i, as strncasecmp() compares), so that a lookup is a binary
 * search where most steps end on the length. */
static int pat_cmp(const char *a, size_t al, const char *b, size_t bl, int icase)
{
	if (al != bl)
		return al < bl ? -1 : 1;
	return icase ? strncasecmp(a, b, al) : memcmp(a, b, al);
}

static int pat_cmp_case(const void *a, const void *b)
{
	const struct pattern *x = a, *y = b;

	return pat_cmp(x->s, x->len, y->s, y->len, 0);
}

static int pat_cmp_nocase(const void *a, const void *b)
{
	const struct pattern *x = a, *y = b;

	return pat_cmp(x->s, x->len, y->s, y->len, 1);
}

/* Binary search of string <v> among the sorted patterns of <x>. */
static int pat_find(const struct acl_expr *x, const struct val *v)
{
	size_t lo = 0, hi = x->nb_pats;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pattern *pt = &x->pats[mid];
		int c = pat_cmp(v->p, v->len, pt->s, pt->len, x->icase);

		if (!c)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int expr_val_cb(const struct val *v, void *arg)
{
	const struct acl_expr *x = arg;

	if (x->sorted)
		return v->kind == V_STR && pat_find(x, v);
	for (unsigned i = 0; i < x->nb_pats; i++)
		if (pat_match(x, &x->pats[i], v))
			return 1;
	return x->match == M_FOUND;
}

static int expr_eval(const struct acl_expr *x, struct acl_ctx *ctx)
{
	if (x->se->nb_convs) {
		char tmp[1024];
		struct val v = { .kind = V_STR };
		long idx;

		if (!sample_eval(x->se, ctx, tmp, sizeof(tmp), &v.p, &v.len, &idx))
			return 0;
		return expr_val_cb(&v, (void *)x);
	}
	return fetch_each(&x->se->f, ctx, expr_val_cb, (void *)x);
}

static int acl_eval(const struct acl *a, struct acl_ctx *ctx)
{
	for (const struct acl_expr *x = a->first; x; x = x->next)
		if (expr_eval(x, ctx))
			return 1;
	return 0;
}

int acl_cond_eval(const struct acl_cond *c, struct acl_ctx *ctx)
{
	int any = 0, group = 1;

	if (!c)
		return 1;
	for (unsigned i = 0; i < c->nb; i++) {
		const struct term *t = &c->t[i];

		if (t->or_before) {
			if (group) {
				any = 1;
				break;
			}
			group = 1;
		}
		if (group && acl_eval(t->acl, ctx) == t->neg)
			group = 0;
	}
	any |= group;
	return c->unless ? !any : any;
}

/* ---------- ACL parsing ---------- */

static void expr_free(struct acl_expr *x)
{
	if (!x)
		return;
	sample_free(x->se);
	for (unsigned i = 0; i < x->nb_pats; i++) {
		free(x->pats[i].s);
		pcre2_code_free(x->pats[i].re);
	}
	free(x->pats);
	free(x);
}

static void acl_free(struct acl *a)
{
	struct acl_expr *x, *n;

	if (!a)
		return;
	for (x = a->first; x; x = n) {
		n = x->next;
		expr_free(x);
	}
	free(a->name);
	free(a);
}

/* Parses one integer pattern: N, N:M, :M, N:, or an operator word (eq, ge,
 * gt, le, lt) followed by N in the next word (*used counts the words). */
static int int_pattern(char **argv, int argc, struct pattern *pt, int *used, char **err)
{
	const char *w = argv[0], *colon;
	int64_t a = 0, b = 0;  /* set before use; gcc -O3 cannot see it */

	*used = 1;
	pt->lo = INT64_MIN;
	pt->hi = INT64_MAX;
	if (!strcmp(w, "eq") || !strcmp(w, "ge") || !strcmp(w, "gt") || !strcmp(w, "le") ||
	    !strcmp(w, "lt")) {
		if (argc < 2 || to_int(argv[1], strlen(argv[1]), &a) < 0) {
			*err = msg("missing integer after '%s'", w);
			return -1;
		}
		*used = 2;
		if (w[0] == 'e')
			pt->lo = pt->hi = a;
		else if (!strcmp(w, "ge"))
			pt->lo = a;
		else if (!strcmp(w, "gt"))
			pt->lo = a + 1;
		else if (!strcmp(w, "le"))
			pt->hi = a;
		else
			pt->hi = a - 1;
		return 0;
	}
	colon = strchr(w, ':');
	if (!colon) {
		if (to_int(w, strlen(w), &a) < 0)
			goto bad;
		pt->lo = pt->hi = a;
		return 0;
	}
	if (colon > w && to_int(w, (size_t)(colon - w), &a) < 0)
		goto bad;
	if (colon[1] && to_int(colon + 1, strlen(colon + 1), &b) < 0)
		goto bad;
	if (colon > w)
		pt->lo = a;
	if (colon[1])
		pt->hi = b;
	if (colon == w && !colon[1])
		goto bad;
	return 0;
bad:
	*err = msg("invalid integer or range '%s' (expected N, N:M, :M, N:, or eq|ge|gt|le|lt N)", w);
	return -1;
}

/* Compiles pattern <w> (and, for an integer operator, the word after it
 * in argv[1..argc)) for the matcher of <x> and appends it to x->pats;
 * *used counts the words taken. Returns 0, or -1 with *err set. */
static int pat_add(struct acl_expr *x, char **argv, int argc, int *used, char **err)
{
	const char *w = argv[0];
	struct pattern *pt;

	*used = 1;
	if (x->nb_pats == x->cap_pats) {
		unsigned cap = x->cap_pats ? x->cap_pats * 2 : 4;
		struct pattern *np = realloc(x->pats, cap * sizeof(*np));

		if (!np) {
			*err = msg("out of memory");
			return -1;
		}
		x->pats = np;
		x->cap_pats = cap;
	}
	pt = &x->pats[x->nb_pats];
	memset(pt, 0, sizeof(*pt));
	switch (x->match) {
	case M_INT:
		if (int_pattern(argv, argc, pt, used, err) < 0)
			return -1;
		break;
	case M_IP:
		if (acl_parse_net(w, &pt->fam, pt->a, &pt->bits) < 0) {
			*err = msg("invalid address or network '%s' (expected ADDR or ADDR/BITS, IPv4 or IPv6)", w);
			return -1;
		}
		break;
	case M_REG: {
		int ec;
		PCRE2_SIZE eo;
		uint32_t opt = x->icase ? PCRE2_CASELESS : 0;

		pt->re = pcre2_compile((PCRE2_SPTR)w, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, NULL);
		if (!pt->re) {
			PCRE2_UCHAR buf[256];

			pcre2_get_error_message(ec, buf, sizeof(buf));
			*err = msg("invalid regex '%s': %s at offset %zu", w, (char *)buf, (size_t)eo);
			return -1;
		}
		/* no JIT on this platform: the interpreter gives the same answers */
		(void)pcre2_jit_compile(pt->re, PCRE2_JIT_COMPLETE);
		break;
	}
	default:
		if (!(pt->s = strdup(w))) {
			*err = msg("out of memory");
			return -1;
		}
		pt->len = strlen(pt->s);
		break;
	}
	x->nb_pats++;
	return 0;
}

/* Adds every pattern of file <path> to <x>: one per line, blanks around
 * it trimmed, empty lines and lines starting with '#' skipped. Returns 0,
 * or -1 with *err set ("FILE:LINE: what" for a bad pattern). */
static int pat_file(struct acl_expr *x, const char *path, char **err)
{
	size_t len;
	char *text = acl_file_read(path, &len), *p, *end;
	int line = 0;

	if (!text) {
		*err = msg("cannot read pattern file '%s' (%s)", path, strerror(errno));
		return -1;
	}
	for (p = text, end = text + len; p < end; ) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *e;
		char *w[1];
		int used;

		if (!eol)
			eol = end;
		line++;
		for (e = eol; e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		w[0] = p;
		p = eol + 1;
		if (!*w[0] || *w[0] == '#')
			continue;
		if (memchr(w[0], 0, (size_t)(e - w[0]))) {
			*err = msg("%s:%d: NUL byte in pattern", path, line);
			free(text);
			return -1;
		}
		if (pat_add(x, w, 1, &used, err) < 0) {
			char *inner = *err;

			*err = msg("%s:%d: %s", path, line, inner ? inner : "out of memory");
			free(inner);
			free(text);
			return -1;
		}
	}
	free(text);
	return 0;
}

/* Parses "FETCH [flags] PATTERN..." from argv[0..argc) into a new
 * expression. Returns it, or NULL with *err set. */
static struct acl_expr *expr_parse(int argc, char **argv, char **err)
{
	struct acl_expr *x = calloc(1, sizeof(*x));
	enum match_kind m;
	int i, nb_files = 0;
	int files[16];       /* argv index of each -f FILE */

	if (!x) {
		*err = msg("out of memory");
		return NULL;
	}
	if (argc < 1) {
		*err = msg("missing fetch");
		goto fail;
	}
	if (!(x->se = sample_parse2(argv[0], &m, err)))
		goto fail;
	x->match = m;
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "-i")) {
			x->icase = 1;
		} else if (!strcmp(argv[i], "-f")) {
			if (i + 1 >= argc) {
				*err = msg("missing file name after '-f'");
				goto fail;
			}
			if (nb_files == (int)(sizeof(files) / sizeof(files[0]))) {
				*err = msg("too many '-f' files (at most %zu per line)", sizeof(files) / sizeof(files[0]));
				goto fail;
			}
			files[nb_files++] = ++i;
		} else if (!strcmp(argv[i], "-m")) {
			size_t k;

			if (i + 1 >= argc) {
				*err = msg("missing method after '-m' (expected str, beg, end, sub, reg, found, int, ip)");
				goto fail;
			}
			for (k = 0; k < sizeof(match_names) / sizeof(match_names[0]); k++)
				if (!strcmp(argv[i + 1], match_names[k]))
					break;
			if (k == sizeof(match_names) / sizeof(match_names[0])) {
				*err = msg("unknown match method '%s' (expected str, beg, end, sub, reg, found, int, ip)",
				           argv[i + 1]);
				goto fail;
			}
			x->match = (enum match_kind)k;
			i++;
		} else if (x->match == M_INT && argv[i][1] >= '0' && argv[i][1] <= '9') {
			break; /* a negative number */
		} else {
			*err = msg("unknown flag '%s' (expected -i, -f FILE, -m METHOD, --)", argv[i]);
			goto fail;
		}
	}
	if (x->match == M_FOUND) {
		if (i < argc || nb_files) {
			*err = msg("'-m found' takes no pattern, got '%s'", nb_files ? "-f" : argv[i]);
			goto fail;
		}
		return x;
	}
	if (i >= argc && !nb_files) {
		*err = msg("missing pattern after '%s'", argv[i - 1]);
		goto fail;
	}
	/* -i and -m apply to the files whatever their place on the line, so
	 * the files are read once all flags are known */
	for (int k = 0; k < nb_files; k++)
		if (pat_file(x, argv[files[k]], err) < 0)
			goto fail;
	while (i < argc) {
		int used = 1;

		if (pat_add(x, argv + i, argc - i, &used, err) < 0)
			goto fail;
		i += used;
	}
	if (x->match == M_STR && x->nb_pats > 1) {
		qsort(x->pats, x->nb_pats, sizeof(*x->pats), x->icase ? pat_cmp_nocase : pat_cmp_case);
		x->sorted = 1;
	}
	return x;
fail:
	expr_free(x);
	return NULL;
}

struct acl_list *acl_list_new(void)
{
	return calloc(1, sizeof(struct acl_list));
}

void acl_list_free(struct acl_list *l)
{
	if (!l)
		return;
	for (unsigned i = 0; i < l->nb; i++)
		acl_free(l->a[i]);
	free(l->a);
	free(l);
}

static struct acl *acl_find(const struct acl_list *l, const char *name)
{
	for (unsigned i = 0; i < l->nb; i++)
		if (!strcmp(l->a[i]->name, name))
			return l->a[i];
	return NULL;
}

int acl_add(struct acl_list *l, int argc, char **argv, char **err)
{
	struct acl_expr *x;
	struct acl *a;

	*err = NULL;
	if (argc < 1) {
		*err = msg("missing ACL name");
		return -1;
	}
	for (const char *c = argv[0]; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.:", *c)) {
			*err = msg("invalid ACL name '%s' (letters, digits, '-', '_', '.', ':')", argv[0]);
			return -1;
		}
	if (argc < 2) {
		*err = msg("missing fetch after the ACL name '%s'", argv[0]);
		return -1;
	}
	if (!(x = expr_parse(argc - 1, argv + 1, err)))
		return -1;
	a = acl_find(l, argv[0]);
	if (!a) {
		struct acl **na;

		if (l->nb == l->cap) {
			unsigned cap = l->cap ? l->cap * 2 : 8;

			if (!(na = realloc(l->a, cap * sizeof(*na))))
				goto oom;
			l->a = na;
			l->cap = cap;
		}
		if (!(a = calloc(1, sizeof(*a))) || !(a->name = strdup(argv[0]))) {
			free(a);
			goto oom;
		}
		l->a[l->nb++] = a;
	}
	if (a->last)
		a->last->next = x;
	else
		a->first = x;
	a->last = x;
	return 0;
oom:
	expr_free(x);
	*err = msg("out of memory");
	return -1;
}

void acl_cond_free(struct acl_cond *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nb_anon; i++)
		acl_free(c->anon[i]);
	free(c->anon);
	free(c->t);
	free(c);
}

/* HAProxy's predefined ACLs that Sluice can evaluate, usable by name in
 * any condition without an `acl` line (`stats admin if LOCALHOST`); an ACL
 * the section declares under the same name wins. */
static const struct {
	const char *name;
	const char *words[4];       /* FETCH VALUE..., NULL-terminated */
} acl_predef[] = {
	{ "LOCALHOST", { "src", "127.0.0.1/8", "::1", NULL } },
	{ "METH_GET",  { "method", "GET", "HEAD", NULL } },
	{ "METH_POST", { "method", "POST", NULL } },
};

/* Returns a new ACL for the predefined name <name>, NULL when there is no
 * such name (*err untouched) or without memory (*err set). */
static struct acl *acl_predefined(const char *name, char **err)
{
	for (size_t i = 0; i < sizeof(acl_predef) / sizeof(acl_predef[0]); i++) {
		char *words[4];
		struct acl_expr *x;
		struct acl *a;
		int n = 0;

		if (strcmp(acl_predef[i].name, name))
			continue;
		while (n < 4 && acl_predef[i].words[n]) {
			words[n] = (char *)acl_predef[i].words[n]; /* expr_parse only reads them */
			n++;
		}
		if (!(x = expr_parse(n, words, err)))
			return NULL;
		if (!(a = calloc(1, sizeof(*a)))) {
			expr_free(x);
			*err = msg("out of memory");
			return NULL;
		}
		a->first = a->last = x;
		return a;
	}
	return NULL;
}

struct acl_cond *acl_cond_parse(const struct acl_list *l, int argc, char **argv, char **err)
{
	struct acl_cond *c = calloc(1, sizeof(*c));
	int i, or_next = 0;

	*err = NULL;
	if (!c || !(c->t = calloc((size_t)argc, sizeof(*c->t))) ||
	    !(c->anon = calloc((size_t)argc, sizeof(*c->anon)))) {
		*err = msg("out of memory");
		goto fail;
	}
	if (argc < 1 || (strcmp(argv[0], "if") && strcmp(argv[0], "unless"))) {
		*err = msg("expected 'if' or 'unless'");
		goto fail;
	}
	c->unless = argv[0][0] == 'u';
	for (i = 1; i < argc; i++) {
		const char *w = argv[i];
		struct term *t = &c->t[c->nb];
		int neg = 0;

		if (!strcmp(w, "||") || !strcmp(w, "or")) {
			if (!c->nb || or_next) {
				*err = msg("'%s' without a condition before it", w);
				goto fail;
			}
			or_next = 1;
			continue;
		}
		while (*w == '!') {
			neg = !neg;
			w++;
		}
		if (!*w) {
			if (++i >= argc) {
				*err = msg("'!' at the end of the condition");
				goto fail;
			}
			w = argv[i];
			if (!strcmp(w, "||") || !strcmp(w, "or") || *w == '!') {
				*err = msg("'!' before '%s'", w);
				goto fail;
			}
		}
		if (!strcmp(w, "{")) {
			int j = i + 1;
			struct acl_expr *x;
			struct acl *a;

			while (j < argc && strcmp(argv[j], "}"))
				j++;
			if (j >= argc) {
				*err = msg("missing '}' to close the anonymous ACL");
				goto fail;
			}
			if (j == i + 1) {
				*err = msg("empty anonymous ACL '{ }'");
				goto fail;
			}
			if (!(x = expr_parse(j - i - 1, argv + i + 1, err)))
				goto fail;
			if (!(a = calloc(1, sizeof(*a)))) {
				expr_free(x);
				*err = msg("out of memory");
				goto fail;
			}
			a->first = a->last = x;
			c->anon[c->nb_anon++] = a;
			t->acl = a;
			i = j;
		} else if (!strcmp(w, "}")) {
			*err = msg("'}' without '{'");
			goto fail;
		} else if (!(t->acl = acl_find(l, w))) {
			struct acl *a = acl_predefined(w, err);

			if (!a) {
				if (!*err)
					*err = msg("unknown ACL '%s' (declare it with 'acl' before using it)", w);
				goto fail;
			}
			c->anon[c->nb_anon++] = a; /* owned like an anonymous one */
			t->acl = a;
		}
		t->neg = neg;
		t->or_before = or_next;
		or_next = 0;
		c->nb++;
	}
	if (!c->nb) {
		*err = msg("empty condition after '%s'", argv[0]);
		goto fail;
	}
	if (or_next) {
		*err = msg("nothing after the last '||'");
		goto fail;
	}
	return c;
fail:
	if (!*err)
		*err = msg("out of memory");
	acl_cond_free(c);
	return NULL;
}

/* ---------- formats ---------- */

void acl_fmt_free(struct acl_fmt *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->nb; i++) {
		free(f->parts[i].lit);
		sample_free(f->parts[i].se);
	}
	free(f->parts);
	free(f);
}

static int fmt_add(struct acl_fmt *f, struct fmt_part part)
{
	struct fmt_part *np = realloc(f->parts, (f->nb + 1) * sizeof(*np));

	if (!np)
		return -1;
	f->parts = np;
	f->parts[f->nb++] = part;
	return 0;
}

static int has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == 0)
			return 1;
	return 0;
}

/* Moves the literal collected so far (lit[0..*llen)) into a part of <f>.
 * Returns 0, or -1 without memory. */
static int fmt_flush(struct acl_fmt *f, const char *lit, size_t *llen)
{
	struct fmt_part lp = { 0 };

	if (!*llen)
		return 0;
	lp.lit = dupn(lit, *llen);
	lp.len = *llen;
	if (!lp.lit || fmt_add(f, lp) < 0) {
		free(lp.lit);
		return -1;
	}
	*llen = 0;
	return 0;
}

/* Parses the options of "%{...}" at <s> (just after '{') into *hex.
 * Returns the position after '}', or NULL with *err set. */
static const char *fmt_opts(const char *s, int *hex, char **err)
{
	const char *e = strchr(s, '}');

	if (!e) {
		*err = msg("missing '}' after '%%{%s'", s);
		return NULL;
	}
	while (s < e) {
		const char *c = memchr(s, ',', (size_t)(e - s));
		size_t l = c ? (size_t)(c - s) : (size_t)(e - s);

		if (l == 2 && (s[0] == '+' || s[0] == '-') && s[1] == 'X')
			*hex = s[0] == '+';
		else {
			*err = msg("unsupported option '%.*s' in '%%{...}' (only +X and -X)", (int)l, s);
			return NULL;
		}
		s += l + (c ? 1 : 0);
	}
	return e + 1;
}

struct acl_fmt *acl_fmt_parse(const char *text, int no_ctl, char **err)
{
	struct acl_fmt *f = calloc(1, sizeof(*f));
	const char *s = text;
	char *lit = NULL;
	size_t llen = 0;
	int hex_all = 0;     /* %{+X}o: every later variable in hex */

	*err = NULL;
	/* room for the text with each 4-byte "%pid" grown to at most 11 */
	if (!f || !(lit = malloc(strlen(text) * 3 + 32)))
		goto oom;
	f->no_ctl = no_ctl;
	if (no_ctl && has_ctl(text, strlen(text))) {
		*err = msg("CR, LF or NUL in '%s' (would break the message head)", text);
		goto fail;
	}
	while (*s) {
		if (s[0] == '%' && s[1] == '%') {
			lit[llen++] = '%';
			s += 2;
		} else if (s[0] == '%' && s[1] == '[') {
			const char *e = strchr(s + 2, ']');
			struct fmt_part part = { 0 };
			char *inner;

			if (!e) {
				*err = msg("missing ']' after '%s'", s);
				goto fail;
			}
			if (fmt_flush(f, lit, &llen) < 0 || !(inner = dupn(s + 2, (size_t)(e - s - 2))))
				goto oom;
			part.se = sample_parse(inner, err);
			free(inner);
			if (!part.se)
				goto fail;
			if (fmt_add(f, part) < 0) {
				sample_free(part.se);
				goto oom;
			}
			s = e + 1;
		} else if (s[0] == '%' && (s[1] == '{' || isalpha((unsigned char)s[1]))) {
			struct fmt_part part = { .hex = hex_all };
			const char *name = s + 1;
			size_t nl = 0, k;

			if (*name == '{' && !(name = fmt_opts(name + 1, &part.hex, err)))
				goto fail;
			while (isalpha((unsigned char)name[nl]))
				nl++;
			s = name + nl;
			if (nl == 1 && name[0] == 'o') {
				/* %{+X}o: an option for what follows; the blank
				 * that separates it is no part of the value, as
				 * in HAProxy's "%{+X}o\ %ci..." example */
				hex_all = part.hex;
				if (*s == ' ')
					s++;
				continue;
			}
			if (nl == 3 && !memcmp(name, "pid", 3)) {
				/* the same for the process's whole life: a literal */
				llen += (size_t)sprintf(lit + llen, part.hex ? "%04X" : "%d", (int)getpid());
				continue;
			}
			for (k = 0; k < sizeof(fmt_vars) / sizeof(fmt_vars[0]); k++)
				if (strlen(fmt_vars[k].name) == nl && !memcmp(fmt_vars[k].name, name, nl))
					break;
			if (k == sizeof(fmt_vars) / sizeof(fmt_vars[0])) {
				*err = msg("unknown variable '%%%.*s' (expected %s, or %%%% for a percent sign)",
				           (int)nl, name, FMT_VAR_LIST);
				goto fail;
			}
			part.var = fmt_vars[k].v;
			if (fmt_flush(f, lit, &llen) < 0 || fmt_add(f, part) < 0)
				goto oom;
		} else {
			lit[llen++] = *s++;
		}
	}
	if (fmt_flush(f, lit, &llen) < 0)
		goto oom;
	free(lit);
	return f;
oom:
	*err = msg("out of memory");
fail:
	free(lit);
	acl_fmt_free(f);
	return NULL;
}

/* Writes the value of variable <p> for <ctx> into tmp[0..room). Returns
 * its length (0: no value). */
static size_t fmt_var_value(const struct fmt_part *p, struct acl_ctx *ctx, char *tmp, size_t room)
{
	const uint8_t *a = NULL;
	int fam = 0, n = 0;
	uint64_t num;

	switch (p->var) {
	case FV_CI:
		if (!ctx_src(ctx))
			return 0;
		fam = ctx->src_family;
		a = ctx->src_addr;
		break;
	case FV_FI:
		fam = ctx->dst_family;
		a = ctx->dst_addr;
		break;
	case FV_ID:
		if (!ctx->uid || ctx->uid_len > room)
			return 0;
		memcpy(tmp, ctx->uid, ctx->uid_len);
		return ctx->uid_len;
	default:
		num = p->var == FV_CP ? ctx->src_port : p->var == FV_FP ? ctx->dst_port :
		      p->var == FV_TS ? ctx->now_s : ctx->req_id;
		n = snprintf(tmp, room, p->hex ? (p->var == FV_TS ? "%08llX" : "%04llX") : "%llu",
		             (unsigned long long)num);
		return n > 0 && (size_t)n < room ? (size_t)n : 0;
	}
	if (fam == AF_INET && p->hex)
		n = snprintf(tmp, room, "%02X%02X%02X%02X", a[0], a[1], a[2], a[3]);
	else if (fam == AF_INET)
		return inet_ntop(AF_INET, a, tmp, (socklen_t)room) ? strlen(tmp) : 0;
	else if (fam == AF_INET6)
		return inet_ntop(AF_INET6, a, tmp, (socklen_t)room) ? strlen(tmp) : 0;
	return n > 0 && (size_t)n < room ? (size_t)n : 0;
}

long acl_fmt_build(const struct acl_fmt *f, struct acl_ctx *ctx, char *dst, size_t room)
{
	size_t pos = 0;

	for (unsigned i = 0; i < f->nb; i++) {
		const struct fmt_part *p = &f->parts[i];

		if (p->lit) {
			if (room - pos < p->len)
				return -1;
			memcpy(dst + pos, p->lit, p->len);
			pos += p->len;
		} else {
			char tmp[1024];
			const char *v = tmp;
			size_t l;
			long idx;

			/* converted values go through tmp, so that a nearly full
			 * dst says "does not fit" instead of dropping the part */
			if (p->var)
				l = fmt_var_value(p, ctx, tmp, sizeof(tmp));
			else if (!sample_eval(p->se, ctx, tmp, sizeof(tmp), &v, &l, &idx))
				continue;
			if (l > room - pos)
				return -1;
			/* a value from the request may carry what a header
			 * value must not: refuse rather than split the head */
			if (f->no_ctl && has_ctl(v, l))
				return -1;
			memcpy(dst + pos, v, l);
			pos += l;
		}
	}
	return (long)pos;
}

/* ---------- regex replacement ---------- */

struct acl_regex {
	pcre2_code *re;
	char *repl;          /* in PCRE2's "${N}" syntax */
};

void acl_regex_free(struct acl_regex *r)
{
	if (!r)
		return;
	pcre2_code_free(r->re);
	free(r->repl);
	free(r);
}

struct acl_regex *acl_regex_new(const char *re, const char *repl, char **err)
{
	struct acl_regex *r = calloc(1, sizeof(*r));
	size_t n = 0;
	int ec;
	PCRE2_SIZE eo;

	*err = NULL;
	if (!r || !(r->repl = malloc(strlen(repl) * 4 + 1))) {
		free(r);
		*err = msg("out of memory");
		return NULL;
	}
	if (has_ctl(repl, strlen(repl))) {
		*err = msg("CR, LF or NUL in '%s' (would break the message head)", repl);
		acl_regex_free(r);
		return NULL;
	}
	/* the operator writes \1 as in HAProxy; PCRE2 wants ${1}, and a
	 * literal $ must be doubled */
	for (const char *c = repl; *c; c++) {
		if (c[0] == '\\' && c[1] >= '0' && c[1] <= '9') {
			n += (size_t)sprintf(r->repl + n, "${%c}", c[1]);
			c++;
		} else if (*c == '$') {
			r->repl[n++] = '$';
			r->repl[n++] = '$';
		} else {
			r->repl[n++] = *c;
		}
	}
	r->repl[n] = 0;
	r->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_ANCHORED | PCRE2_ENDANCHORED,
	                      &ec, &eo, NULL);
	if (!r->re) {
		PCRE2_UCHAR buf[256];

		pcre2_get_error_message(ec, buf, sizeof(buf));
		*err = msg("invalid regex '%s': %s at offset %zu", re, (char *)buf, (size_t)eo);
		acl_regex_free(r);
		return NULL;
	}
	(void)pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE);
	return r;
}

int acl_regex_replace(const struct acl_regex *r, const char *s, size_t len, char *dst, size_t room,
                      size_t *outlen)
{
	PCRE2_SIZE out = room;
	int rc;

	/* no match block given: PCRE2 sizes one for the groups the
	 * replacement names (one small allocation per replacement) */
	rc = pcre2_substitute(r->re, (PCRE2_SPTR)s, len, 0, 0, NULL, NULL,
	                      (PCRE2_SPTR)r->repl, PCRE2_ZERO_TERMINATED, (PCRE2_UCHAR *)dst, &out);
	if (rc == 0)
		return 0;
	if (rc < 0 || has_ctl(dst, out))
		return -1;
	*outlen = out;
	return 1;
}

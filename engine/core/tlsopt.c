/* tlsopt.c - the TLS words of the configuration (see tlsopt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/core/tlsopt.h"

/* What a word does. */
enum tlso_kind {
	TK_SSL,      /* `ssl`: TLS on */
	TK_NO_SSL,   /* `no-ssl`: TLS off (a server line undoing default-server) */
	TK_STR,      /* takes a value, kept as a string */
	TK_FLAG,     /* sets an int to 1 */
	TK_UNFLAG,   /* sets an int to 0: undoes a TK_FLAG of default-server */
	TK_NOP,      /* accepted for HAProxy's sake, changes nothing */
	TK_VERIFY,   /* verify none|required */
	TK_SNI,      /* sni NAME or str(NAME) */
};

/* Field offsets inside struct tlsopt_set, per side; 0: not on that side. */
#define TB(f) offsetof(struct tlsopt_set, bind.f)
#define TS(f) offsetof(struct tlsopt_set, srv.f)

/* The words, in the order error messages list them. */
static const struct tlso_word {
	const char *name;
	int where;                /* TLSO_* */
	enum tlso_kind kind;
	size_t boff, soff;        /* the field on a bind line, on a server line */
	int base;                 /* a file path: TLSO_BASE_* of its directory; 0 otherwise */
} tlso_words[] = {
	{ "ssl",            TLSO_BIND | TLSO_SRV, TK_SSL, 0, 0, 0 },
	{ "no-ssl",         TLSO_SRV, TK_NO_SSL, 0, 0, 0 },
	{ "crt",            TLSO_BIND | TLSO_SRV, TK_STR, TB(crt), TS(crt), TLSO_BASE_CRT },
	{ "crt-list",       TLSO_BIND, TK_STR, TB(crt_list), 0, TLSO_BASE_CRT },
	{ "verify",         TLSO_SRV, TK_VERIFY, 0, 0, 0 },
	{ "ca-file",        TLSO_SRV, TK_STR, 0, TS(ca_file), TLSO_BASE_CA },
	{ "sni",            TLSO_SRV, TK_SNI, 0, 0, 0 },
	{ "alpn",           TLSO_BIND | TLSO_SRV | TLSO_CRT, TK_STR, TB(alpn), TS(alpn), 0 },
	{ "ssl-min-ver",    TLSO_BIND | TLSO_SRV | TLSO_CRT | TLSO_OPT, TK_STR, TB(p.min_ver), TS(p.min_ver), 0 },
	{ "ssl-max-ver",    TLSO_BIND | TLSO_SRV | TLSO_CRT | TLSO_OPT, TK_STR, TB(p.max_ver), TS(p.max_ver), 0 },
	{ "ciphers",        TLSO_BIND | TLSO_SRV | TLSO_CRT, TK_STR, TB(p.ciphers), TS(p.ciphers), 0 },
	{ "ciphersuites",   TLSO_BIND | TLSO_SRV | TLSO_CRT, TK_STR, TB(p.ciphersuites), TS(p.ciphersuites), 0 },
	{ "curves",         TLSO_BIND | TLSO_SRV | TLSO_CRT, TK_STR, TB(p.curves), TS(p.curves), 0 },
	{ "no-tls-tickets", TLSO_BIND | TLSO_SRV | TLSO_CRT | TLSO_OPT, TK_FLAG, TB(p.no_tickets), TS(p.no_tickets), 0 },
	/* HAProxy's: this server's connections never resume a session */
	{ "no-ssl-reuse",   TLSO_SRV, TK_FLAG, 0, TS(no_reuse), 0 },
	/* HAProxy's undoing words for a server line after default-server */
	{ "ssl-reuse",      TLSO_SRV, TK_UNFLAG, 0, TS(no_reuse), 0 },
	{ "tls-tickets",    TLSO_SRV, TK_UNFLAG, 0, TS(p.no_tickets), 0 },
	{ "no-tlsv13",      TLSO_BIND | TLSO_SRV | TLSO_CRT | TLSO_OPT, TK_FLAG, TB(p.no_v13), TS(p.no_v13), 0 },
	{ "no-tlsv12",      TLSO_BIND | TLSO_SRV | TLSO_CRT | TLSO_OPT, TK_FLAG, TB(p.no_v12), TS(p.no_v12), 0 },
	/* versions below TLS 1.2 are never enabled: disabling them is a no-op */
	{ "no-tlsv11",      TLSO_BIND | TLSO_SRV | TLSO_OPT, TK_NOP, 0, 0, 0 },
	{ "no-tlsv10",      TLSO_BIND | TLSO_SRV | TLSO_OPT, TK_NOP, 0, 0, 0 },
	{ "no-sslv3",       TLSO_BIND | TLSO_SRV | TLSO_OPT, TK_NOP, 0, 0, 0 },
};
#define TLSO_NB (sizeof(tlso_words) / sizeof(tlso_words[0]))

int tls_words_add(struct tls_words *w, char *const *argv, unsigned n)
{
	char **v = realloc(w->v, (w->n + n) * sizeof(*v));

	if (!v)
		return -1;
	w->v = v;
	for (unsigned i = 0; i < n; i++) {
		if (!(w->v[w->n] = strdup(argv[i])))
			return -1;
		w->n++;
	}
	return 0;
}

int tls_words_copy(struct tls_words *dst, const struct tls_words *src)
{
	dst->v = NULL;
	dst->n = 0;
	if (src->n && tls_words_add(dst, src->v, src->n) < 0) {
		tls_words_free(dst);
		return -1;
	}
	return 0;
}

void tls_words_free(struct tls_words *w)
{
	for (unsigned i = 0; i < w->n; i++)
		free(w->v[i]);
	free(w->v);
	w->v = NULL;
	w->n = 0;
}

/* Returns the word named <name> accepted by <where>, or NULL. */
static const struct tlso_word *tlso_find(const char *name, int where)
{
	for (size_t k = 0; k < TLSO_NB; k++)
		if ((tlso_words[k].where & where) && strcmp(tlso_words[k].name, name) == 0)
			return &tlso_words[k];
	return NULL;
}

int tlsopt_word(struct tlsopt_set *t, int where, char **argv, int argc, int i,
		char *err, size_t errlen)
{
	const struct tlso_word *w = tlso_find(argv[i], where);
	size_t off;
	char *v;

	if (!w)
		return 0;
	if (w->kind == TK_SSL || w->kind == TK_NO_SSL) {
		t->ssl = w->kind == TK_SSL;
		return 1;
	}
	t->seen = 1;
	if (w->kind == TK_NOP)
		return 1;
	off = where == TLSO_SRV ? w->soff : w->boff;
	if (w->kind == TK_FLAG || w->kind == TK_UNFLAG) {
		*(int *)((char *)t + off) = w->kind == TK_FLAG;
		return 1;
	}
	if (i + 1 >= argc) {
		snprintf(err, errlen, "missing value after '%s'", argv[i]);
		return -1;
	}
	v = argv[i + 1];
	switch (w->kind) {
	case TK_VERIFY:
		if (strcmp(v, "none") != 0 && strcmp(v, "required") != 0) {
			snprintf(err, errlen, "invalid verify '%s' (expected none, required)", v);
			return -1;
		}
		t->srv.verify_none = strcmp(v, "none") == 0;
		break;
	case TK_SNI: {
		/* HAProxy takes an expression here; a constant is str(NAME) */
		size_t n = strlen(v);

		if (n > 5 && strncmp(v, "str(", 4) == 0 && v[n - 1] == ')') {
			v[n - 1] = '\0';
			memmove(v, v + 4, n - 4);
		}
		t->srv.sni = v;
		break;
	}
	default:
		*(const char **)((char *)t + off) = v;
		break;
	}
	return 2;
}

int tlsopt_apply(struct tlsopt_set *t, int where, const struct tls_words *w, char *err, size_t errlen)
{
	for (unsigned i = 0; i < w->n; ) {
		int n = tlsopt_word(t, where, w->v, (int)w->n, (int)i, err, errlen);

		if (n <= 0) {
			if (!n)
				snprintf(err, errlen, "unexpected saved TLS word '%s'", w->v[i]);
			return -1;
		}
		i += (unsigned)n;
	}
	t->seen = 0;
	return 0;
}

int tlsopt_path_base(const char *word)
{
	const struct tlso_word *w = tlso_find(word, TLSO_BIND | TLSO_SRV);

	return w ? w->base : 0;
}

void tlsopt_list(int where, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < TLSO_NB && used < len; k++)
		if (tlso_words[k].where & where)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
						 tlso_words[k].name);
}

/* The global keywords: ssl-default-<side>-<what>. */
static const struct tlso_global {
	const char *name;
	int side;                 /* TLSO_BIND or TLSO_SRV */
	const char *word;         /* the line word it stands for; NULL: -options */
} tlso_globals[] = {
	{ "ssl-default-bind-options",        TLSO_BIND, NULL },
	{ "ssl-default-bind-ciphers",        TLSO_BIND, "ciphers" },
	{ "ssl-default-bind-ciphersuites",   TLSO_BIND, "ciphersuites" },
	{ "ssl-default-bind-curves",         TLSO_BIND, "curves" },
	{ "ssl-default-server-options",      TLSO_SRV,  NULL },
	{ "ssl-default-server-ciphers",      TLSO_SRV,  "ciphers" },
	{ "ssl-default-server-ciphersuites", TLSO_SRV,  "ciphersuites" },
	{ "ssl-default-server-curves",       TLSO_SRV,  "curves" },
};

int tlsopt_global(char **argv, int argc, struct tls_words *bind, struct tls_words *srv,
		  char *err, size_t errlen)
{
	const struct tlso_global *g = NULL;
	struct tlsopt_set t;
	struct tls_words *dst;
	char *pair[2];
	int i, n;

	for (size_t k = 0; k < sizeof(tlso_globals) / sizeof(tlso_globals[0]) && !g; k++)
		if (strcmp(argv[0], tlso_globals[k].name) == 0)
			g = &tlso_globals[k];
	if (!g)
		return 0;
	dst = g->side == TLSO_BIND ? bind : srv;
	memset(&t, 0, sizeof(t));
	if (g->word) {
		if (argc != 2) {
			snprintf(err, errlen, "takes one value (a list)");
			return -1;
		}
		pair[0] = (char *)g->word;
		pair[1] = argv[1];
		(void)tlsopt_word(&t, g->side, pair, 2, 0, err, errlen);
	} else {
		if (argc < 2) {
			snprintf(err, errlen, "needs at least one option");
			return -1;
		}
		for (i = 1; i < argc; i += n) {
			const struct tlso_word *w = tlso_find(argv[i], g->side);

			if (!w || !(w->where & TLSO_OPT)) {
				char list[256];

				tlsopt_list(TLSO_OPT, list, sizeof(list));
				snprintf(err, errlen, "unsupported option '%s' (expected %s)", argv[i], list);
				return -1;
			}
			n = tlsopt_word(&t, g->side, argv, argc, i, err, errlen);
			if (n < 0)
				return -1;
		}
	}
	if (tls_proto_check(g->side == TLSO_BIND ? &t.bind.p : &t.srv.p, g->side == TLSO_SRV,
			    err, errlen) < 0)
		return -1;
	if ((g->word ? tls_words_add(dst, pair, 2) : tls_words_add(dst, argv + 1, (unsigned)argc - 1)) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 1;
}

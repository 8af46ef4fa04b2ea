/* stats_admin.c - `stats admin if COND`: changing server states from the
 * stats page, as HAProxy's page does.
 *
 * The page shows a form per backend (servers ticked, an action) to the
 * requests COND holds for; the form is POSTed to the stats URI as
 * "s=SRV&s=SRV&action=ready|drain|maint&b=BACKEND" and answered by a 303
 * back to the page with ";st=RESULT", so that reloading the page never
 * posts again. A POST that COND refuses is answered 403. The body is
 * small and bounded (STATS_POST_MAX): it must arrive whole with the head
 * (stream_stats_body_pending() holds the head until it has), and it is
 * read in place, never copied to the heap.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "engine/client/stream_int.h"
#include "engine/server/backend.h"
#include "engine/core/acl.h"
#include "engine/core/conn.h"

/* Largest form body read: HAProxy's form names a few servers. */
#define STATS_POST_MAX 4096
/* Longest decoded name or value of the form. */
#define STATS_FORM_WORD 128

/* What a POST did, shown on the page it redirects to (HAProxy's names). */
static const char *const stats_post_names[] = {
	[STATS_POST_NONE] = NULL,
	[STATS_POST_DONE] = "DONE",  /* every server named was changed */
	[STATS_POST_PART] = "PART",  /* some were: unknown names */
	[STATS_POST_NOOP] = "NONE",  /* no server named */
	[STATS_POST_ERRP] = "ERRP",  /* bad backend, action or encoding */
	[STATS_POST_EXCD] = "EXCD",  /* body too large or not whole */
};

const char *stats_post_name(enum stats_post r)
{
	return (unsigned)r < sizeof(stats_post_names) / sizeof(stats_post_names[0]) ? stats_post_names[r] : NULL;
}

enum stats_post stats_post_parse_name(const char *q, size_t len)
{
	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(q + i, "st=", 3) || (i && q[i - 1] != '?' && q[i - 1] != ';' && q[i - 1] != '&'))
			continue;
		for (unsigned r = STATS_POST_DONE; r <= STATS_POST_EXCD; r++)
			if (len - i - 3 >= 4 && !memcmp(q + i + 3, stats_post_names[r], 4))
				return (enum stats_post)r;
	}
	return STATS_POST_NONE;
}

int stats_admin_allowed(struct stream *s, const struct h1_msg *m, const char *base)
{
	const struct cfg_frontend *fc = s->fe->cfg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct acl_ctx ctx;

	if (!fc->rules || !fc->rules->stats_admin)
		return 0;
	memset(&ctx, 0, sizeof(ctx));
	ctx.m = m;
	ctx.base = base;
	ctx.src_str = s->cli_addr[0] ? s->cli_addr : NULL;
	ctx.src_port = s->cli_port;
	/* the local port, as the request rules see it */
	if (fc->nb_binds == 1 || !s->cli || getsockname(s->cli->fd, (struct sockaddr *)&ss, &sl) < 0)
		ss = fc->binds[0].addr;
	ctx.dst_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                              : ((struct sockaddr_in *)&ss)->sin_port);
	return acl_cond_eval(fc->rules->stats_admin, &ctx);
}

int stream_stats_body_pending(struct stream *s, const struct h1_msg *m, const char *base, size_t avail,
			      size_t room)
{
	const struct cfg_frontend *fc = s->fe->cfg;

	if (!fc->stats_enabled || m->meth != H1_M_POST || !(m->flags & H1_F_CLEN) || (m->flags & H1_F_TE) ||
	    m->content_length > STATS_POST_MAX || m->head_len + m->content_length > room)
		return 0;
	if (m->uri.len < strlen(fc->stats_uri) || memcmp(base + m->uri.ofs, fc->stats_uri, strlen(fc->stats_uri)))
		return 0;
	return avail < m->head_len + m->content_length;
}

/* Returns the value of hex digit <c>, or -1. */
static int stats_hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes form word v[0..len) ('+' and %XX) into dst, NUL-terminated.
 * Returns 0, or -1 when it is malformed, too long or holds a NUL. */
static int stats_form_decode(const char *v, size_t len, char dst[STATS_FORM_WORD])
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int c = v[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? stats_hex(v[i + 1]) : -1, lo = hi >= 0 ? stats_hex(v[i + 2]) : -1;

			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (!c || o + 1 >= STATS_FORM_WORD)
			return -1;
		dst[o++] = (char)c;
	}
	dst[o] = 0;
	return 0;
}

/* Finds the next "key=value" pair of form f[0..len) from *pos: sets its
 * spans and moves *pos past it. Returns 0, or -1 at the end. */
static int stats_form_next(const char *f, size_t len, size_t *pos, const char **k, size_t *kl,
			   const char **v, size_t *vl)
{
	size_t i = *pos, e;

	while (i < len && f[i] == '&')
		i++;
	if (i >= len)
		return -1;
	for (e = i; e < len && f[e] != '&'; e++)
		;
	*k = f + i;
	*kl = e - i;
	*v = memchr(*k, '=', *kl);
	if (*v) {
		*kl = (size_t)(*v - *k);
		(*v)++;
		*vl = e - (size_t)(*v - f);
	} else {
		*v = f + e;
		*vl = 0;
	}
	*pos = e;
	return 0;
}

/* Returns the backend of <e> named <name>, or "#N" (N: its 1-based index,
 * the CSV's iid), or NULL. */
static struct backend *stats_find_backend(const struct engine *e, const char *name)
{
	if (name[0] == '#') {
		char *end;
		unsigned long n = strtoul(name + 1, &end, 10);

		return !*end && n >= 1 && n <= e->nb_bes ? e->bes[n - 1] : NULL;
	}
	for (unsigned b = 0; b < e->nb_bes; b++)
		if (!strcmp(e->bes[b]->cfg->name, name))
			return e->bes[b];
	return NULL;
}

enum stats_post stats_admin_post(const struct engine *e, const char *body, size_t len)
{
	char word[STATS_FORM_WORD];
	struct backend *be = NULL;
	int action = -1, named = 0, done = 0;
	const char *k, *v;
	size_t kl, vl, pos = 0;

	/* first the backend and the action, wherever they stand */
	while (stats_form_next(body, len, &pos, &k, &kl, &v, &vl) == 0) {
		if (stats_form_decode(v, vl, word) < 0)
			return STATS_POST_ERRP;
		if (kl == 1 && *k == 'b') {
			if (!(be = stats_find_backend(e, word)))
				return STATS_POST_ERRP;
		} else if (kl == 6 && !memcmp(k, "action", 6)) {
			action = !strcmp(word, "ready") ? SRV_ADMIN_READY : !strcmp(word, "drain") ? SRV_ADMIN_DRAIN :
				 !strcmp(word, "maint") ? SRV_ADMIN_MAINT : -1;
			if (action < 0)
				return STATS_POST_ERRP;
		}
	}
	if (!be || action < 0)
		return STATS_POST_ERRP;
	for (pos = 0; stats_form_next(body, len, &pos, &k, &kl, &v, &vl) == 0;) {
		struct server *srv;

		if (kl != 1 || *k != 's')
			continue;
		named++;
		if (stats_form_decode(v, vl, word) == 0 && (srv = be_find_server(be, word))) {
			be_server_set_admin(srv, (enum srv_admin)action);
			done++;
		}
	}
	return !named ? STATS_POST_NOOP : done == named ? STATS_POST_DONE : STATS_POST_PART;
}

enum stats_post stream_stats_post(struct stream *s, const struct h1_msg *m, const char *base, size_t avail)
{
	if (!(m->flags & H1_F_CLEN) || (m->flags & H1_F_TE) || m->content_length > STATS_POST_MAX ||
	    avail < m->head_len + m->content_length)
		return STATS_POST_EXCD;
	return stats_admin_post(s->tc->eng, base + m->head_len, (size_t)m->content_length);
}

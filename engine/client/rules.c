/* rules.c - applies a frontend's rules to a stream's message heads (see
 * rules.h). Conditions and values are evaluated by core/acl.c over the
 * parsed head; this file turns the actions into head edits, answers and a
 * backend choice.
 *
 * An edit rebuilds the head into the thread's scratch area with the change
 * applied, copies it back over the old head (moving the bytes that follow
 * it), and parses it again, so that the next rule and the rewrite for the
 * peer see one consistent h1_msg. Heads are small and edits rare, so one
 * rebuild per edit is cheaper to get right than patching spans.
 */
#include "engine/client/rules.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "engine/core/acl.h"
#include "engine/core/cfg.h"
#include "engine/core/conn.h"
#include "engine/core/ctx.h"
#include "engine/client/stream_int.h"

/* Largest value a rule builds (header value, path, Location): values live
 * on the stack while the head is rebuilt in the scratch area. */
#define RULE_VAL_MAX 8192

/* One change to a head. */
struct hedit {
	enum cfg_http_act act;
	const char *name;
	size_t nlen;
	const char *val;            /* new header value, path, query or method */
	size_t vlen;
	const struct acl_regex *re; /* replace-header */
	int status;                 /* set-status */
	const char *reason;
};

/* Returns the wall clock in seconds (for %Ts), from the coarse clock: a
 * second's precision needs no more. */
static uint64_t wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Fills <ctx> for evaluating rules on <m> (head at <base>) in stream <s>. */
static void rules_ctx(struct stream *s, const struct h1_msg *m, const char *base, struct acl_ctx *ctx)
{
	const struct cfg_frontend *fc = s->fe->cfg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	memset(ctx, 0, sizeof(*ctx));
	ctx->m = m;
	ctx->base = base;
	ctx->src_str = s->cli_addr[0] ? s->cli_addr : NULL;
	ctx->src_port = s->cli_port;
	ctx->now_s = wall_s();
	/* the local port: known without a system call when the frontend
	 * listens on one address, which is the common case */
	if (fc->nb_binds == 1 || !s->cli || getsockname(s->cli->fd, (struct sockaddr *)&ss, &sl) < 0)
		ss = fc->binds[0].addr;
	ctx->dst_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                               : ((struct sockaddr_in *)&ss)->sin_port);
	ctx->dst_family = ss.ss_family;
	if (ss.ss_family == AF_INET6)
		memcpy(ctx->dst_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	else if (ss.ss_family == AF_INET)
		memcpy(ctx->dst_addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	/* %rt: this thread's request count spread over the threads, so that
	 * numbers are unique in the process without a shared counter */
	ctx->req_id = (s->tc->cnt.req_received - 1) * s->tc->eng->nbthread + s->tc->tid;
	if (s->uid_len) {
		ctx->uid = s->uid;
		ctx->uid_len = s->uid_len;
	}
}

/* Builds the unique id of the request in <ctx> with the frontend's
 * unique-id-format, once per transaction, into the stream's id buffer
 * (made on first use; without memory the request simply has no id, as a
 * shortage must not fail it). A longer id is cut at CFG_UNIQUE_ID_MAX. */
static void rules_unique_id(struct stream *s, struct acl_ctx *ctx)
{
	char tmp[RULE_VAL_MAX];
	long n;

	if (s->uid_len || (!s->uid && !(s->uid = malloc(CFG_UNIQUE_ID_MAX))))
		return;
	n = acl_fmt_build(s->fe->cfg->uid_fmt, ctx, tmp, sizeof(tmp));
	if (n <= 0)
		return;
	s->uid_len = (size_t)n < CFG_UNIQUE_ID_MAX ? (size_t)n : CFG_UNIQUE_ID_MAX;
	memcpy(s->uid, tmp, s->uid_len);
	ctx->uid = s->uid;
	ctx->uid_len = s->uid_len;
}

/* Finds, in request target <u>[0..len), where its path starts (after the
 * scheme and authority of an absolute form) and where its query starts
 * ('?' position, or len). */
static void target_split(const char *u, size_t len, size_t *path, size_t *q)
{
	size_t i = 0;
	const char *c;

	if (len && u[0] != '/' && u[0] != '*' && (c = memchr(u, ':', len)) &&
	    (size_t)(c - u) + 3 <= len && c[1] == '/' && c[2] == '/') {
		for (i = (size_t)(c - u) + 3; i < len && u[i] != '/' && u[i] != '?'; i++)
			;
	}
	*path = i;
	c = memchr(u + i, '?', len - i);
	*q = c ? (size_t)(c - u) : len;
}

#define PUT(p, l) do { size_t l_ = (l); if (l_ > ssize - o) return -1; \
                       memcpy(scratch + o, (p), l_); o += l_; } while (0)

/* Applies <ed> to the head of <m> at area[0..m->head_len), followed by
 * <tail> bytes, in an area of <size> bytes; <scratch> holds the new head
 * meanwhile. Returns 0 with <m> describing the new head, or -1 when it
 * does not fit or does not parse (the area may then have changed: the
 * caller fails the message). */
static int head_edit(struct h1_msg *m, char *area, size_t size, size_t tail, const struct hedit *ed,
                     char *scratch, size_t ssize)
{
	unsigned keep_upgrade = m->flags & H1_F_UPGRADE;
	const char *ver = m->version == 10 ? "HTTP/1.0" : "HTTP/1.1";
	size_t o = 0, nl;

	if (m->is_request) {
		const char *u = area + m->uri.ofs;
		size_t pstart, qpos;

		if (ed->act == HA_SET_METHOD)
			PUT(ed->val, ed->vlen);
		else
			PUT(area + m->method.ofs, m->method.len);
		PUT(" ", 1);
		target_split(u, m->uri.len, &pstart, &qpos);
		if (ed->act == HA_SET_PATH) {
			PUT(u, pstart);
			PUT(ed->val, ed->vlen);
			PUT(u + qpos, m->uri.len - qpos);
		} else if (ed->act == HA_SET_QUERY) {
			PUT(u, qpos);
			if (ed->vlen) {
				PUT("?", 1);
				PUT(ed->val, ed->vlen);
			}
		} else {
			PUT(u, m->uri.len);
		}
		PUT(" ", 1);
		PUT(ver, 8);
		PUT("\r\n", 2);
	} else {
		char st[8];
		int status = ed->act == HA_SET_STATUS ? ed->status : m->status;

		snprintf(st, sizeof(st), " %03d ", status);
		PUT(ver, 8);
		PUT(st, 5);
		if (ed->act == HA_SET_STATUS)
			PUT(ed->reason ? ed->reason : h1_reason(status),
			    strlen(ed->reason ? ed->reason : h1_reason(status)));
		else
			PUT(area + m->reason.ofs, m->reason.len);
		PUT("\r\n", 2);
	}
	for (unsigned i = 0; i < m->nb_hdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];
		int match = ed->name && h->name.len == ed->nlen &&
		            strncasecmp(area + h->name.ofs, ed->name, ed->nlen) == 0;

		if (match && (ed->act == HA_SET_HDR || ed->act == HA_DEL_HDR))
			continue;
		PUT(area + h->name.ofs, h->name.len);
		PUT(": ", 2);
		if (match && ed->act == HA_REPLACE_HDR) {
			int r;

			if (ssize - o < 2)
				return -1;
			r = acl_regex_replace(ed->re, area + h->value.ofs, h->value.len, scratch + o,
			                      ssize - o - 2, &nl);
			if (r < 0)
				return -1;
			if (r > 0)
				o += nl;
			else
				PUT(area + h->value.ofs, h->value.len);
		} else {
			PUT(area + h->value.ofs, h->value.len);
		}
		PUT("\r\n", 2);
	}
	if (ed->act == HA_SET_HDR || ed->act == HA_ADD_HDR) {
		PUT(ed->name, ed->nlen);
		PUT(": ", 2);
		PUT(ed->val, ed->vlen);
		PUT("\r\n", 2);
	}
	PUT("\r\n", 2);
	if (o + tail > size)
		return -1;
	memmove(area + o, area + m->head_len, tail);
	memcpy(area, scratch, o);
	if (h1_parse_head(area, o + tail, m->is_request, size, m) <= 0)
		return -1;
	/* a withdrawn upgrade offer stays withdrawn (see stream_keep_upgrade) */
	if (!keep_upgrade)
		m->flags &= ~H1_F_UPGRADE;
	return 0;
}

#undef PUT

/* Runs edit rule <r> (its value built from <ctx>) on the head at the start
 * of <b>. Returns 0, or -1 when it cannot be applied. */
static int rule_edit(struct stream *s, const struct cfg_http_rule *r, struct acl_ctx *ctx,
                     struct h1_msg *m, struct buf *b)
{
	char val[RULE_VAL_MAX];
	struct hedit ed = { .act = r->act, .name = r->name, .nlen = r->name_len, .re = r->re,
	                    .status = r->status, .reason = r->reason };
	long n = 0;
	size_t tail;

	if (r->value && (n = acl_fmt_build(r->value, ctx, val, sizeof(val))) < 0)
		return -1;
	ed.val = val;
	ed.vlen = (size_t)n;
	if (r->act == HA_SET_METHOD && !n)
		return -1;
	tail = b_data(b) - m->head_len;
	if (head_edit(m, b_head(b), b->size, tail, &ed, s->tc->trash, s->tc->eng->cfg->g.bufsize) < 0)
		return -1;
	b->data = m->head_len + tail;
	return 0;
}

/* Prepares the answer of return rule <r>. Returns 0, or -1 without memory. */
static int rule_return(struct stream *s, const struct cfg_http_rule *r, struct acl_ctx *ctx)
{
	char body[RULE_VAL_MAX];
	long n = 0;
	char *out = NULL;
	const char *bp = body;
	int len;

	if (r->body) {
		bp = r->body;
		n = (long)r->body_len;
	} else if (r->value && (n = acl_fmt_build(r->value, ctx, body, sizeof(body))) < 0) {
		return -1;
	}
	len = asprintf(&out, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %ld\r\nConnection: close\r\n\r\n%.*s",
	               r->status, h1_reason(r->status), r->ctype ? "Content-Type: " : "",
	               r->ctype ? r->ctype : "", r->ctype ? "\r\n" : "", n, (int)n, bp);
	if (len < 0)
		return -1;
	st_set_reply(s, out, (size_t)len);
	return 0;
}

/* Prepares the answer of redirect rule <r> for request <m> (head at <base>).
 * Returns 0, or -1 when the location does not fit or without memory. */
static int rule_redirect(struct stream *s, const struct cfg_http_rule *r, struct acl_ctx *ctx,
                         const struct h1_msg *m, const char *base)
{
	char loc[RULE_VAL_MAX];
	const char *u = base + m->uri.ofs;
	size_t pstart, qpos, ul;
	long n;
	char *out = NULL;
	int len;

	if ((n = acl_fmt_build(r->value, ctx, loc, sizeof(loc))) < 0)
		return -1;
	target_split(u, m->uri.len, &pstart, &qpos);
	u += pstart;
	ul = m->uri.len - pstart;
	if (r->redir == CFG_REDIR_PREFIX) {
		/* a prefix of "/" means none, so that "redirect prefix /" keeps
		 * the path as it is */
		if (n == 1 && loc[0] == '/')
			n = 0;
		if ((size_t)n + ul > sizeof(loc))
			return -1;
		memcpy(loc + n, u, ul);
		n += (long)ul;
	} else if (r->redir == CFG_REDIR_SCHEME) {
		const char *host = "";
		size_t hl = 0;

		for (unsigned i = 0; i < m->nb_hdrs; i++)
			if (m->hdrs[i].name.len == 4 && !strncasecmp(base + m->hdrs[i].name.ofs, "host", 4)) {
				host = base + m->hdrs[i].value.ofs;
				hl = m->hdrs[i].value.len;
				break;
			}
		if ((size_t)n + 3 + hl + ul > sizeof(loc))
			return -1;
		memcpy(loc + n, "://", 3);
		memcpy(loc + n + 3, host, hl);
		memcpy(loc + n + 3 + hl, u, ul);
		n += (long)(3 + hl + ul);
	}
	len = asprintf(&out, "HTTP/1.1 %d %s\r\nLocation: %.*s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	               r->status, h1_reason(r->status), (int)n, loc);
	if (len < 0)
		return -1;
	st_set_reply(s, out, (size_t)len);
	return 0;
}

/* Returns the backend the use_backend rules of <rs> pick, or NULL. */
static struct backend *pick_backend(struct stream *s, const struct cfg_rules *rs, struct acl_ctx *ctx)
{
	struct engine *e = s->tc->eng;

	for (unsigned i = 0; i < rs->nb_ub; i++) {
		const struct cfg_use_backend *ub = &rs->ub[i];
		char tmp[1024];
		const char *v;
		size_t l;
		long idx;
		const struct map *mp;

		if (!acl_cond_eval(ub->cond, ctx))
			continue;
		if (ub->name)
			return e->bes[ub->backend_idx];
		if (!sample_eval(ub->dyn, ctx, tmp, sizeof(tmp), &v, &l, &idx))
			continue;
		if ((mp = sample_map(ub->dyn))) {
			int bi = idx >= 0 ? map_ref(mp, idx) : ub->dyn_default_idx;

			if (bi >= 0)
				return e->bes[bi];
			continue;
		}
		/* a name computed per request: only HTTP backends with
		 * servers may take it, as the load-time checks ensure for
		 * named ones */
		for (unsigned b = 0; b < e->nb_bes; b++) {
			const struct cfg_backend *bc = e->bes[b]->cfg;

			if (strlen(bc->name) == l && !memcmp(bc->name, v, l) && bc->mode == CFG_MODE_HTTP &&
			    bc->nb_servers)
				return e->bes[b];
		}
	}
	return NULL;
}

/* Runs the http-request rules of <rs> in order on request <m> (head at the
 * start of <b>). Returns RULES_PASS when every rule passed or edited, else
 * the verdict of the rule that ended the request here. */
static enum rules_verdict run_req_rules(struct stream *s, const struct cfg_rules *rs,
                                        struct acl_ctx *ctx, struct h1_msg *m, struct buf *b)
{
	for (unsigned i = 0; i < rs->nb_req; i++) {
		const struct cfg_http_rule *r = &rs->req[i];

		if (!acl_cond_eval(r->cond, ctx))
			continue;
		switch (r->act) {
		case HA_DENY:
			s->be = NULL;
			s->rule_status = r->status;
			return RULES_ANSWER;
		case HA_USE_SERVICE:
			s->be = NULL;
			s->svc_pick = r->svc_idx;
			return RULES_SERVICE;
		case HA_RETURN:
		case HA_REDIRECT:
			s->be = NULL;
			s->rule_status = r->status;
			if ((r->act == HA_RETURN ? rule_return(s, r, ctx)
			                         : rule_redirect(s, r, ctx, m, b_head(b))) < 0)
				return RULES_FAIL;
			return RULES_ANSWER;
		default:
			if (rule_edit(s, r, ctx, m, b) < 0)
				return RULES_FAIL;
			ctx->base = b_head(b);
			/* CONNECT was refused before the rules ran, for the
			 * same reason: no tunnel to offer */
			if (m->meth == H1_M_CONNECT)
				return RULES_FAIL;
			s->req_meth = m->meth;
			break;
		}
	}
	return RULES_PASS;
}

/* Returns the rules of the backend <s> goes to when they are its own: a
 * listen routing to itself has one set of rules, run once as the
 * frontend's (HAProxy runs a proxy's rules once per request too). */
static const struct cfg_rules *be_rules(const struct stream *s)
{
	const struct cfg_rules *rs = s->be ? s->be->cfg->rules : NULL;

	return rs && rs != s->fe->cfg->rules ? rs : NULL;
}

/* Adds the frontend's unique-id-header with the request's id to <m> (head
 * at the start of <b>). Returns 0, or -1 when it does not fit. */
static int rules_uid_header(struct stream *s, struct h1_msg *m, struct buf *b)
{
	const struct cfg_frontend *fc = s->fe->cfg;
	struct hedit ed = { .act = HA_ADD_HDR, .name = fc->uid_hdr, .nlen = strlen(fc->uid_hdr),
	                    .val = s->uid, .vlen = s->uid_len };
	size_t tail = b_data(b) - m->head_len;

	if (head_edit(m, b_head(b), b->size, tail, &ed, s->tc->trash, s->tc->eng->cfg->g.bufsize) < 0)
		return -1;
	b->data = m->head_len + tail;
	return 0;
}

enum rules_verdict rules_request(struct stream *s, struct h1_msg *m, struct buf *b)
{
	const struct cfg_frontend *fc = s->fe->cfg;
	const struct cfg_rules *rs = fc->rules, *brs;
	struct acl_ctx ctx;
	enum rules_verdict v;
	struct backend *be;

	s->be = s->fe->be;
	/* a frontend may hold only errorfiles (inherited from defaults, say):
	 * nothing then runs on the request */
	if ((!rs || (!rs->nb_req && !rs->nb_ub)) && !be_rules(s) && !fc->uid_fmt)
		return RULES_PASS;
	rules_ctx(s, m, b_head(b), &ctx);
	/* the id exists before any rule runs, so that rules and the log
	 * see the same one */
	if (fc->uid_fmt)
		rules_unique_id(s, &ctx);
	if (rs) {
		if ((v = run_req_rules(s, rs, &ctx, m, b)) != RULES_PASS)
			return v;
		be = pick_backend(s, rs, &ctx);
		if (be)
			s->be = be;
	}
	/* the chosen backend's own rules come last, as in HAProxy: they
	 * see the request as the frontend's rules left it */
	if ((brs = be_rules(s)) && brs->nb_req &&
	    (v = run_req_rules(s, brs, &ctx, m, b)) != RULES_PASS) {
		if (v == RULES_ANSWER)
			s->be = NULL;
		return v;
	}
	/* added after every rule, as HAProxy does: rules cannot edit it */
	if (fc->uid_hdr && s->uid_len && rules_uid_header(s, m, b) < 0)
		return RULES_FAIL;
	return RULES_PASS;
}

int rules_forwardfor(struct stream *s, struct h1_msg *m, struct buf *b, const char **xff)
{
	const struct cfg_fwd *f = s->be && s->be->cfg->forwardfor ? &s->be->cfg->fwd :
	                          s->fe->cfg->forwardfor ? &s->fe->cfg->fwd : NULL;
	struct hedit ed = { .act = HA_ADD_HDR };
	int fam;
	uint8_t a[16];
	unsigned bits;
	size_t tail;

	*xff = NULL;
	if (!f || !s->cli_addr[0])
		return 0;
	if (f->except && acl_parse_net(s->cli_addr, &fam, a, &bits) == 0 &&
	    acl_net_match(fam, a, f->fam, f->net, f->bits))
		return 0;
	if (!f->hdr || !strcasecmp(f->hdr, "x-forwarded-for")) {
		*xff = s->cli_addr;
		return 0;
	}
	ed.name = f->hdr;
	ed.nlen = strlen(f->hdr);
	ed.val = s->cli_addr;
	ed.vlen = strlen(s->cli_addr);
	tail = b_data(b) - m->head_len;
	if (head_edit(m, b_head(b), b->size, tail, &ed, s->tc->trash, s->tc->eng->cfg->g.bufsize) < 0)
		return -1;
	b->data = m->head_len + tail;
	return 0;
}

/* Runs the http-response rules of <rs> on response <m>. Returns 0, or -1
 * when an edit did not fit. */
static int run_rsp_rules(struct stream *s, const struct cfg_rules *rs, struct acl_ctx *ctx,
                         struct h1_msg *m, struct buf *b)
{
	for (unsigned i = 0; i < rs->nb_rsp; i++) {
		const struct cfg_http_rule *r = &rs->rsp[i];

		if (!acl_cond_eval(r->cond, ctx))
			continue;
		if (rule_edit(s, r, ctx, m, b) < 0)
			return -1;
		ctx->base = b_head(b);
	}
	return 0;
}

int rules_response(struct stream *s, struct h1_msg *m, struct buf *b)
{
	const struct cfg_rules *rs = s->fe->cfg->rules, *brs = be_rules(s);
	struct acl_ctx ctx;

	if ((!rs || !rs->nb_rsp) && (!brs || !brs->nb_rsp))
		return 0;
	rules_ctx(s, m, b_head(b), &ctx);
	/* the backend's first, then the frontend's: the reverse of the
	 * request's order, as in HAProxy */
	if (brs && run_rsp_rules(s, brs, &ctx, m, b) < 0)
		return -1;
	if (rs && run_rsp_rules(s, rs, &ctx, m, b) < 0)
		return -1;
	return 0;
}

size_t rules_reply(struct stream *s, int status, char *dst, size_t room)
{
	const struct cfg_rules *rs = s->fe->cfg->rules;
	size_t len = 0;

	if (s->reply_msg) {
		if (s->reply_len <= room) {
			memcpy(dst, s->reply_msg, s->reply_len);
			len = s->reply_len;
		}
		free(s->reply_msg);
		s->reply_msg = NULL;
		return len;
	}
	for (unsigned i = 0; rs && i < rs->nb_ef; i++)
		if (rs->ef[i].status == status && rs->ef[i].len <= room) {
			memcpy(dst, rs->ef[i].msg, rs->ef[i].len);
			return rs->ef[i].len;
		}
	return 0;
}

int rules_hdr_edit(struct stream *s, struct h1_msg *m, struct buf *b, enum cfg_http_act act,
                   const char *name, size_t nlen, const char *val, size_t vlen)
{
	struct hedit ed = { .act = act, .name = name, .nlen = nlen, .val = val, .vlen = vlen };
	size_t tail = b_data(b) - m->head_len;

	if (head_edit(m, b_head(b), b->size, tail, &ed, s->tc->trash, s->tc->eng->cfg->g.bufsize) < 0)
		return -1;
	b->data = m->head_len + tail;
	return 0;
}

void rules_target_split(const char *u, size_t len, size_t *path, size_t *q)
{
	target_split(u, len, path, q);
}

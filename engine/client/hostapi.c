/* hostapi.c - the request view, the request hook and the completion hook
 * of sluice.h, over a stream's parsed request head (see hostapi.h).
 *
 * The view is a few pointers on the stack of the stream that calls the
 * hook: the head stays where it was received, reads are spans into it, and
 * edits rewrite it in place through rules_hdr_edit(), the rules' own
 * rewrite, so the hook costs no allocation unless it answers itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "engine/client/hostapi.h"
#include "engine/client/rules.h"
#include "engine/client/stream_int.h"

/* ---- reading ---- */

static inline const char *req_base(const struct sluice_req *r) { return b_head(r->b); }

static struct sluice_str req_span(const struct sluice_req *r, struct h1_span sp)
{
	return (struct sluice_str){ req_base(r) + sp.ofs, sp.len };
}

struct sluice_str sluice_req_method(const struct sluice_req *r) { return req_span(r, r->m->method); }
struct sluice_str sluice_req_uri(const struct sluice_req *r) { return req_span(r, r->m->uri); }

struct sluice_str sluice_req_path(const struct sluice_req *r)
{
	struct sluice_str u = sluice_req_uri(r);
	size_t p, q;

	rules_target_split(u.ptr, u.len, &p, &q);
	return (struct sluice_str){ u.ptr + p, q - p };
}

struct sluice_str sluice_req_query(const struct sluice_req *r)
{
	struct sluice_str u = sluice_req_uri(r);
	size_t p, q;

	rules_target_split(u.ptr, u.len, &p, &q);
	return q < u.len ? (struct sluice_str){ u.ptr + q + 1, u.len - q - 1 }
	                 : (struct sluice_str){ u.ptr + u.len, 0 };
}

int sluice_req_http_version(const struct sluice_req *r)
{
	/* an HTTP/2 stream reaches the stream as HTTP/1.1 wire format, on
	 * an endpoint that is not a connection of its own */
	return r->s->cli ? r->m->version : 20;
}

const char *sluice_req_client_addr(const struct sluice_req *r) { return r->s->cli_addr; }
unsigned sluice_req_client_port(const struct sluice_req *r) { return r->s->cli_port; }
const char *sluice_req_frontend(const struct sluice_req *r) { return r->s->fe->cfg->name; }

int sluice_req_header(const struct sluice_req *r, const char *name, int from, struct sluice_str *value)
{
	int i = from < 0 ? -1 : h1_find_hdr(r->m, req_base(r), name, from);

	if (i >= 0 && value)
		*value = req_span(r, r->m->hdrs[i].value);
	return i;
}

unsigned sluice_req_header_count(const struct sluice_req *r) { return r->m->nb_hdrs; }

int sluice_req_header_at(const struct sluice_req *r, unsigned i, struct sluice_str *name,
			 struct sluice_str *value)
{
	if (i >= r->m->nb_hdrs)
		return -1;
	if (name)
		*name = req_span(r, r->m->hdrs[i].name);
	if (value)
		*value = req_span(r, r->m->hdrs[i].value);
	return 0;
}

/* ---- deciding ---- */

/* Returns non-zero when <name> is an HTTP token the host may edit or
 * send: not one that frames the body (both peers must keep agreeing on
 * where it ends) nor Connection (the engine decides the connection's life). */
static int hdr_name_ok(const char *name)
{
	if (!name || !*name)
		return 0;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("!#$%&'*+-.^_`|~", *c)))
			return 0;
	return strcasecmp(name, "content-length") && strcasecmp(name, "transfer-encoding") &&
	       strcasecmp(name, "connection");
}

/* Returns non-zero when <v> holds no control character but tabs. */
static int hdr_value_ok(const char *v)
{
	if (!v)
		return 0;
	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
			return 0;
	return 1;
}

/* Returns whether the hook may still change the request. */
static enum sluice_result req_writable(const struct sluice_req *r)
{
	if (r->read_only || r->answered || r->svc_idx >= 0)
		return SLUICE_E_STATE;
	return r->failed ? SLUICE_E_NOROOM : SLUICE_OK;
}

/* One header edit through the rules' rewrite, within the hook's share of
 * tune.maxrewrite. */
static enum sluice_result req_edit(struct sluice_req *r, enum cfg_http_act act, const char *name,
				   const char *value)
{
	struct stream *s = r->s;
	size_t vlen = value ? strlen(value) : 0;
	size_t room = s->tc->eng->cfg->g.maxrewrite / 2;
	enum sluice_result w = req_writable(r);

	if (w != SLUICE_OK)
		return w;
	if (!hdr_name_ok(name) || (act != HA_DEL_HDR && !hdr_value_ok(value)))
		return SLUICE_E_INVALID;
	/* the growth bound is checked before the rewrite, which would
	 * otherwise eat the room the engine's own headers need */
	if (act != HA_DEL_HDR && r->m->head_len + strlen(name) + vlen + 4 > r->head0 + room) {
		r->failed = 1;
		return SLUICE_E_NOROOM;
	}
	if (rules_hdr_edit(s, r->m, r->b, act, name, strlen(name), value, vlen) < 0) {
		r->failed = 1;
		return SLUICE_E_NOROOM;
	}
	return SLUICE_OK;
}

enum sluice_result sluice_req_set_header(struct sluice_req *r, const char *name, const char *value)
{
	return req_edit(r, HA_SET_HDR, name, value);
}

enum sluice_result sluice_req_add_header(struct sluice_req *r, const char *name, const char *value)
{
	return req_edit(r, HA_ADD_HDR, name, value);
}

enum sluice_result sluice_req_del_header(struct sluice_req *r, const char *name)
{
	return req_edit(r, HA_DEL_HDR, name, NULL);
}

enum sluice_result sluice_req_use_backend(struct sluice_req *r, const char *name)
{
	struct engine *e = r->s->tc->eng;
	enum sluice_result w = req_writable(r);

	if (w != SLUICE_OK)
		return w;
	for (unsigned i = 0; name && i < e->nb_bes; i++) {
		const struct cfg_backend *bc = e->bes[i]->cfg;

		/* the same backends a use_backend computed per request may take */
		if (!strcmp(bc->name, name) && bc->mode == CFG_MODE_HTTP && bc->nb_servers) {
			r->s->be = e->bes[i];
			return SLUICE_OK;
		}
	}
	return SLUICE_E_NOTFOUND;
}

enum sluice_result sluice_req_use_service(struct sluice_req *r, const char *name)
{
	int idx;
	enum sluice_result w = req_writable(r);

	if (w != SLUICE_OK)
		return w;
	idx = name ? host_service_find(&r->s->tc->eng->host, name, strlen(name)) : -1;
	if (idx < 0)
		return SLUICE_E_NOTFOUND;
	r->svc_idx = idx;
	return SLUICE_OK;
}

enum sluice_result sluice_req_answer(struct sluice_req *r, int status, const struct sluice_header *hdrs,
				     unsigned nb, const void *body, size_t len)
{
	struct stream *s = r->s;
	size_t need = 128 + len;
	enum sluice_result w = req_writable(r);
	char *out, *p;

	if (w != SLUICE_OK)
		return w;
	if (status < 200 || status > 599 || (len && !body))
		return SLUICE_E_INVALID;
	for (unsigned i = 0; i < nb; i++) {
		if (!hdr_name_ok(hdrs[i].name) || !hdr_value_ok(hdrs[i].value))
			return SLUICE_E_INVALID;
		need += strlen(hdrs[i].name) + strlen(hdrs[i].value) + 4;
	}
	out = malloc(need);
	if (!out)
		return SLUICE_E_NOMEM;
	/* the same shape as a `return` rule's answer, which the stream sends
	 * and then closes */
	p = out + sprintf(out, "HTTP/1.1 %d %s\r\n", status, h1_reason(status));
	for (unsigned i = 0; i < nb; i++)
		p += sprintf(p, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
	p += sprintf(p, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
	if (len)
		memcpy(p, body, len);
	st_set_reply(s, out, (size_t)(p - out) + len);
	s->rule_status = status;
	r->answered = 1;
	return SLUICE_OK;
}

/* Turns what the hook returned into what the stream does. */
static enum host_verdict host_decide(struct stream *s, const struct sluice_req *r, enum sluice_verdict v)
{
	if (r->failed)
		return HOST_FAIL;
	switch (v) {
	case SLUICE_PASS:
		return HOST_PASS;
	case SLUICE_ANSWER:
		if (!r->answered)
			return HOST_FAIL;
		s->be = NULL;
		return HOST_ANSWER;
	case SLUICE_SERVICE:
		if (r->svc_idx < 0)
			return HOST_FAIL;
		s->be = NULL;
		s->svc_pick = r->svc_idx;
		return HOST_SERVICE;
	}
	return HOST_FAIL; /* a value the enum does not have */
}

enum host_verdict hostapi_request(struct stream *s, struct h1_msg *m, struct buf *b)
{
	const struct eng_host *h = &s->tc->eng->host;
	struct sluice_req r = { .s = s, .m = m, .b = b, .head0 = m->head_len, .svc_idx = -1 };
	enum host_verdict hv;

	if (!h->req_fn)
		return HOST_PASS;
	hv = host_decide(s, &r, h->req_fn(&r, h->req_arg));
	/* an answer prepared but not chosen must not stand in for a later
	 * error message of this transaction (rules_reply sends what is there) */
	if (hv != HOST_ANSWER && s->reply_msg) {
		free(s->reply_msg);
		s->reply_msg = NULL;
	}
	return hv;
}

/* ---- completion ---- */

#define HOST_LOG_COPY(type, name, what) pub.name = r->name;

void hostapi_complete(const struct stream *s, const struct log_rec *r)
{
	const struct eng_host *h = &s->tc->eng->host;
	struct sluice_log pub;

	if (!h->done_fn)
		return;
	SLUICE_LOG_FIELDS(HOST_LOG_COPY)
	pub.term[0] = log_term_cause_char(r->cause);
	pub.term[1] = log_term_state_char(r->state);
	pub.term[2] = 0;
	h->done_fn(&pub, h->done_arg);
}

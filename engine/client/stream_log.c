/* stream_log.c - the access-log line of a stream's transactions.
 *
 * The record is filled as the transaction goes (timings, server, why it
 * ended) and written once when it ends; nothing here takes a pool buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/client/hostapi.h"
#include "engine/client/stream_int.h"

/* Longest "METHOD URI" kept: what a log line can hold, so that log_emit()
 * marks a longer URI as cut. */
#define STREAM_LOG_REQ_MAX LOG_LINE_MAX

/* Returns where the transaction of <s> stands, for the log. */
static enum log_term_state stream_log_state(const struct stream *s)
{
	switch (s->st) {
	case ST_REQ_HEAD: return LOG_TS_REQUEST;
	case ST_ASSIGN:
	case ST_QUEUED: return LOG_TS_QUEUE;
	case ST_CONNECT: return LOG_TS_CONNECT;
	/* a request body still on its way is data, as in HAProxy */
	case ST_FORWARD: return (s->rsp_started || s->req.st == CH_BODY) ? LOG_TS_DATA : LOG_TS_HEADERS;
	default: return LOG_TS_LAST;
	}
}

/* Keeps "METHOD URI" for the log line: the method cut at 64 bytes, the
 * whole cut at STREAM_LOG_REQ_MAX. Without memory the line shows "- -". */
static void stream_log_keep_req(struct stream *s, const char *meth, size_t ml,
				const char *uri, size_t ul)
{
	if (!s->log_req)
		s->log_req = malloc(STREAM_LOG_REQ_MAX);
	if (!s->log_req)
		return;
	if (ml > 64)
		ml = 64;
	if (ul > STREAM_LOG_REQ_MAX - ml)
		ul = STREAM_LOG_REQ_MAX - ml;
	memcpy(s->log_req, meth, ml);
	memcpy(s->log_req + ml, uri, ul);
	s->log_meth_len = ml;
	s->log_req_len = ml + ul;
}

/* Returns the length of the first word of p[0..len): up to a space or a
 * line end. */
static size_t stream_log_word(const char *p, size_t len)
{
	size_t i = 0;

	while (i < len && p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
		i++;
	return i;
}

/* Starts the log record of a transaction whose head was just parsed into
 * <m> from the <len> bytes at <base>. When the head was rejected (<m> is
 * NULL), what can be read of its request line is kept instead, so that
 * an operator sees what was refused; no bytes at all (<base> NULL) give
 * "- -". The log escapes whatever bytes it is given. */
void stream_log_begin(struct stream *s, const struct h1_msg *m, const char *base, size_t len)
{
	size_t ml, skip;

	/* the completion hook gets the same record as the log line */
	if (!s->tc->eng->log && !s->tc->eng->host.done_fn)
		return;
	s->log_pending = 1;
	s->log_status = -1;
	s->log_cause = LOG_TC_NONE;
	s->log_state = LOG_TS_NONE;
	s->log_tq = s->log_tc = s->log_tr = -1;
	s->log_srv = NULL;
	s->log_req_len = s->log_meth_len = 0;
	if (m) {
		stream_log_keep_req(s, base + m->method.ofs, m->method.len, base + m->uri.ofs, m->uri.len);
		return;
	}
	if (!base)
		return;
	/* the empty lines a request may start with are not part of it */
	while (len && (*base == '\r' || *base == '\n'))
		base++, len--;
	ml = stream_log_word(base, len);
	if (!ml)
		return;
	skip = ml < len && base[ml] == ' ' ? ml + 1 : ml;
	stream_log_keep_req(s, base, ml, base + skip, stream_log_word(base + skip, len - skip));
}

/* Records why the transaction is ending early (the first reason wins). */
void stream_log_term(struct stream *s, enum log_term_cause cause)
{
	if (s->log_pending && s->log_cause == LOG_TC_NONE) {
		s->log_cause = cause;
		s->log_state = stream_log_state(s);
	}
}

/* Writes the line of the transaction that ended, once. */
void stream_log(struct stream *s)
{
	struct engine *e = s->tc->eng;
	uint64_t now = tc_now(s->tc), tt = now - s->txn_start_ms;
	struct timespec ts;
	struct log_rec r;

	if (!s->log_pending)
		return;
	s->log_pending = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	r = (struct log_rec){
		.client_addr = s->cli_addr, .client_port = s->cli_port,
		.start_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - tt,
		.frontend = s->fe->cfg->name,
		.backend = s->be ? s->be->cfg->name : NULL,
		.server = s->log_srv ? s->log_srv->cfg->name : NULL,
		.status = s->log_status,
		.bytes_in = s->bytes_in - s->log_in0, .bytes_out = s->bytes_out - s->log_out0,
		.tq_ms = s->log_tq, .tw_ms = (int64_t)s->log_tw, .tc_ms = s->log_tc,
		.tr_ms = s->log_tr, .tt_ms = (int64_t)tt,
		.cause = s->log_cause, .state = s->log_state,
		.method = s->log_req, .method_len = s->log_meth_len,
		.uri = s->log_req ? s->log_req + s->log_meth_len : NULL,
		.uri_len = s->log_req_len - s->log_meth_len,
		.uid = s->fe->cfg->uid_fmt ? (s->uid_len ? s->uid : "") : NULL,
		.uid_len = s->uid_len,
	};
	log_emit(e->log, &r);
	hostapi_complete(s, &r);
	s->log_in0 = s->bytes_in;
	s->log_out0 = s->bytes_out;
	s->log_tw = 0;
}


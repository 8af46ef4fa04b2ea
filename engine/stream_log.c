/* stream_log.c - the access-log line of a stream's transactions.
 *
 * The record is filled as the transaction goes (timings, server, why it
 * ended) and written once when it ends; nothing here takes a pool buffer.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/stream_int.h"

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

/* Starts the log record of a transaction whose head was just parsed into
 * <m> (NULL when there is no valid head). */
void stream_log_begin(struct stream *s, const struct h1_msg *m, const char *base)
{
	if (!s->tc->eng->log)
		return;
	s->log_pending = 1;
	s->log_status = -1;
	s->log_cause = LOG_TC_NONE;
	s->log_state = LOG_TS_NONE;
	s->log_tq = s->log_tc = s->log_tr = -1;
	s->log_srv = NULL;
	s->log_req_len = s->log_meth_len = 0;
	if (!m)
		return;
	if (!s->log_req)
		s->log_req = malloc(STREAM_LOG_REQ_MAX);
	if (s->log_req) {
		size_t ml = m->method.len < 64 ? m->method.len : 64;
		size_t ul = m->uri.len < STREAM_LOG_REQ_MAX - ml ? m->uri.len : STREAM_LOG_REQ_MAX - ml;

		memcpy(s->log_req, base + m->method.ofs, ml);
		memcpy(s->log_req + ml, base + m->uri.ofs, ul);
		s->log_meth_len = ml;
		s->log_req_len = ml + ul;
	}
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
	};
	log_emit(e->log, &r);
	s->log_in0 = s->bytes_in;
	s->log_out0 = s->bytes_out;
	s->log_tw = 0;
}


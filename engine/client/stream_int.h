/* stream_int.h - the stream's private types, shared by the files that
 * make up a stream: stream.c (transactions), stream_log.c (its access log
 * line), stats_applet.c (the stats page it can answer with), rules.c
 * (the frontend's request rules) and stream_splice.c (bodies through
 * pipes). Nothing outside these files includes it.
 */
#ifndef SLUICE_ENGINE_STREAM_INT_H
#define SLUICE_ENGINE_STREAM_INT_H

#include <netinet/in.h>
#include <stdlib.h>
#include "engine/server/backend.h"
#include "engine/core/log.h"
#include "engine/core/pipe.h"
#include "engine/client/stats.h"
#include "engine/client/stream.h"

/* Channel states. */
enum ch_state {
	CH_HEAD = 0, /* expecting a message head */
	CH_BODY,     /* forwarding a body whose end the framing will tell */
	CH_DONE,     /* the message ended; bytes past <fwd> belong to the next */
	CH_TUNNEL,   /* forwarding everything until EOF */
	CH_SPLICE,   /* the rest of a known-length (or close-delimited response)
	              * body moves socket to pipe to socket, no buffer; the bytes
	              * already in the buffer (head, first body bytes) leave
	              * first. Ends in CH_DONE once the body is in and the pipe
	              * drained (stream_splice.c) */
};

struct chan {
	struct buf buf;
	struct pool_wait wait;
	size_t fwd;             /* analysed bytes at the head that may leave */
	uint64_t wait_since;    /* when it started waiting for a buffer (log Tw) */
	size_t head_scan;       /* h1_head_end()'s resume point in the head being
	                         * received: a trickled head costs O(total), not a
	                         * full parse per read */
	enum ch_state st;
	struct h1_body body;
	struct pipe_pair *pipe; /* CH_SPLICE: the channel's pipe, else NULL */
};

/* Stream states. */
enum st_state {
	ST_REQ_HEAD = 0, /* waiting for / parsing a request head */
	ST_ASSIGN,       /* needs a server slot */
	ST_QUEUED,       /* waiting in a server or backend queue */
	ST_CONNECT,      /* connecting to the server */
	ST_FORWARD,      /* request and response flowing */
	ST_REPLY,        /* waiting for a buffer to build a reply of our own */
	ST_CLOSING,      /* flushing a last response, then closing */
	ST_LINGER,       /* answer sent and our side shut: discarding what the
	                  * client still sends until it closes, so that closing
	                  * does not turn into a reset that destroys the answer */
};

/* What a step of the state machine (one function per state) asks for. */
enum st_step {
	STEP_WAIT = 0,   /* nothing more until an event or the timer */
	STEP_AGAIN,      /* the state changed or may progress: run again */
	STEP_GONE,       /* the stream was freed or handed over: stop touching it */
};

/* The result of parsing a message head. */
enum parse_res {
	PARSE_WAIT = 0,     /* more bytes needed (or an interim answer passed) */
	PARSE_READY,        /* parsed and rewritten: the transaction goes on */
	PARSE_ANSWERED,     /* the stream answers by itself (error, stats page) */
	PARSE_HANDED_OVER,  /* the connection went to HTTP/2: the stream is gone */
};

/* An answer of our own, built in ST_REPLY. */
enum st_reply {
	REPLY_NONE = 0,
	REPLY_ERROR,     /* an error message (reply_status) */
	REPLY_STATS,     /* the stats page, filled by the applet as it drains */
};

struct stream {
	/* The task comes first: the scheduler frees a killed task with free(),
	 * which therefore frees the whole stream. */
	struct task task;
	struct thr_ctx *tc;
	struct frontend *fe;
	struct backend *be;
	struct mux_ep *cep;      /* client side endpoint (an HTTP/1 connection or an HTTP/2 stream) */
	struct conn *cli;        /* the client connection when HTTP/1, else NULL */
	struct mux_ep *sep;      /* server side endpoint (an HTTP/1 connection or an HTTP/2 stream) */
	struct conn *srv;        /* the server connection when HTTP/1, else NULL */
	struct tasklet *io;      /* byte moving on buffer hand-offs and endpoint events */
	struct chan req, res;
	struct qent qe;
	struct server *target;   /* server whose slot we hold, or NULL */
	struct server *avoid;    /* server to avoid on redispatch */
	struct eng_list link;
	enum st_state st;
	int retries_left;
	int txn_active;          /* a request head was parsed and not yet answered */
	int txn_count;           /* transactions on this connection so far */
	int cli_close;           /* close the client after this transaction */
	int srv_keepalive;       /* the server connection may be reused */
	int srv_reused;
	int rsp_started;         /* response bytes were (or are being) sent */
	int owns_conn;           /* the stream is its client connection's only user */
	stream_h2_preface_fn on_h2_preface; /* who takes the connection over when
	                          * it opens with the HTTP/2 preface; NULL: nobody */
	int req_cut;             /* we stopped reading a request before its end */
	int in_maxstreams;       /* counted in the engine's maxstreams count */
	uint64_t linger_until;   /* ST_LINGER: when to close anyway */
	enum st_reply reply;     /* the answer of our own this transaction gets */
	int reply_status;        /* its status when it is an error message */
	int rule_status;         /* status of an answer a rule chose (rules.c) */
	int svc_pick;            /* the host service use-service or the request
	                          * hook chose (index in the engine's services) */
	struct sluice_svc *svc;  /* the service answering this transaction (it
	                          * stands where a server would), or NULL */
	char *reply_msg;         /* the whole answer a rule prepared (return,
	                          * redirect), or NULL: taken by rules_reply() */
	size_t reply_len;
	char *uid;               /* unique-id buffer (CFG_UNIQUE_ID_MAX), made on the
	                          * first request of a frontend with a unique-id-format */
	size_t uid_len;          /* this transaction's id, 0: none yet */
	enum h1_meth req_meth;
	int req_version;
	uint64_t txn_start_ms, queue_start_ms, connect_start_ms;
	uint64_t cli_act_ms, srv_act_ms;
	uint64_t moved;          /* bytes received + sent, to see progress */
	char cli_addr[INET6_ADDRSTRLEN];
	unsigned cli_port;
	int stats_fmt;           /* enum statspage_fmt of a stats request */
	int stats_admin;         /* `stats admin` holds for this request */
	int stats_post;          /* enum stats_post: an admin POST's result, answered 303 */
	int stats_shown;         /* enum stats_post the page's ";st=" names, shown on it */
	struct statspage_data *sp;       /* stats snapshot being sent, or NULL */
	struct statspage_cursor sp_cur;  /* where sending it stands */
	/* access log of the current transaction (stream_log) */
	int log_pending;         /* a transaction awaits its line */
	int log_status;          /* status sent to the client, -1 none */
	enum log_term_cause log_cause;
	enum log_term_state log_state;
	int64_t log_tq, log_tc, log_tr; /* ms, -1: not reached */
	uint64_t log_tw;         /* ms waited for buffers */
	uint64_t log_fwd_ms;     /* when the server connection was ready */
	uint64_t bytes_in, bytes_out, log_in0, log_out0;
	struct server *log_srv;
	char *log_req;           /* "METHOD URI" captured at parse time, or NULL */
	char *req_upgrade;       /* the request's Upgrade list when it asked to
	                          * switch protocols, else NULL: a 101 must pick
	                          * from it */
	size_t log_meth_len, log_req_len;
};

static inline struct pool *st_pool(const struct stream *s) { return s->tc->eng->pool; }
static inline const struct cfg_timeouts *fe_to(const struct stream *s) { return &s->fe->cfg->t; }
static inline const struct cfg_timeouts *be_to(const struct stream *s)
{
	return s->be ? &s->be->cfg->t : &s->fe->cfg->t;
}

/* Makes <msg> (<len> bytes, malloc'ed, now the stream's) the whole answer
 * this transaction gets instead of a server's, replacing one prepared
 * before (rules' return and redirect, a request hook's answer). */
static inline void st_set_reply(struct stream *s, char *msg, size_t len)
{
	free(s->reply_msg);
	s->reply_msg = msg;
	s->reply_len = len;
}

/* Accounts <n> bytes just received from <ep> (buffer or pipe alike): the
 * stream's progress, the client's byte counters, and the activity stamp
 * that the side's timeout runs from. */
static inline void st_note_rcvd(struct stream *s, const struct mux_ep *ep, size_t n)
{
	s->moved += n;
	if (!n)
		return;
	if (ep == s->cep) {
		CNT_ADD(s->tc, bytes_in, n);
		s->bytes_in += n;
		s->cli_act_ms = tc_now(s->tc);
	} else {
		s->srv_act_ms = tc_now(s->tc);
	}
}

/* The same for <n> bytes just sent to <ep>. */
static inline void st_note_sent(struct stream *s, const struct mux_ep *ep, size_t n)
{
	s->moved += n;
	if (!n)
		return;
	if (ep == s->cep) {
		CNT_ADD(s->tc, bytes_out, n);
		s->bytes_out += n;
		s->cli_act_ms = tc_now(s->tc);
	} else {
		s->srv_act_ms = tc_now(s->tc);
	}
}

/* stream.c */

/* Makes sure <ch> has a buffer to receive into. Returns 1 if it has one,
 * 0 if the direction is paused waiting for one. */
int chan_get_buf(struct stream *s, struct chan *ch);

/* Gives the channel's buffer back if it holds no data. */
void chan_release_if_empty(struct stream *s, struct chan *ch);

/* stream_splice.c */

/* Moves <ch>, whose head was just parsed (response) or whose server
 * connection was just established (request), from CH_BODY to CH_SPLICE
 * when splicing applies: `option splice-*` of its frontend or backend asks
 * for that direction, the body has a known length left (or the response is
 * close-delimited), and both sides are plain TCP HTTP/1 connections. Takes
 * a pipe; none to be had: stays CH_BODY (buffers), never waits. */
void chan_splice_start(struct stream *s, struct chan *ch);

/* CH_SPLICE: moves body bytes from endpoint <ep> into the channel's pipe.
 * Returns non-zero when the stream must look (body all in, EOF, error). */
int chan_splice_rx(struct stream *s, struct chan *ch, struct mux_ep *ep);

/* CH_SPLICE, the buffer drained: sends the pipe to endpoint <ep>, and once
 * the whole body went, returns the pipe and moves to CH_DONE. Returns
 * non-zero when the stream must look (message finished, socket failed). */
int chan_splice_tx(struct stream *s, struct chan *ch, struct mux_ep *ep);

/* Gives the channel's pipe back (closed if it still holds data: an
 * aborted transfer). */
void chan_splice_drop(struct stream *s, struct chan *ch);

/* CH_SPLICE response whose server closed: a close-delimited body ends
 * there; a known length cut short is logged as a server abort and the
 * client is closed once what was received left. */
void chan_splice_srv_eof(struct stream *s);

/* Returns non-zero when <ch> holds body bytes in its pipe. */
static inline int chan_splice_pending(const struct chan *ch)
{
	return ch->pipe && ch->pipe->data;
}

/* stream_log.c */

/* Starts the log record of a transaction whose head was just parsed into
 * <m> from the <len> bytes at <base>; <m> NULL when the head was rejected
 * (its request line is logged as far as it can be read), <base> NULL when
 * no byte of it was read. */
void stream_log_begin(struct stream *s, const struct h1_msg *m, const char *base, size_t len);

/* Records why the transaction is ending early (the first reason wins). */
void stream_log_term(struct stream *s, enum log_term_cause cause);

/* Writes the line of the transaction that ended, once. */
void stream_log(struct stream *s);

/* stream.c, for stream_idle.c */

/* Makes a new stream on the kept-alive HTTP/1 client connection <c> that
 * stream_idle parked after <txn_count> transactions (client <peer>:<port>),
 * and runs its I/O for the event that woke the connection. Returns 0, or
 * -1 without memory (nothing changed). */
int stream_unpark(struct thr_ctx *tc, struct frontend *fe, struct conn *c,
		  const char *peer, unsigned port, unsigned txn_count);

/* stream_idle.c */

/* Parks the client connection of stream <s> when <s>
 * holds nothing else (between two keep-alive transactions, no byte of the
 * next one known): the connection then waits in a small holder with the
 * keep-alive timer, and the stream no longer refers to it. Returns 0 when
 * parked (the caller frees the stream), -1 when the stream must stay. */
int stream_idle_park(struct stream *s);

/* Closes every parked connection of thread <tc> (the engine stops: an idle
 * connection has nothing to finish), or, when a reload only retired their
 * generation, closes them within ENG_RETIRE_IDLE_MS unless a request comes. */
void stream_idle_stop_all(struct thr_ctx *tc);

/* stats_applet.c */

/* What a request head means to the stats applet. */
enum stats_match {
	STATS_NONE = 0,  /* not for the stats page: forward it */
	STATS_PAGE,      /* the page, in s->stats_fmt */
	STATS_DENIED,    /* the page, but `stats auth` refused the credentials: 401 */
	STATS_FORBIDDEN, /* a POST to the page that `stats admin` does not allow: 403 */
};

/* What an admin POST did (stats_admin.c); the page it redirects to says. */
enum stats_post {
	STATS_POST_NONE = 0, /* not a POST */
	STATS_POST_DONE, STATS_POST_PART, STATS_POST_NOOP, STATS_POST_ERRP, STATS_POST_EXCD,
};

/* Tells whether the parsed request <m> (its head at <base>) asks for the
 * frontend's stats page or Prometheus URI, and if so in which format
 * (s->stats_fmt): the Prometheus URI gives the Prometheus figures in the
 * format stream_stats_prom_fmt() picks (as does `?prom`); the
 * stats URI gives what its query names (`;json`, `?json`, `;csv`, `?prom`,
 * `?html`), else JSON when the client's Accept asks for it, else HTML. */
enum stats_match stream_stats_match(struct stream *s, const struct h1_msg *m, const char *base);

/* The Prometheus exposition format the request <m> (head at <base>) asks
 * for by its Accept headers: STATSPAGE_OPENMETRICS when it lists
 * application/openmetrics-text (version 1.0.0 or none) with a weight at
 * least that of text/plain, else STATSPAGE_PROM (text 0.0.4). Every
 * endpoint that serves the Prometheus figures decides with this: the
 * Prometheus URI, `?prom` on the stats URI, and the prometheus-exporter
 * service. */
enum statspage_fmt stream_stats_prom_fmt(const struct h1_msg *m, const char *base);

/* stats_admin.c */

/* Returns non-zero when the frontend's `stats admin` condition holds for
 * request <m> (head at <base>) of <s>: the page then offers server
 * controls and accepts their POST. */
int stats_admin_allowed(struct stream *s, const struct h1_msg *m, const char *base);

/* Returns non-zero while the parsed head <m> is an admin POST to the stats
 * page whose small body (bounded, Content-Length only) has not all arrived
 * in the <avail> bytes at <base>, though it fits in <room>: the caller
 * waits for more bytes before it takes the request. */
int stream_stats_body_pending(struct stream *s, const struct h1_msg *m, const char *base, size_t avail,
			      size_t room);

/* Applies the admin POST <m> whose body follows its head at <base>
 * (<avail> bytes there in all). Returns what it did. */
enum stats_post stream_stats_post(struct stream *s, const struct h1_msg *m, const char *base, size_t avail);

/* Applies form body[0..len) ("s=SRV&...&action=ready|drain|maint&b=BE",
 * URL-encoded; b may be "#N", the backend's 1-based index) to the
 * servers of <e> through be_server_set_admin(). Returns what it did. */
enum stats_post stats_admin_post(const struct engine *e, const char *body, size_t len);

/* Returns the name of result <r> ("DONE"...) for the redirect's ";st=",
 * NULL for STATS_POST_NONE; and the result a query q[0..len) names. */
const char *stats_post_name(enum stats_post r);
enum stats_post stats_post_parse_name(const char *q, size_t len);

/* Takes the snapshot of a stats request before the first buffer of its
 * answer. Returns 0, or -1 without memory. */
int stream_stats_render(struct stream *s);

/* Writes the head of the stats answer into the response buffer and the
 * first piece of the page, or the 303 that answers an admin POST.
 * Returns 0, or -1 when the answer does not fit (a 500 then). */
int stream_stats_answer(struct stream *s);

/* Renders the next piece of the page into the response buffer. Returns 1
 * if it added bytes, 0 when it has nothing to do or waits for a buffer. */
int stream_stats_fill(struct stream *s);

#endif /* SLUICE_ENGINE_STREAM_INT_H */

/* hostapi.h - the host API of sluice.h seen from the stream: the request
 * view, the request hook, the completion hook (hostapi.c) and services,
 * the applets the host writes (service.c).
 *
 * Contract
 * --------
 * Everything here runs on the stream's own thread. The request hook runs
 * once per request head, after the frontend's rules chose nothing final;
 * its edits go through the rules' in-place head rewrite (rules.h), so they
 * need no second buffer. A service is the stream's server side: it reads
 * the request body from the request channel and writes the response into
 * the response channel's pool buffer, taken at response level; when the
 * pool refuses, the write says "would block" and the channel's one wait
 * entry is subscribed, and the hand-off wakes the stream, whose byte
 * moving (stream_move) resumes the service.
 */
#ifndef SLUICE_ENGINE_HOSTAPI_H
#define SLUICE_ENGINE_HOSTAPI_H

#include "engine/core/log.h"
#include "mux/h1.h"
#include "pool/buf.h"

struct stream;

/* The request view handed to callbacks (sluice.h's struct sluice_req). */
struct sluice_req {
	struct stream *s;
	struct h1_msg *m;        /* the parsed head; its spans point into <b> */
	struct buf *b;           /* the request buffer, head at its start */
	int read_only;           /* a service's start: no edits, no choices */
	uint32_t head0;          /* head length as received: edits may grow it by
	                          * half of tune.maxrewrite (the rest stays for
	                          * the engine's own headers) */
	int failed;              /* an edit did not fit: the request gets a 500 */
	int answered;            /* sluice_req_answer() prepared s->reply_msg */
	int svc_idx;             /* sluice_req_use_service(), or -1 */
};

/* What the request hook decided, as the stream acts on it. */
enum host_verdict {
	HOST_PASS = 0,      /* forward to s->be */
	HOST_ANSWER,        /* answer s->rule_status with s->reply_msg */
	HOST_SERVICE,       /* hand it to service s->svc_pick */
	HOST_FAIL,          /* an edit did not fit, or the hook asked for an
	                     * answer or service it did not prepare: 500 */
};

/* Runs the engine's request hook, if any, on request <m> (head at the
 * start of <b>) of stream <s>, whose rules passed. */
enum host_verdict hostapi_request(struct stream *s, struct h1_msg *m, struct buf *b);

/* Hands the finished transaction's record <r> to the completion hook, if
 * any. */
void hostapi_complete(const struct stream *s, const struct log_rec *r);

/* ---- services (service.c) ---- */

/* Hands the request <m> (head at the start of <b>, not yet removed) of
 * stream <s> to service <idx>: sets up the applet and calls its start().
 * Returns 0, or -1 when the service refused or memory lacked (the stream
 * answers 500; the applet, if any, stays for svc_detach()). */
int svc_begin(struct stream *s, int idx, struct h1_msg *m, struct buf *b);

/* Lets the service of <s> go on when it may (room after a blocked write,
 * new body bytes, the first call after start). Returns 1 when the stream
 * must look (the answer is complete), else 0. */
int svc_pump(struct stream *s);

/* Ends the service of <s>, if any: its end() runs (aborted unless it
 * finished its answer), the body bytes it did not read are dropped. */
void svc_detach(struct stream *s);

/* The built-in `prometheus-exporter` service. */
extern const struct sluice_service_ops svc_prom_ops;

#endif /* SLUICE_ENGINE_HOSTAPI_H */

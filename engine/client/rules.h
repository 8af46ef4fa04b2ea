/* rules.h - a frontend's and its chosen backend's rules applied to a
 * stream, and the request's unique id (see cfg.h's struct cfg_rules and
 * core/acl.h).
 *
 * Contract
 * --------
 * Called by the stream (stream.c) on its own thread, once per message head
 * that was parsed into the thread's h1_msg and before the head is rewritten
 * for the peer. Header, path, query, method and status edits rewrite the
 * head in place in the message's own buffer, building the new head in the
 * thread's scratch area (the one h1_rewrite_head() uses), so no second
 * buffer is ever needed; an edit that does not fit fails the message.
 */
#ifndef SLUICE_ENGINE_RULES_H
#define SLUICE_ENGINE_RULES_H

#include <stddef.h>
#include "engine/core/cfg.h"
#include "mux/h1.h"
#include "pool/buf.h"

struct stream;

enum rules_verdict {
	RULES_PASS = 0,   /* go on: s->be names the backend (NULL: none, 503) */
	RULES_ANSWER,     /* answer with s->rule_status (deny, return, redirect) */
	RULES_FAIL,       /* an edit did not fit or would break the head: 500 */
	RULES_SERVICE,    /* use-service: hand it to the host service s->svc_pick */
};

/* Builds the request's unique id when the frontend has a unique-id-format,
 * runs the frontend's http-request rules in order on request <m> (its head
 * at the start of <b>), then its use_backend rules, then falls back to the
 * frontend's backend, then runs that backend's own http-request rules, and
 * last adds the unique-id-header. Sets s->be, or s->rule_status (and for
 * return and redirect the answer in s->reply_msg) when the request is
 * answered here. */
enum rules_verdict rules_request(struct stream *s, struct h1_msg *m, struct buf *b);

/* Applies `option forwardfor` of the chosen backend (else of the
 * frontend) to request <m> (head at the start of <b>): *xff receives the
 * client address when the usual X-Forwarded-For is to be appended by the
 * rewrite, NULL otherwise; a header of another name is added here. Returns
 * 0, or -1 when that header does not fit (the stream answers 500). */
int rules_forwardfor(struct stream *s, struct h1_msg *m, struct buf *b, const char **xff);

/* Runs the backend's http-response rules, then the frontend's, on response
 * <m> (its head at the start of <b>). Returns 0, or -1 when an edit did
 * not fit (the stream then answers 502 instead). */
int rules_response(struct stream *s, struct h1_msg *m, struct buf *b);

/* Writes into dst[0..room) the answer of our own for <status>: the one a
 * rule prepared (then released), else the frontend's errorfile for that
 * status. Returns its length, or 0 when there is none (or it does not
 * fit): the caller then writes the built-in error page. */
size_t rules_reply(struct stream *s, int status, char *dst, size_t room);

/* Applies one header edit <act> (HA_SET_HDR, HA_ADD_HDR, HA_DEL_HDR) of
 * header name[0..nlen) with value val[0..vlen) to request or response <m>
 * (head at the start of <b>), the way the rules do: the head is rebuilt in
 * the thread's scratch area and copied back in place. Returns 0, or -1
 * when it does not fit (the area may have changed: the message fails). */
int rules_hdr_edit(struct stream *s, struct h1_msg *m, struct buf *b, enum cfg_http_act act,
                   const char *name, size_t nlen, const char *val, size_t vlen);

/* Finds, in request target u[0..len), where its path starts (after the
 * scheme and authority of an absolute form) and where its query starts
 * ('?' position, or len). */
void rules_target_split(const char *u, size_t len, size_t *path, size_t *q);

#endif /* SLUICE_ENGINE_RULES_H */

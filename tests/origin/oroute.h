/* oroute.h - which answer the origin gives to a request.
 *
 * Routing is a pure function of the parsed request head, kept apart from
 * the connection code so it can be checked on its own. Routes:
 *
 *   /               small text page naming the origin
 *   /size/N         N pattern bytes (opattern.h), Content-Length
 *   /chunked/N      the same bytes, chunked, chunks of 4096 or ?chunk=S
 *   /echo           POST/PUT: the request body streamed back
 *   /sha256         POST/PUT: "<hex digest> <length>\n" of the request body
 *   /delay/MS       answers after MS milliseconds
 *   /never          never answers
 *   /close          answers, then closes the connection
 *   /status/CODE    answers with status CODE (200-599)
 *   /headers        the request head, as received, as the body
 *   anything else   404
 *
 * Routes other than /echo and /sha256 accept any method; HEAD gets the
 * headers without the body.
 */
#ifndef SLUICE_ORIGIN_OROUTE_H
#define SLUICE_ORIGIN_OROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "ohttp.h"

#define OROUTE_MAX_SIZE      (UINT64_C(1) << 40)  /* /size/N and /chunked/N */
#define OROUTE_MAX_DELAY_MS  UINT64_C(3600000)
#define OROUTE_DEFAULT_CHUNK 4096
#define OROUTE_MAX_CHUNK     (1024 * 1024)

enum oroute {
	OROUTE_ROOT,
	OROUTE_SIZE,
	OROUTE_CHUNKED,
	OROUTE_ECHO,
	OROUTE_SHA256,
	OROUTE_DELAY,
	OROUTE_NEVER,
	OROUTE_CLOSE,
	OROUTE_STATUS,
	OROUTE_HEADERS,
	OROUTE_ERROR,     /* answer <status> with a short text body */
};

struct oroute_match {
	enum oroute route;
	int         status;  /* OROUTE_STATUS and OROUTE_ERROR */
	uint64_t    n;       /* body size of SIZE/CHUNKED, delay of DELAY */
	size_t      chunk;   /* chunk size of CHUNKED */
};

/* Fills <m> with the route of <req>; never fails (bad arguments route to
 * OROUTE_ERROR with 400, unknown paths with 404, a wrong method with 405). */
void oroute_match(const struct ohttp_req *req, struct oroute_match *m);

/* Returns the reason phrase of <status> ("Unknown" for unlisted codes). */
const char *oroute_reason(int status);

#endif

/* oroute.c - mapping a request to the origin's answer. */
#include "oroute.h"

#include <string.h>

/* Returns true when <path> starts with <prefix>, and then stores the rest
 * in <*arg>/<*arg_len>. */
static bool oroute_prefix(const char *path, size_t len, const char *prefix,
			  const char **arg, size_t *arg_len)
{
	size_t plen = strlen(prefix);

	if (len < plen || memcmp(path, prefix, plen) != 0)
		return false;
	*arg = path + plen;
	*arg_len = len - plen;
	return true;
}

/* Returns true when <path> is exactly <lit>. */
static bool oroute_is(const char *path, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(path, lit, len) == 0;
}

/* Returns the value of query parameter "chunk", <dflt> when absent, 0 when
 * present but invalid. */
static size_t oroute_chunk_param(const struct ohttp_req *req, size_t dflt)
{
	const char *q = req->query, *end = req->query + req->query_len;

	while (q && q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;
		const char *val;
		size_t vlen;
		uint64_t n;

		if (oroute_prefix(q, (size_t)(stop - q), "chunk=", &val, &vlen)) {
			if (!ohttp_parse_u64(val, vlen, OROUTE_MAX_CHUNK, &n) || n == 0)
				return 0;
			return (size_t)n;
		}
		q = amp ? amp + 1 : end;
	}
	return dflt;
}

/* Sets <m> to an error answer. */
static void oroute_error(struct oroute_match *m, int status)
{
	m->route = OROUTE_ERROR;
	m->status = status;
}

/* Matches the routes that carry a number in their path. Returns false when
 * <path> is none of them. */
static bool oroute_match_numeric(const struct ohttp_req *req, struct oroute_match *m)
{
	const char *arg;
	size_t alen;
	uint64_t n;

	if (oroute_prefix(req->path, req->path_len, "/size/", &arg, &alen)) {
		m->route = OROUTE_SIZE;
		if (!ohttp_parse_u64(arg, alen, OROUTE_MAX_SIZE, &m->n))
			oroute_error(m, 400);
	} else if (oroute_prefix(req->path, req->path_len, "/chunked/", &arg, &alen)) {
		m->route = OROUTE_CHUNKED;
		m->chunk = oroute_chunk_param(req, OROUTE_DEFAULT_CHUNK);
		if (!ohttp_parse_u64(arg, alen, OROUTE_MAX_SIZE, &m->n) || m->chunk == 0)
			oroute_error(m, 400);
	} else if (oroute_prefix(req->path, req->path_len, "/delay/", &arg, &alen)) {
		m->route = OROUTE_DELAY;
		if (!ohttp_parse_u64(arg, alen, OROUTE_MAX_DELAY_MS, &m->n))
			oroute_error(m, 400);
	} else if (oroute_prefix(req->path, req->path_len, "/status/", &arg, &alen)) {
		m->route = OROUTE_STATUS;
		if (!ohttp_parse_u64(arg, alen, 599, &n) || n < 200)
			oroute_error(m, 400);
		else
			m->status = (int)n;
	} else {
		return false;
	}
	return true;
}

void oroute_match(const struct ohttp_req *req, struct oroute_match *m)
{
	memset(m, 0, sizeof(*m));
	if (oroute_match_numeric(req, m))
		return;
	if (oroute_is(req->path, req->path_len, "/"))
		m->route = OROUTE_ROOT;
	else if (oroute_is(req->path, req->path_len, "/echo"))
		m->route = OROUTE_ECHO;
	else if (oroute_is(req->path, req->path_len, "/sha256"))
		m->route = OROUTE_SHA256;
	else if (oroute_is(req->path, req->path_len, "/never"))
		m->route = OROUTE_NEVER;
	else if (oroute_is(req->path, req->path_len, "/close"))
		m->route = OROUTE_CLOSE;
	else if (oroute_is(req->path, req->path_len, "/headers"))
		m->route = OROUTE_HEADERS;
	else
		oroute_error(m, 404);

	if ((m->route == OROUTE_ECHO || m->route == OROUTE_SHA256) &&
	    req->method != OHTTP_POST && req->method != OHTTP_PUT)
		oroute_error(m, 405);
}

const char *oroute_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/* h1_reply.c - responses the proxy writes itself (errors) and reason
 * phrases. Cold path: clarity over speed. */
#include <stdio.h>
#include <string.h>
#include "mux/h1.h"

const char *h1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
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

/* Returns one sentence telling a user what went wrong with <status>. */
static const char *h1_error_text(int status)
{
	switch (status) {
	case 400: return "Your browser sent a request that this proxy could not understand.";
	case 408: return "The request was not received in time.";
	case 413: return "The request body is larger than this proxy accepts.";
	case 414: return "The request target is longer than this proxy accepts.";
	case 431: return "The request headers are larger than this proxy accepts.";
	case 500: return "The proxy hit an internal error.";
	case 501: return "The request uses a feature this proxy does not implement.";
	case 502: return "The server returned an invalid or incomplete response.";
	case 503: return "No server is available to handle this request.";
	case 504: return "The server did not respond in time.";
	case 505: return "The request uses an HTTP version this proxy does not support.";
	default:  return "The request could not be served.";
	}
}

size_t h1_make_error(int status, char *dst, size_t room)
{
	return h1_make_error_hdr(status, "", dst, room);
}

size_t h1_make_error_hdr(int status, const char *hdrs, char *dst, size_t room)
{
	const char *reason = h1_reason(status);
	char body[256], msg[768];
	int blen, len;

	if (status < 400 || status > 599)
		return 0;
	blen = snprintf(body, sizeof(body),
	                "<html><body><h1>%d %s</h1>\n%s\n</body></html>\n",
	                status, reason, h1_error_text(status));
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return 0;
	len = snprintf(msg, sizeof(msg),
	               "HTTP/1.1 %d %s\r\n"
	               "Content-Type: text/html\r\n"
	               "Content-Length: %d\r\n"
	               "Cache-Control: no-cache\r\n"
	               "Connection: close\r\n"
	               "%s"
	               "\r\n"
	               "%s",
	               status, reason, blen, hdrs, body);
	if (len < 0 || (size_t)len >= sizeof(msg) || (size_t)len > room)
		return 0;
	memcpy(dst, msg, (size_t)len);
	return (size_t)len;
}

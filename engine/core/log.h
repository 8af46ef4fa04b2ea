/* log.h - access logs: one line per HTTP transaction.
 *
 * Contract
 * --------
 * A log target is stderr, stdout, a file opened once with O_APPEND, or a
 * syslog server. Each record becomes exactly one line, formatted into a
 * stack array (never a pool buffer) and handed to a single write(2). Lines
 * are kept below LOG_LINE_MAX (< PIPE_BUF), so lines written by several
 * threads at once to a pipe or an O_APPEND file never interleave.
 * log_emit() may be called from any thread at any time; it never allocates.
 *
 * Syslog targets: a UNIX datagram socket (a path that is a socket, such as
 * /dev/log, or "unix@PATH") or UDP to a numeric address ("ADDR[:PORT]",
 * "udp@ADDR[:PORT]", udp4@, udp6@, ipv4@, ipv6@; IPv6 in brackets; port 514
 * by default), optionally followed by a facility (default local0). Each line
 * is sent as one datagram by one non-blocking sendto(), after the RFC 3164
 * header HAProxy sends:
 *
 *   <PRI>Mon DD HH:MM:SS sluice[PID]: LINE
 *
 * where PRI = facility * 8 + 6 (severity info; <134> for local0), the date
 * is the local time of emission and DD is space-padded. A socket that is
 * full (a syslog daemon that does not keep up) or missing makes the send
 * fail at once: the line is dropped and counted (log_dropped()), since a
 * worker thread must never wait for a logger.
 *
 * Line format (fields separated by one space). It follows HAProxy's
 * `option httplog` layout where Sluice has the field (client, date,
 * frontend, backend/server, timers, status, bytes, termination state,
 * request line) and leaves out the ones it has not (cookies, counters of
 * connections, captured headers), so the usual log tools find the same
 * fields in the same order:
 *
 *   ADDR:PORT [DD/Mon/YYYY:HH:MM:SS.mmm] FRONTEND BACKEND/SERVER
 *   Tq/Tw/Tc/Tr/Tt STATUS BYTES_IN BYTES_OUT TS "METHOD URI"
 *
 * e.g.
 *   127.0.0.1:40112 [22/Nov/2025:03:11:12.345] web app/s1 0/0/1/3/5 200 78 1143 -- "GET /size/1024"
 *
 * - ADDR is the client's address; an IPv6 one is written in brackets.
 * - The date is the transaction's start, in UTC.
 * - A missing name (no backend chosen, no server reached) is written "-".
 * - Timers are milliseconds; -1 means the step was never reached:
 *     Tq  time spent in a server or backend queue
 *     Tw  time spent waiting for buffers (all directions, whole transaction)
 *     Tc  time to establish the server connection (0 for a reused one)
 *     Tr  time from the connection being ready to the response head
 *     Tt  total time of the transaction
 * - STATUS is the status sent to the client, or -1 when none was.
 * - BYTES_IN / BYTES_OUT are the bytes received from / sent to the client.
 * - TS is the termination state: two characters, as in HAProxy.
 *   First, what ended the transaction (enum log_term_cause):
 *     '-' normally      'C' client aborted     'S' server aborted or failed
 *     'c' client timeout 's' server timeout    'R' resource shortage (no buffer)
 *     'P' proxy decision (bad request or response, internal error)
 *   Second, where the transaction was then (enum log_term_state):
 *     'R' waiting for the request   'Q' queued for a server
 *     'C' connecting to the server  'H' waiting for the response head
 *     'D' transferring data         'L' sending the last bytes to the client
 *     '-' finished normally
 * - METHOD and URI are taken as received; bytes outside 0x21..0x7e (and
 *   '"', '\\') are escaped as \xHH, and a URI too long for the line is cut
 *   and ends with "...".
 * - When the frontend has a `unique-id-format`, the request's unique id
 *   follows, after a space (escaped the same way; "-" when it has none):
 *   the line then ends  ... "METHOD URI" ID
 */
#ifndef SLUICE_ENGINE_LOG_H
#define SLUICE_ENGINE_LOG_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "engine/sluice.h"

/* Longest line written, newline included. Below PIPE_BUF (4096). */
#define LOG_LINE_MAX 2048

enum log_term_cause {
	LOG_TC_NONE = 0,     /* '-' */
	LOG_TC_CLI_ABORT,    /* 'C' */
	LOG_TC_SRV_ABORT,    /* 'S' */
	LOG_TC_CLI_TIMEOUT,  /* 'c' */
	LOG_TC_SRV_TIMEOUT,  /* 's' */
	LOG_TC_RESOURCE,     /* 'R' */
	LOG_TC_PROXY,        /* 'P' */
	LOG_TC_COUNT
};

enum log_term_state {
	LOG_TS_NONE = 0,     /* '-' */
	LOG_TS_REQUEST,      /* 'R' */
	LOG_TS_QUEUE,        /* 'Q' */
	LOG_TS_CONNECT,      /* 'C' */
	LOG_TS_HEADERS,      /* 'H' */
	LOG_TS_DATA,         /* 'D' */
	LOG_TS_LAST,         /* 'L' */
	LOG_TS_COUNT
};

/* One transaction, as the stream saw it: the fields of the public record
 * (SLUICE_LOG_FIELDS in sluice.h, which the completion hook receives) and
 * the termination state as enums. Strings need not be NUL-terminated where
 * a length is given; NULL strings print as "-". */
struct log_rec {
	SLUICE_LOG_FIELDS(SLUICE_LOG_FIELD)
	enum log_term_cause cause;
	enum log_term_state state;
};

struct log_target;

/* Longest syslog header log_syslog_header() writes. */
#define LOG_SYSLOG_HDR_MAX 64
/* Facility used when a syslog target names none: local0, as HAProxy users
 * usually configure. */
#define LOG_FACILITY_DEFAULT 16
/* Severity of an access-log line (info), as HAProxy sends it. */
#define LOG_SEVERITY_INFO 6

/* Returns the code of syslog facility <name> ("kern" 0 ... "local7" 23), or
 * -1 for an unknown name. Inline (as the parser below) because cfg.c is
 * compiled alone into the parser tests and must validate a target without
 * linking log.c. */
static inline int log_facility_code(const char *name)
{
	static const char *const names[24] = {
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
		"uucp", "cron", "auth2", "ftp", "ntp", "audit", "alert", "cron2",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7" };

	for (int i = 0; i < 24; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* Returns non-zero when <t> is written as a network syslog target: it has
 * a scheme ("udp@"...) or a ':', or starts with a digit or '['. Such a
 * target must then parse with log_parse_net(). "unix@" is not one. */
static inline int log_target_is_net(const char *t)
{
	if (strncmp(t, "unix@", 5) == 0)
		return 0;
	return strchr(t, '@') || strchr(t, ':') || (t[0] >= '0' && t[0] <= '9') || t[0] == '[';
}

/* Parses a network syslog target <t> ("[udp@|udp4@|udp6@|ipv4@|ipv6@]ADDR
 * [:PORT]", numeric addresses only so that nothing ever waits for a
 * resolver; IPv6 in brackets when a port follows) into <ss>/<len>.
 * Returns 0, or -1 when <t> is not such a target. */
static inline int log_parse_net(const char *t, struct sockaddr_storage *ss, socklen_t *len)
{
	static const char *const schemes[] = { "udp@", "udp4@", "udp6@", "ipv4@", "ipv6@" };
	char host[64];
	const char *at = strchr(t, '@'), *port = NULL, *h = t;
	size_t hl;
	long pn = 514;

	if (at) {
		int known = 0;

		for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
			known |= (size_t)(at + 1 - t) == strlen(schemes[i]) &&
				 strncmp(t, schemes[i], strlen(schemes[i])) == 0;
		if (!known)
			return -1;
		h = at + 1;
	}
	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return -1;
		hl = (size_t)(rb - h - 1);
		h++;
		port = rb[1] ? rb + 2 : NULL;
	} else {
		const char *colon = strchr(h, ':');

		if (colon && strchr(colon + 1, ':'))
			return -1; /* an IPv6 address with a port needs brackets */
		hl = colon ? (size_t)(colon - h) : strlen(h);
		port = colon ? colon + 1 : NULL;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (port) {
		char *end;

		pn = strtol(port, &end, 10);
		if (!*port || *end || pn < 1 || pn > 65535)
			return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)pn);
		*len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)pn);
		*len = sizeof(struct sockaddr_in6);
	} else {
		return -1;
	}
	return 0;
}

/* Opens <target>: "stderr", "stdout", a file path (created 0644 if
 * missing, appended to), or a syslog target (see the contract above),
 * which may be followed by one space and a facility name ("udp@127.0.0.1
 * local3"; the configuration parser stores it so). A path is a syslog
 * target when it is a socket (stat) or starts with "unix@". Returns the
 * target, or NULL with a malloc'ed message in *err ("cannot open log file
 * 'PATH': reason", "invalid syslog target ..."). */
struct log_target *log_open(const char *target, char **err);

/* Writes the RFC 3164 header of a syslog line into <dst> (<size> bytes,
 * at least LOG_SYSLOG_HDR_MAX): "<PRI>Mon DD HH:MM:SS TAG[PID]: " with
 * PRI = facility * 8 + severity and the date taken from <tm> (DD padded
 * with a space, as the RFC wants). No NUL is counted. Returns its length. */
size_t log_syslog_header(char *dst, size_t size, int facility, int severity,
			 const struct tm *tm, const char *tag, int pid);

/* Closes the file (not stderr/stdout) and frees <t>. NULL is accepted. */
void log_close(struct log_target *t);

/* Formats <r> into <dst> (at least LOG_LINE_MAX bytes) as one line ending
 * in '\n', without a NUL. Returns its length (< LOG_LINE_MAX). */
size_t log_format(const struct log_rec *r, char *dst);

/* Writes the line of <r> to <t> with a single write(2) (a single
 * non-blocking sendto() for syslog, header first). A failed or short write
 * is counted (log_dropped()), never retried: a retry could land in the
 * middle of another thread's line, and a full syslog socket must not stall
 * a worker. NULL <t> does nothing. */
void log_emit(struct log_target *t, const struct log_rec *r);

/* Returns the lines written in full / lost to a write error on <t>. */
uint64_t log_written(const struct log_target *t);
uint64_t log_dropped(const struct log_target *t);

/* Returns the character of a termination cause / state ('?' if out of range). */
char log_term_cause_char(enum log_term_cause c);
char log_term_state_char(enum log_term_state s);

#endif /* SLUICE_ENGINE_LOG_H */

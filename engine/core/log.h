/* log.h - access logs: one line per HTTP transaction.
 *
 * Contract
 * --------
 * A log target is stderr, stdout or a file opened once with O_APPEND. Each
 * record becomes exactly one line, formatted into a stack array (never a
 * pool buffer) and handed to a single write(2). Lines are kept below
 * LOG_LINE_MAX (< PIPE_BUF), so lines written by several threads at once
 * to a pipe or an O_APPEND file never interleave. log_emit() may be called
 * from any thread at any time; it never allocates.
 *
 * Line format (fields separated by one space):
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
 */
#ifndef SLUICE_ENGINE_LOG_H
#define SLUICE_ENGINE_LOG_H

#include <stddef.h>
#include <stdint.h>

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

/* One transaction, as the stream saw it. Strings need not be
 * NUL-terminated where a length is given; NULL strings print as "-". */
struct log_rec {
	const char *client_addr;     /* numeric address, NUL-terminated */
	unsigned client_port;
	uint64_t start_ms;           /* wall clock (ms since the epoch), 0: now */
	const char *frontend, *backend, *server;
	int status;                  /* sent to the client, -1: none */
	uint64_t bytes_in, bytes_out;
	int64_t tq_ms, tw_ms, tc_ms, tr_ms, tt_ms; /* -1: not reached */
	enum log_term_cause cause;
	enum log_term_state state;
	const char *method;          /* <method_len> bytes */
	size_t method_len;
	const char *uri;             /* <uri_len> bytes */
	size_t uri_len;
};

struct log_target;

/* Opens <target>: "stderr", "stdout" or a file path (created 0644 if
 * missing, appended to). Returns the target, or NULL with a malloc'ed
 * message in *err ("cannot open log file 'PATH': reason"). */
struct log_target *log_open(const char *target, char **err);

/* Closes the file (not stderr/stdout) and frees <t>. NULL is accepted. */
void log_close(struct log_target *t);

/* Formats <r> into <dst> (at least LOG_LINE_MAX bytes) as one line ending
 * in '\n', without a NUL. Returns its length (< LOG_LINE_MAX). */
size_t log_format(const struct log_rec *r, char *dst);

/* Writes the line of <r> to <t> with a single write(2). A failed or short
 * write is counted (log_dropped()), never retried: a retry could land in
 * the middle of another thread's line. NULL <t> does nothing. */
void log_emit(struct log_target *t, const struct log_rec *r);

/* Returns the lines written in full / lost to a write error on <t>. */
uint64_t log_written(const struct log_target *t);
uint64_t log_dropped(const struct log_target *t);

/* Returns the character of a termination cause / state ('?' if out of range). */
char log_term_cause_char(enum log_term_cause c);
char log_term_state_char(enum log_term_state s);

#endif /* SLUICE_ENGINE_LOG_H */

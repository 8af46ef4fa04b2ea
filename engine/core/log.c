/* log.c - access log lines (see log.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "engine/core/log.h"

/* Longest name (frontend, backend, server) written; longer ones are cut. */
#define LOG_NAME_MAX 64
/* Room kept at the end of a line for the closing quote and newline. */
#define LOG_TAIL 2

struct log_target {
	int fd;
	int owned;           /* the file is ours to close */
	int syslog;          /* send datagrams to <addr> with a syslog header */
	int facility;
	int pid;             /* for the header: read once, not per line */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	uint64_t written;    /* atomic */
	uint64_t dropped;    /* atomic */
};

static const char cause_chars[LOG_TC_COUNT] = { '-', 'C', 'S', 'c', 's', 'R', 'P' };
static const char state_chars[LOG_TS_COUNT] = { '-', 'R', 'Q', 'C', 'H', 'D', 'L' };

char log_term_cause_char(enum log_term_cause c)
{
	return (unsigned)c < LOG_TC_COUNT ? cause_chars[c] : '?';
}

char log_term_state_char(enum log_term_state s)
{
	return (unsigned)s < LOG_TS_COUNT ? state_chars[s] : '?';
}

/* Sets <t> up as a syslog target sending to <path> (a UNIX datagram
 * socket) or, when <path> is NULL, to the network address <target>. The
 * socket is not connected: each sendto() names the address, so a syslog
 * daemon that restarts (and recreates /dev/log) gets the next lines without
 * a reopen. Returns 0, or -1 with *err set. */
static int log_open_syslog(struct log_target *t, const char *target, const char *path, char **err)
{
	int family;

	if (path) {
		struct sockaddr_un *un = (struct sockaddr_un *)&t->addr;

		if (!*path || strlen(path) >= sizeof(un->sun_path)) {
			if (asprintf(err, "invalid syslog socket path '%s'", path) < 0)
				*err = NULL;
			return -1;
		}
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, path, strlen(path) + 1);
		t->addrlen = (socklen_t)sizeof(*un);
	} else if (log_parse_net(target, &t->addr, &t->addrlen) < 0) {
		if (asprintf(err, "invalid syslog target '%s' (expected [udp@]ADDR[:PORT] with a numeric address)",
			     target) < 0)
			*err = NULL;
		return -1;
	}
	family = t->addr.ss_family;
	t->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		int e = errno;

		if (asprintf(err, "cannot open a socket for syslog target '%s': %s", target, strerror(e)) < 0)
			*err = NULL;
		return -1;
	}
	t->owned = 1;
	t->syslog = 1;
	t->pid = (int)getpid();
	return 0;
}

struct log_target *log_open(const char *spec, char **err)
{
	struct log_target *t = calloc(1, sizeof(*t));
	char target[PATH_MAX];
	const char *sp = strrchr(spec, ' ');
	struct stat st;
	size_t tl = strlen(spec);

	if (!t) {
		*err = strdup("out of memory");
		return NULL;
	}
	t->facility = LOG_FACILITY_DEFAULT;
	/* "TARGET FACILITY": the parser appends the facility it was given */
	if (sp && log_facility_code(sp + 1) >= 0) {
		t->facility = log_facility_code(sp + 1);
		tl = (size_t)(sp - spec);
	}
	if (tl >= sizeof(target)) {
		*err = strdup("log target too long");
		free(t);
		return NULL;
	}
	memcpy(target, spec, tl);
	target[tl] = 0;
	if (strcmp(target, "stderr") == 0) {
		t->fd = STDERR_FILENO;
	} else if (strcmp(target, "stdout") == 0) {
		t->fd = STDOUT_FILENO;
	} else if (strncmp(target, "unix@", 5) == 0 ||
		   (stat(target, &st) == 0 && S_ISSOCK(st.st_mode))) {
		const char *path = strncmp(target, "unix@", 5) == 0 ? target + 5 : target;

		if (log_open_syslog(t, target, path, err) < 0) {
			free(t);
			return NULL;
		}
	} else if (log_target_is_net(target)) {
		if (log_open_syslog(t, target, NULL, err) < 0) {
			free(t);
			return NULL;
		}
	} else {
		t->fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (t->fd < 0) {
			int e = errno;

			if (asprintf(err, "cannot open log file '%s': %s", target, strerror(e)) < 0)
				*err = NULL;
			free(t);
			return NULL;
		}
		t->owned = 1;
	}
	return t;
}

void log_close(struct log_target *t)
{
	if (!t)
		return;
	if (t->owned)
		close(t->fd);
	free(t);
}

/* A bounded writer over the line being built: it never writes past <end>. */
struct lw {
	char *p, *end;
};

/* Appends <n> bytes of <s>, as many as fit. */
static void lw_put(struct lw *w, const char *s, size_t n)
{
	size_t room = (size_t)(w->end - w->p);

	if (n > room)
		n = room;
	memcpy(w->p, s, n);
	w->p += n;
}

/* Appends <c> if it fits. */
static void lw_putc(struct lw *w, char c)
{
	if (w->p < w->end)
		*w->p++ = c;
}

/* Appends printf-style text, cut to what fits. */
static void lw_printf(struct lw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lw_printf(struct lw *w, const char *fmt, ...)
{
	size_t room = (size_t)(w->end - w->p);
	va_list ap;
	int n;

	if (!room)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->p, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* vsnprintf wrote at most room - 1 characters plus its NUL */
	w->p += (size_t)n < room ? (size_t)n : room - 1;
}

/* Appends <name> (or "-") cut to LOG_NAME_MAX characters. */
static void lw_name(struct lw *w, const char *name)
{
	if (!name || !*name) {
		lw_putc(w, '-');
		return;
	}
	lw_put(w, name, strnlen(name, LOG_NAME_MAX));
}

/* Returns non-zero when byte <c> is written as is inside the quotes. */
static int log_plain_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Appends <len> bytes of <s> escaped, keeping <keep> bytes free at the
 * end of the line. When everything does not fit, writes as much as fits
 * followed by "..." (never half an escape). */
static void lw_escaped(struct lw *w, const char *s, size_t len, size_t keep)
{
	static const char hex[] = "0123456789abcdef";
	char *limit = w->end - keep;
	size_t whole = 0;
	int fits;

	if (limit < w->p)
		limit = w->p;
	for (size_t i = 0; i < len && whole <= (size_t)(limit - w->p); i++)
		whole += log_plain_byte((unsigned char)s[i]) ? 1 : 4;
	fits = whole <= (size_t)(limit - w->p);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = log_plain_byte(c) ? 1 : 4;
		/* when cutting, always leave room for the "..." that says so */
		size_t reserve = fits ? 0 : 3;

		if (w->p + need + reserve > limit) {
			size_t dots = (size_t)(limit - w->p) < 3 ? (size_t)(limit - w->p) : 3;

			lw_put(w, "...", dots);
			return;
		}
		if (need == 1) {
			*w->p++ = (char)c;
		} else {
			*w->p++ = '\\';
			*w->p++ = 'x';
			*w->p++ = hex[c >> 4];
			*w->p++ = hex[c & 15];
		}
	}
}

/* Appends "[DD/Mon/YYYY:HH:MM:SS.mmm]" for <ms> since the epoch, in UTC. */
static void lw_date(struct lw *w, uint64_t ms)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&secs, &tm)) {
		lw_put(w, "[-]", 3);
		return;
	}
	lw_printf(w, "[%02d/%s/%04d:%02d:%02d:%02d.%03u]", tm.tm_mday, months[tm.tm_mon % 12],
		  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
}

/* Returns the current wall clock in ms since the epoch. */
static uint64_t log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Clamps a timer to -1 (not reached) or its value. */
static long long log_timer(int64_t v)
{
	return v < 0 ? -1 : (long long)v;
}

size_t log_format(const struct log_rec *r, char *dst)
{
	/* -2: the newline always fits, and the line stays below LOG_LINE_MAX */
	struct lw w = { dst, dst + LOG_LINE_MAX - 2 };
	const char *addr = r->client_addr && *r->client_addr ? r->client_addr : "-";

	if (strchr(addr, ':'))
		lw_printf(&w, "[%.46s]:%u ", addr, r->client_port);
	else
		lw_printf(&w, "%.46s:%u ", addr, r->client_port);
	lw_date(&w, r->start_ms ? r->start_ms : log_now_ms());
	lw_putc(&w, ' ');
	lw_name(&w, r->frontend);
	lw_putc(&w, ' ');
	lw_name(&w, r->backend);
	lw_putc(&w, '/');
	lw_name(&w, r->server);
	lw_printf(&w, " %lld/%lld/%lld/%lld/%lld %d %llu %llu %c%c \"",
		  log_timer(r->tq_ms), log_timer(r->tw_ms), log_timer(r->tc_ms),
		  log_timer(r->tr_ms), log_timer(r->tt_ms), r->status < 0 ? -1 : r->status,
		  (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
		  log_term_cause_char(r->cause), log_term_state_char(r->state));
	if (r->method && r->method_len) {
		/* a method longer than a few words is junk: keep the URI's room */
		lw_escaped(&w, r->method, r->method_len < 32 ? r->method_len : 32, LOG_TAIL + 2);
		lw_putc(&w, ' ');
	} else {
		lw_put(&w, "- ", 2);
	}
	/* the id's room is kept: a long URI is cut, never the id */
	if (r->uri && r->uri_len)
		lw_escaped(&w, r->uri, r->uri_len, LOG_TAIL - 1 + (r->uid ? 1 + 4 * r->uid_len + 1 : 0));
	else
		lw_putc(&w, '-');
	lw_putc(&w, '"');
	if (r->uid) {
		lw_putc(&w, ' ');
		if (r->uid_len)
			lw_escaped(&w, r->uid, r->uid_len, 0);
		else
			lw_putc(&w, '-');
	}
	*w.p++ = '\n'; /* the writer stopped one byte short of the array */
	return (size_t)(w.p - dst);
}

size_t log_syslog_header(char *dst, size_t size, int facility, int severity,
			 const struct tm *tm, const char *tag, int pid)
{
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int n = snprintf(dst, size, "<%d>%s %2d %02d:%02d:%02d %.20s[%d]: ",
			 (facility & 31) * 8 + (severity & 7), months[(unsigned)tm->tm_mon % 12],
			 tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, tag, pid);

	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/* Sends one line of <r> to the syslog target <t>: header and line in one
 * datagram, one sendto() that never waits (MSG_DONTWAIT on a non-blocking
 * socket). Any failure (EAGAIN from a full socket, a missing /dev/log)
 * drops the line and counts it. */
static void log_emit_syslog(struct log_target *t, const struct log_rec *r)
{
	char msg[LOG_SYSLOG_HDR_MAX + LOG_LINE_MAX];
	time_t now = time(NULL);
	struct tm tm;
	size_t hl, len;
	ssize_t n;

	if (!localtime_r(&now, &tm))
		memset(&tm, 0, sizeof(tm));
	hl = log_syslog_header(msg, LOG_SYSLOG_HDR_MAX, t->facility, LOG_SEVERITY_INFO, &tm,
			       "sluice", t->pid);
	len = hl + log_format(r, msg + hl);
	do {
		n = sendto(t->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (const struct sockaddr *)&t->addr, t->addrlen);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		__atomic_fetch_add(&t->written, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&t->dropped, 1, __ATOMIC_RELAXED);
}

void log_emit(struct log_target *t, const struct log_rec *r)
{
	char line[LOG_LINE_MAX];
	size_t len;
	ssize_t n;

	if (!t)
		return;
	if (t->syslog) {
		log_emit_syslog(t, r);
		return;
	}
	len = log_format(r, line);
	do {
		n = write(t->fd, line, len);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		__atomic_fetch_add(&t->written, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&t->dropped, 1, __ATOMIC_RELAXED);
}

uint64_t log_written(const struct log_target *t)
{
	return t ? __atomic_load_n(&t->written, __ATOMIC_RELAXED) : 0;
}

uint64_t log_dropped(const struct log_target *t)
{
	return t ? __atomic_load_n(&t->dropped, __ATOMIC_RELAXED) : 0;
}

/* test_log.c - access log lines: fields, termination states, escaping and
 * truncation (Criterion), and whole lines from concurrent writers.
 *
 * Built twice: as a Criterion suite, and with LOG_TEST_PLAIN as a plain
 * program running only the concurrent-writer checks (it returns non-zero on
 * failure), so that they also run under TSan, where Criterion cannot.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/core/log.h"

/* ---- concurrent writers (shared by both builds) ---- */

#define CW_THREADS 4
#define CW_LINES   1500

struct cw_arg {
	struct log_target *t;
	int id;
};

/* Writes CW_LINES records whose URI is "/w<id>/<seq>/" followed by a
 * padding of the letter 'a' + id, of a length that varies up to far past
 * the line limit (so some lines are cut). */
static void *cw_writer(void *arg)
{
	struct cw_arg *a = arg;
	static char pad[CW_THREADS][3000];
	char uri[3100];

	memset(pad[a->id], 'a' + a->id, sizeof(pad[a->id]));
	for (int seq = 0; seq < CW_LINES; seq++) {
		int n = snprintf(uri, sizeof(uri), "/w%d/%d/", a->id, seq);
		size_t padlen = (size_t)(seq * 37) % 2900;
		struct log_rec r = {
			.client_addr = "10.0.0.1", .client_port = 1000u + (unsigned)a->id,
			.start_ms = 1700000000000ull, .frontend = "fe", .backend = "be",
			.server = "s1", .status = 200, .tq_ms = 0, .tw_ms = 0, .tc_ms = 1,
			.tr_ms = 2, .tt_ms = 3, .method = "GET", .method_len = 3,
		};

		memcpy(uri + n, pad[a->id], padlen);
		r.uri = uri;
		r.uri_len = (size_t)n + padlen;
		log_emit(a->t, &r);
	}
	return NULL;
}

/* Checks that <data> holds exactly CW_THREADS * CW_LINES whole lines, each
 * from one writer, in each writer's order. Returns 0 or -1 (with a message). */
static int cw_verify(const char *data, size_t len)
{
	int next[CW_THREADS] = { 0 };
	size_t pos = 0;
	int lines = 0;

	while (pos < len) {
		const char *line = data + pos;
		const char *nl = memchr(line, '\n', len - pos);
		const char *q;
		int id, seq;

		if (!nl) {
			fprintf(stderr, "cw: unterminated line at %zu\n", pos);
			return -1;
		}
		if ((size_t)(nl - line) + 1 > LOG_LINE_MAX || nl[-1] != '"') {
			fprintf(stderr, "cw: bad line end at %zu\n", pos);
			return -1;
		}
		q = memchr(line, '"', (size_t)(nl - line));
		if (!q || sscanf(q, "\"GET /w%d/%d/", &id, &seq) != 2 || id < 0 || id >= CW_THREADS) {
			fprintf(stderr, "cw: bad request field: %.80s\n", line);
			return -1;
		}
		if (seq != next[id]) {
			fprintf(stderr, "cw: writer %d: line %d where %d was expected\n", id, seq, next[id]);
			return -1;
		}
		next[id]++;
		/* the padding belongs to the same writer all the way */
		q = strchr(q + 1, '/');
		q = strchr(q + 1, '/');
		q = strchr(q + 1, '/') + 1;
		for (; q < nl - 1; q++) {
			if (*q != 'a' + id && !(*q == '.' && nl - 1 - q <= 3)) {
				fprintf(stderr, "cw: foreign byte '%c' in writer %d's line %d\n", *q, id, seq);
				return -1;
			}
		}
		lines++;
		pos = (size_t)(nl - data) + 1;
	}
	if (lines != CW_THREADS * CW_LINES) {
		fprintf(stderr, "cw: %d lines instead of %d\n", lines, CW_THREADS * CW_LINES);
		return -1;
	}
	return 0;
}

/* Runs the writers against <t>. */
static void cw_run(struct log_target *t)
{
	pthread_t th[CW_THREADS];
	struct cw_arg args[CW_THREADS];

	for (int i = 0; i < CW_THREADS; i++) {
		args[i] = (struct cw_arg){ t, i };
		if (pthread_create(&th[i], NULL, cw_writer, &args[i]) != 0)
			abort();
	}
	for (int i = 0; i < CW_THREADS; i++)
		pthread_join(th[i], NULL);
}

struct pipe_reader {
	int fd;
	char *data;
	size_t len, cap;
};

static void *pipe_read_all(void *arg)
{
	struct pipe_reader *r = arg;

	for (;;) {
		ssize_t n;

		if (r->cap - r->len < 65536) {
			r->cap = r->cap * 2 + 65536;
			r->data = realloc(r->data, r->cap);
			if (!r->data)
				abort();
		}
		n = read(r->fd, r->data + r->len, r->cap - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	return NULL;
}

/* Concurrent writers to a pipe (through "stdout", redirected). Returns 0
 * when the reader got only whole lines. */
static int cw_pipe(void)
{
	int p[2], saved;
	pthread_t reader;
	struct pipe_reader r = { 0 };
	struct log_target *t;
	char *err = NULL;
	int ret;

	fflush(stdout);
	if (pipe(p) < 0 || (saved = dup(STDOUT_FILENO)) < 0)
		return -1;
	r.fd = p[0];
	if (pthread_create(&reader, NULL, pipe_read_all, &r) != 0)
		return -1;
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	t = log_open("stdout", &err);
	if (!t)
		return -1;
	cw_run(t);
	/* every line went out whole: none was short */
	ret = log_written(t) == CW_THREADS * CW_LINES && log_dropped(t) == 0 ? 0 : -1;
	log_close(t);
	dup2(saved, STDOUT_FILENO); /* closes the last write end: the reader sees EOF */
	close(saved);
	pthread_join(reader, NULL);
	close(p[0]);
	if (ret == 0)
		ret = cw_verify(r.data, r.len);
	free(r.data);
	return ret;
}

/* Concurrent writers to an O_APPEND file. Returns 0 when it holds only
 * whole lines. */
static int cw_file(void)
{
	char path[] = "/tmp/sluice-logtest-XXXXXX";
	int fd = mkstemp(path);
	struct log_target *t;
	char *err = NULL, *data;
	off_t size;
	int ret;

	if (fd < 0)
		return -1;
	t = log_open(path, &err);
	if (!t) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	cw_run(t);
	log_close(t);
	size = lseek(fd, 0, SEEK_END);
	data = malloc((size_t)size + 1);
	if (!data || pread(fd, data, (size_t)size, 0) != size)
		return -1;
	ret = cw_verify(data, (size_t)size);
	free(data);
	close(fd);
	unlink(path);
	return ret;
}

#ifdef LOG_TEST_PLAIN

int main(void)
{
	int bad = 0;

	if (cw_pipe() != 0) {
		fprintf(stderr, "concurrent writers to a pipe: FAILED\n");
		bad = 1;
	}
	if (cw_file() != 0) {
		fprintf(stderr, "concurrent writers to a file: FAILED\n");
		bad = 1;
	}
	if (!bad)
		printf("log: concurrent writers produced whole lines\n");
	return bad;
}

#else /* Criterion suite */

#include <criterion/criterion.h>
#include <sys/socket.h>
#include <sys/un.h>

/* A complete record with every field set. */
static struct log_rec sample(void)
{
	return (struct log_rec){
		.client_addr = "127.0.0.1", .client_port = 40112,
		.start_ms = 1763781072345ull, /* 2025-11-22 03:11:12.345 UTC */
		.frontend = "web", .backend = "app", .server = "s1",
		.status = 200, .bytes_in = 78, .bytes_out = 1143,
		.tq_ms = 0, .tw_ms = 4, .tc_ms = 1, .tr_ms = 3, .tt_ms = 9,
		.cause = LOG_TC_NONE, .state = LOG_TS_NONE,
		.method = "GET", .method_len = 3, .uri = "/size/1024", .uri_len = 10,
	};
}

/* Formats <r> into a NUL-terminated static line. */
static const char *fmt(const struct log_rec *r)
{
	static char line[LOG_LINE_MAX + 1];
	size_t n = log_format(r, line);

	cr_assert_lt(n, (size_t)LOG_LINE_MAX);
	cr_assert_eq(line[n - 1], '\n');
	line[n] = 0;
	return line;
}

Test(log, full_line)
{
	struct log_rec r = sample();

	cr_assert_str_eq(fmt(&r), "127.0.0.1:40112 [22/Nov/2025:03:11:12.345] web app/s1 "
			 "0/4/1/3/9 200 78 1143 -- \"GET /size/1024\"\n");
}

Test(log, missing_parts)
{
	struct log_rec r = sample();

	r.client_addr = NULL;
	r.backend = NULL;
	r.server = "";
	r.status = -1;
	r.tq_ms = r.tc_ms = r.tr_ms = -1;
	r.method = NULL;
	r.uri = NULL;
	r.cause = LOG_TC_CLI_TIMEOUT;
	r.state = LOG_TS_REQUEST;
	cr_assert_str_eq(fmt(&r), "-:40112 [22/Nov/2025:03:11:12.345] web -/- "
			 "-1/4/-1/-1/9 -1 78 1143 cR \"- -\"\n");
}

Test(log, ipv6_in_brackets)
{
	struct log_rec r = sample();

	r.client_addr = "::1";
	r.client_port = 8080;
	cr_assert(strncmp(fmt(&r), "[::1]:8080 [22/Nov/2025", 23) == 0, "%s", fmt(&r));
}

Test(log, every_termination_state)
{
	static const char causes[] = "-CScsRP";
	static const char states[] = "-RQCHDL";
	char want[8];

	cr_assert_eq(log_term_cause_char(LOG_TC_COUNT), '?');
	cr_assert_eq(log_term_state_char(LOG_TS_COUNT), '?');
	for (int c = 0; c < LOG_TC_COUNT; c++) {
		for (int s = 0; s < LOG_TS_COUNT; s++) {
			struct log_rec r = sample();
			const char *line;

			r.cause = (enum log_term_cause)c;
			r.state = (enum log_term_state)s;
			line = fmt(&r);
			snprintf(want, sizeof(want), " %c%c \"", causes[c], states[s]);
			cr_assert(strstr(line, want), "cause %d state %d: %s", c, s, line);
		}
	}
	/* the exact characters of the contract */
	cr_assert_eq(log_term_cause_char(LOG_TC_CLI_ABORT), 'C');
	cr_assert_eq(log_term_cause_char(LOG_TC_SRV_ABORT), 'S');
	cr_assert_eq(log_term_cause_char(LOG_TC_CLI_TIMEOUT), 'c');
	cr_assert_eq(log_term_cause_char(LOG_TC_SRV_TIMEOUT), 's');
	cr_assert_eq(log_term_cause_char(LOG_TC_RESOURCE), 'R');
	cr_assert_eq(log_term_cause_char(LOG_TC_PROXY), 'P');
	cr_assert_eq(log_term_state_char(LOG_TS_QUEUE), 'Q');
	cr_assert_eq(log_term_state_char(LOG_TS_CONNECT), 'C');
	cr_assert_eq(log_term_state_char(LOG_TS_HEADERS), 'H');
	cr_assert_eq(log_term_state_char(LOG_TS_DATA), 'D');
	cr_assert_eq(log_term_state_char(LOG_TS_LAST), 'L');
}

Test(log, long_uri_is_cut_with_dots)
{
	static char uri[10000];
	struct log_rec r = sample();
	const char *line;
	size_t len;

	uri[0] = '/';
	memset(uri + 1, 'x', sizeof(uri) - 1);
	r.uri = uri;
	r.uri_len = sizeof(uri);
	line = fmt(&r);
	len = strlen(line);
	cr_assert_eq(len, (size_t)LOG_LINE_MAX - 1, "length %zu", len);
	cr_assert(strcmp(line + len - 6, "x...\"\n") == 0, "%s", line + len - 10);
	cr_assert(strstr(line, "\"GET /xxxx"));
}

Test(log, uri_that_just_fits_is_whole)
{
	static char uri[LOG_LINE_MAX];
	struct log_rec r = sample();
	size_t prefix, room;
	const char *line;

	/* find the room left for the URI: format an empty one first */
	r.uri = "/";
	r.uri_len = 1;
	prefix = strlen(fmt(&r)) - 3; /* up to the URI, without '/', '"', '\n' */
	room = LOG_LINE_MAX - 1 - prefix - 2;
	uri[0] = '/';
	memset(uri + 1, 'y', room - 1);
	r.uri = uri;
	r.uri_len = room;
	line = fmt(&r);
	cr_assert_eq(strlen(line), (size_t)LOG_LINE_MAX - 1);
	cr_assert(strcmp(line + strlen(line) - 3, "y\"\n") == 0, "not whole: %s", line + strlen(line) - 8);
	/* one more byte and it is cut */
	r.uri_len = room + 1;
	uri[room] = 'z';
	line = fmt(&r);
	cr_assert(strcmp(line + strlen(line) - 5, "...\"\n") == 0);
}

Test(log, escapes_control_and_quotes)
{
	struct log_rec r = sample();
	static const char uri[] = "/a\"b\\c d\x01\xff";

	r.uri = uri;
	r.uri_len = sizeof(uri) - 1;
	cr_assert(strstr(fmt(&r), "\"GET /a\\x22b\\x5cc\\x20d\\x01\\xff\"\n"), "%s", fmt(&r));
}

Test(log, escape_never_cut_in_half)
{
	static char uri[5000];
	struct log_rec r = sample();
	const char *line, *end;

	uri[0] = '/';
	memset(uri + 1, '\x7f', sizeof(uri) - 1);
	r.uri = uri;
	r.uri_len = sizeof(uri);
	line = fmt(&r);
	end = line + strlen(line) - 5;
	cr_assert(strcmp(end, "...\"\n") == 0, "%s", end);
	/* the bytes before the dots are whole \x7f escapes */
	cr_assert(strncmp(end - 4, "\\x7f", 4) == 0, "%.12s", end - 8);
}

Test(log, long_names_are_cut)
{
	static char name[300];
	struct log_rec r = sample();

	memset(name, 'n', sizeof(name) - 1);
	r.frontend = r.backend = r.server = name;
	cr_assert_lt(strlen(fmt(&r)), 400u);
}

Test(log, open_errors_and_counts)
{
	char *err = NULL;
	struct log_target *t = log_open("/nonexistent-dir/x.log", &err);
	struct log_rec r = sample();
	char path[] = "/tmp/sluice-logtest-XXXXXX";
	int fd = mkstemp(path);
	char buf[512];
	ssize_t n;

	cr_assert_null(t);
	cr_assert(err && strstr(err, "cannot open log file '/nonexistent-dir/x.log'"), "%s", err);
	free(err);
	cr_assert_geq(fd, 0);
	t = log_open(path, &err);
	cr_assert_not_null(t);
	log_emit(t, &r);
	log_emit(t, &r);
	cr_assert_eq(log_written(t), 2);
	cr_assert_eq(log_dropped(t), 0);
	log_close(t);
	n = read(fd, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	buf[n] = 0;
	cr_assert_eq(strlen(fmt(&r)) * 2, (size_t)n);
	close(fd);
	unlink(path);
	log_emit(NULL, &r); /* no target: nothing happens */
}

Test(log, concurrent_writers_pipe)
{
	cr_assert_eq(cw_pipe(), 0);
}

Test(log, concurrent_writers_file)
{
	cr_assert_eq(cw_file(), 0);
}

/* ---- syslog ---- */

Test(syslog, header_rfc3164)
{
	struct tm tm = { .tm_year = 125, .tm_mon = 10, .tm_mday = 2, .tm_hour = 3,
			 .tm_min = 4, .tm_sec = 5 };
	char h[LOG_SYSLOG_HDR_MAX];
	size_t n;

	n = log_syslog_header(h, sizeof(h), LOG_FACILITY_DEFAULT, LOG_SEVERITY_INFO, &tm, "sluice", 42);
	cr_assert_str_eq(h, "<134>Nov  2 03:04:05 sluice[42]: ", "local0.info, day padded with a space");
	cr_assert_eq(n, strlen(h));
	tm.tm_mday = 22;
	tm.tm_mon = 0;
	n = log_syslog_header(h, sizeof(h), log_facility_code("daemon"), 3, &tm, "sluice", 7);
	cr_assert_str_eq(h, "<27>Jan 22 03:04:05 sluice[7]: ");
	cr_assert_eq(n, strlen(h));
	tm.tm_mon = 11;
	n = log_syslog_header(h, sizeof(h), log_facility_code("local7"), 6, &tm, "sluice", 2147483647);
	cr_assert_str_eq(h, "<190>Dec 22 03:04:05 sluice[2147483647]: ", "longest header fits");
	cr_assert_lt(n, (size_t)LOG_SYSLOG_HDR_MAX);
}

Test(syslog, facility_names_and_addresses)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	cr_assert_eq(log_facility_code("kern"), 0);
	cr_assert_eq(log_facility_code("local0"), 16);
	cr_assert_eq(log_facility_code("local7"), 23);
	cr_assert_eq(log_facility_code("info"), -1, "a level is not a facility");
	cr_assert_eq(log_parse_net("127.0.0.1:514", &ss, &sl), 0);
	cr_assert_eq(ss.ss_family, AF_INET);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 514);
	cr_assert_eq(log_parse_net("udp@10.0.0.1", &ss, &sl), 0);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 514, "port 514 by default");
	cr_assert_eq(log_parse_net("udp6@[::1]:1514", &ss, &sl), 0);
	cr_assert_eq(ss.ss_family, AF_INET6);
	cr_assert_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 1514);
	cr_assert_eq(log_parse_net("[::1]", &ss, &sl), 0);
	cr_assert_eq(log_parse_net("tcp@127.0.0.1:514", &ss, &sl), -1);
	cr_assert_eq(log_parse_net("host.example:514", &ss, &sl), -1, "no resolver");
	cr_assert_eq(log_parse_net("127.0.0.1:", &ss, &sl), -1);
	cr_assert_eq(log_parse_net("127.0.0.1:65536", &ss, &sl), -1);
	cr_assert_eq(log_parse_net("::1:514", &ss, &sl), -1, "IPv6 with a port needs brackets");
	cr_assert_eq(log_target_is_net("/dev/log"), 0);
	cr_assert_eq(log_target_is_net("unix@/dev/log"), 0);
	cr_assert_neq(log_target_is_net("udp@1.2.3.4"), 0);
}

/* Checks that datagram <buf> (<n> bytes) is a syslog line with <pri> and
 * the sample record's line after the header. */
static void check_datagram(const char *buf, ssize_t n, const char *pri)
{
	struct log_rec r = sample();
	const char *line = fmt(&r);
	char head[64];

	cr_assert_gt(n, 0);
	snprintf(head, sizeof(head), "sluice[%d]: ", (int)getpid());
	cr_assert_eq(strncmp(buf, pri, strlen(pri)), 0, "%.*s", (int)n, buf);
	cr_assert_not_null(memmem(buf, (size_t)n, head, strlen(head)));
	cr_assert_geq((size_t)n, strlen(line));
	cr_assert_eq(memcmp(buf + n - strlen(line), line, strlen(line)), 0, "%.*s", (int)n, buf);
	/* "<134>Mmm dd hh:mm:ss " then the tag */
	cr_assert_eq(buf[strlen(pri) + 3], ' ');
	cr_assert_eq(buf[strlen(pri) + 6], ' ');
	cr_assert_eq(buf[strlen(pri) + 15], ' ');
}

Test(syslog, udp_one_datagram_per_line)
{
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	struct log_rec r = sample();
	char spec[64], buf[LOG_SYSLOG_HDR_MAX + LOG_LINE_MAX], *err = NULL;
	struct log_target *t;

	cr_assert_geq(rx, 0);
	cr_assert_eq(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(rx, (struct sockaddr *)&a, &al), 0);
	snprintf(spec, sizeof(spec), "udp@127.0.0.1:%u", ntohs(a.sin_port));
	t = log_open(spec, &err);
	cr_assert_not_null(t, "%s", err);
	log_emit(t, &r);
	check_datagram(buf, recv(rx, buf, sizeof(buf), 0), "<134>");
	log_close(t);

	snprintf(spec, sizeof(spec), "127.0.0.1:%u local7", ntohs(a.sin_port));
	t = log_open(spec, &err);
	cr_assert_not_null(t, "%s", err);
	log_emit(t, &r);
	check_datagram(buf, recv(rx, buf, sizeof(buf), 0), "<190>");
	cr_assert_eq(log_written(t), 1);
	log_close(t);
	close(rx);
}

Test(syslog, unix_socket_full_drops_without_blocking)
{
	char dir[] = "/tmp/sluice-syslogtest-XXXXXX", path[64], buf[LOG_SYSLOG_HDR_MAX + LOG_LINE_MAX];
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct log_rec r = sample();
	struct log_target *t;
	char *err = NULL;
	int rx, i;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	rx = socket(AF_UNIX, SOCK_DGRAM, 0);
	cr_assert_eq(bind(rx, (struct sockaddr *)&un, sizeof(un)), 0);
	t = log_open(path, &err); /* detected as a socket: no "unix@" needed */
	cr_assert_not_null(t, "%s", err);
	log_emit(t, &r);
	check_datagram(buf, recv(rx, buf, sizeof(buf), 0), "<134>");
	/* nobody reads: the receive queue fills, and emitting must go on at
	 * once, each lost line counted */
	for (i = 0; i < 5000 && log_dropped(t) < 10; i++)
		log_emit(t, &r);
	cr_assert_geq(log_dropped(t), 10, "a full socket drops lines");
	cr_assert_eq(log_written(t) + log_dropped(t), (uint64_t)i + 1);
	log_close(t);

	/* a daemon that is gone: the socket path stays, sends fail, counted */
	t = log_open(path, &err);
	cr_assert_not_null(t, "%s", err);
	close(rx);
	unlink(path);
	log_emit(t, &r);
	cr_assert_eq(log_dropped(t), 1);
	log_close(t);
	rmdir(dir);

	t = log_open("udp@not-an-address:514", &err);
	cr_assert_null(t);
	cr_assert(err && strstr(err, "invalid syslog target 'udp@not-an-address:514'"), "%s", err);
	free(err);
}

#endif

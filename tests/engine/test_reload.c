/* test_reload.c - sluice_reload() through the library, as an embedder calls
 * it. A plain program (not Criterion) so that it also runs under TSan,
 * where the hand-over between generations is worth the most.
 *
 * Checks: a reload keeps the listening address serving (a keep-alive
 * connection opened before it gets its next answer, with Connection:
 * close, from the old configuration; a new connection is served by the
 * new one); an invalid text is refused with name:line and the running
 * configuration stays; tune.bufsize cannot change; nbthread can, both
 * ways; the counters never go backwards; stop, wait and free leave
 * nothing behind (LeakSanitizer).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "engine/sluice.h"

static int failures;
static unsigned long completed; /* atomic: completion hook calls */

/* Completion hook: registered once, before the start; a reload must keep
 * it (the registrations are the handle's, copied into each generation). */
static void on_done(const struct sluice_log *rec, void *arg)
{
	(void)rec, (void)arg;
	__atomic_fetch_add(&completed, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { \
	if (!(cond)) { \
		failures++; \
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

/* Returns a TCP port free on 127.0.0.1 a moment ago. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		perror("free_port");
		exit(2);
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Returns a config text: nbthread <nbt>, tune.bufsize <bufsize>, the stats
 * page on 127.0.0.1:<port>, plus <extra> in the frontend. */
static char *config(int port, int nbt, int bufsize, const char *extra)
{
	char *t = NULL;

	if (asprintf(&t,
		     "global\n"
		     "    nbthread %d\n"
		     "    tune.bufsize %d\n"
		     "    grace 5s\n"
		     "defaults\n"
		     "    mode http\n"
		     "    timeout client 10s\n"
		     "    timeout server 10s\n"
		     "    timeout connect 5s\n"
		     "frontend web\n"
		     "    bind 127.0.0.1:%d\n"
		     "    stats uri /st\n"
		     "%s",
		     nbt, bufsize, port, extra) < 0)
		exit(2);
	return t;
}

/* Connects to 127.0.0.1:<port> with a 5 s receive timeout. Returns the fd. */
static int connect_to(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Sends GET /st on <fd> and reads one whole (chunked) answer into <out>.
 * Returns its length, or -1. */
static int get(int fd, char *out, size_t room)
{
	static const char req[] = "GET /st;json HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t n = 0;

	if (fd < 0 || send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
		return -1;
	while (n + 1 < room) {
		ssize_t r = recv(fd, out + n, room - 1 - n, 0);

		if (r <= 0)
			return -1;
		n += (size_t)r;
		out[n] = 0;
		if (strstr(out, "\r\n0\r\n\r\n"))
			return (int)n;
	}
	return -1;
}

/* One request on a new connection. Returns non-zero when answered 200. */
static int served(int port)
{
	char buf[65536];
	int fd = connect_to(port);
	int ok = get(fd, buf, sizeof(buf)) > 0 && !strncmp(buf, "HTTP/1.1 200", 12);

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Checks that no counter of <b> is below <a>'s. */
static void check_monotonic(const struct sluice_stats *a, const struct sluice_stats *b)
{
	CHECK(b->conn_accepted >= a->conn_accepted, "conn_accepted %llu -> %llu",
	      (unsigned long long)a->conn_accepted, (unsigned long long)b->conn_accepted);
	CHECK(b->req_received >= a->req_received, "req_received went backwards");
	CHECK(b->streams >= a->streams, "streams went backwards");
	CHECK(b->bytes_out >= a->bytes_out, "bytes_out went backwards");
	CHECK(b->stream_calls >= a->stream_calls, "stream_calls went backwards");
	CHECK(b->sched_loops >= a->sched_loops, "sched_loops went backwards");
	CHECK(b->pool_allocs >= a->pool_allocs, "pool_allocs went backwards");
	CHECK(b->reloads >= a->reloads, "reloads went backwards");
}

/* Reloads <text>; after a refusal because older generations still drain,
 * tries again for a while (they end within milliseconds here). */
static int reload(struct sluice *e, const char *text, char **err)
{
	for (int i = 0; i < 100; i++) {
		free(*err);
		*err = NULL;
		if (sluice_reload_text(e, text, "<reload>", err) == 0)
			return 0;
		if (!*err || !strstr(*err, "still finishing"))
			return -1;
		usleep(20000);
	}
	return -1;
}

int main(void)
{
	int port = free_port();
	char *a = config(port, 2, 16384, "");
	char *b = config(port, 1, 16384, "    maxconn 500\n");
	char *c = config(port, 2, 16384, "    maxconn 600\n");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	/* above both the first nbthread (2) and the CPUs: needs a restart */
	char *many = config(port, (int)(ncpu > 2 ? ncpu : 2) + 1, 16384, "");
	char *bad = config(port, 2, 16384, "    bogus-keyword 1\n");
	char *bigbuf = config(port, 2, 32768, "");
	struct sluice_stats s0, s1;
	char buf[65536];
	char *err = NULL;
	struct sluice *e = sluice_new_from_text(a, "<a>", &err);
	int ka;

	if (!e) {
		fprintf(stderr, "cannot build: %s\n", err);
		return 1;
	}
	CHECK(sluice_set_completion_hook(e, on_done, NULL) == SLUICE_OK, "completion hook");
	if (sluice_start(e, &err) < 0) {
		fprintf(stderr, "cannot start: %s\n", err);
		return 1;
	}
	CHECK(served(port), "not served before any reload");

	/* a keep-alive connection of the first generation */
	ka = connect_to(port);
	CHECK(get(ka, buf, sizeof(buf)) > 0 && !strstr(buf, "onnection: close"), "first answer: %s", buf);
	sluice_stats(e, &s0);

	CHECK(reload(e, b, &err) == 0, "reload to b: %s", err ? err : "?");
	free(err);
	err = NULL;
	/* its next request is answered, and it is told to close */
	CHECK(get(ka, buf, sizeof(buf)) > 0 && strstr(buf, "onnection: close"),
	      "keep-alive answer after reload: %s", buf);
	close(ka);
	{
		unsigned long before = __atomic_load_n(&completed, __ATOMIC_RELAXED);

		CHECK(served(port), "not served after reload to b");
		for (int i = 0; i < 100 && __atomic_load_n(&completed, __ATOMIC_RELAXED) == before; i++)
			usleep(10000);
		CHECK(__atomic_load_n(&completed, __ATOMIC_RELAXED) > before,
		      "the completion hook was not called after the reload");
	}
	sluice_stats(e, &s1);
	check_monotonic(&s0, &s1);
	CHECK(s1.reloads == 1 && s1.nbthread == 1, "reloads %llu nbthread %u",
	      (unsigned long long)s1.reloads, s1.nbthread);

	/* refused: a syntax error (named with its line), a new buffer size */
	CHECK(sluice_reload_text(e, bad, "<reload>", &err) < 0 && err && strstr(err, "<reload>:") &&
	      strstr(err, "bogus-keyword"), "bad config: %s", err ? err : "accepted");
	free(err);
	err = NULL;
	CHECK(sluice_reload_text(e, bigbuf, "<reload>", &err) < 0 && err && strstr(err, "tune.bufsize"),
	      "bufsize change: %s", err ? err : "accepted");
	free(err);
	err = NULL;
	CHECK(sluice_reload_text(e, many, "<reload>", &err) < 0 && err && strstr(err, "nbthread"),
	      "nbthread above the CPUs: %s", err ? err : "accepted");
	CHECK(served(port), "not served after refused reloads");
	sluice_stats(e, &s0);
	check_monotonic(&s1, &s0);
	CHECK(s0.reload_failures == 3 && s0.reloads == 1, "failures %llu",
	      (unsigned long long)s0.reload_failures);

	/* nbthread both ways, several times, serving in between */
	for (int i = 0; i < 6; i++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK(reload(e, i % 2 ? c : b, &err) == 0, "reload %d: %s", i, err ? err : "?");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* a figure, not a check: parse, build, bind, start the threads */
		printf("reload %d (nbthread %d): %.2f ms\n", i, i % 2 ? 2 : 1,
		       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
		free(err);
		err = NULL;
		CHECK(served(port), "not served after reload %d", i);
		sluice_stats(e, &s1);
		check_monotonic(&s0, &s1);
		s0 = s1;
	}
	CHECK(s0.reloads == 7 && s0.nbthread == 2, "reloads %llu nbthread %u",
	      (unsigned long long)s0.reloads, s0.nbthread);

	/* NULL: the text the engine was made from */
	CHECK(sluice_reload(e, NULL, &err) == 0 || (err && strstr(err, "still finishing")),
	      "reload of the original text: %s", err ? err : "?");
	free(err);
	err = NULL;

	sluice_stop(e, SLUICE_STOP_GRACEFUL);
	CHECK(sluice_wait(e) == 0, "wait");
	sluice_stats(e, &s1);
	check_monotonic(&s0, &s1);
	CHECK(s1.conn_current == 0 && s1.pool_in_use == 0, "after stop: %llu connections, %llu buffers",
	      (unsigned long long)s1.conn_current, (unsigned long long)s1.pool_in_use);
	CHECK(sluice_reload_text(e, a, "<a>", &err) < 0, "reload of a stopped engine");
	free(err);
	sluice_free(e);
	free(a);
	free(b);
	free(c);
	free(bad);
	free(bigbuf);
	free(many);
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	else
		printf("test_reload: all checks passed\n");
	return failures ? 1 : 0;
}

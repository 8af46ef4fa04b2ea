/* origin.c - sluice-origin: the demo and test origin server of Sluice.
 *
 * Usage: sluice-origin [-l ADDR:PORT]... [-t THREADS] [-n NAME] [-q]
 *
 *   -l ADDR:PORT  listen there: IPv4 "127.0.0.1:8080", IPv6 "[::1]:8080",
 *                 "*:8080" for every IPv4 address; port 0 picks a free
 *                 port. Repeatable. Default 127.0.0.1:8080.
 *   -t THREADS    worker threads, each with its own epoll and its own
 *                 SO_REUSEPORT copy of every listening socket (default 1).
 *   -n NAME       value of the X-Origin header of every answer ("origin").
 *   -q            quiet: only the "listening on" lines and fatal errors.
 *
 * Once every socket listens, prints one line per address on stderr:
 * "listening on ADDR:PORT" (the real port when 0 was asked). SIGTERM and
 * SIGINT stop it with exit status 0; SIGUSR1 prints the counters. The
 * routes are listed in oroute.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "oworker.h"

#define ORIGIN_MAX_ADDRS   16
#define ORIGIN_MAX_THREADS 256
#define ORIGIN_BACKLOG     4096

struct origin_addr {
	struct sockaddr_storage ss;
	socklen_t               len;
};

struct origin_opts {
	struct origin_addr addrs[ORIGIN_MAX_ADDRS];
	size_t             naddrs;
	unsigned           threads;
	struct oconfig     cfg;
};

/* Prints the usage on stderr. */
static void origin_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-l ADDR:PORT]... [-t THREADS] [-n NAME] [-q]\n"
		"  -l ADDR:PORT  127.0.0.1:8080, [::1]:8080, *:8080 (port 0: any free port)\n"
		"  -t THREADS    worker threads (default 1)\n"
		"  -n NAME       X-Origin header value (default \"origin\")\n"
		"  -q            quiet\n", prog);
}

/* Parses "IPV4:PORT", "[IPV6]:PORT" or "*:PORT" into <a>. Returns 0 or -1. */
static int origin_parse_addr(const char *text, struct origin_addr *a)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_text;
	char *end;
	long port;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - text - 1);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		port_text = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - text);
		if (hlen >= sizeof(host))
			return -1;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		port_text = colon + 1;
	}
	errno = 0;
	port = strtol(port_text, &end, 10);
	if (!*port_text || *end || errno || port < 0 || port > 65535)
		return -1;

	if (text[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		a->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (strcmp(host, "*") == 0 || host[0] == '\0')
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		a->len = sizeof(*s4);
	}
	return 0;
}

/* Returns the port of <a> in host order. */
static unsigned origin_port(const struct origin_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* Sets the port of <a>. */
static void origin_set_port(struct origin_addr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
}

/* Writes "ADDR:PORT" (IPv6 in brackets) for <a> into <out>. */
static void origin_format_addr(const struct origin_addr *a, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%u", host, origin_port(a));
	} else {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%u", host, origin_port(a));
	}
}

/* Returns a new non-blocking TCP socket bound to <a>, or -1 with errno
 * set. <reuseport> lets further sockets share the address. */
static int origin_bind(const struct origin_addr *a, int reuseport)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    (a->ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Opens one listening socket per thread on <a> into <fds>; a port 0 in <a>
 * is replaced by the port obtained. Returns 0, or -1 with errno set and no
 * socket left open. */
static int origin_listen(struct origin_addr *a, unsigned threads, int *fds)
{
	int reuseport = threads > 1;
	unsigned i;

	/* SO_REUSEPORT would let us join a group another process (say an
	 * origin of another test) already holds and silently share its
	 * clients: a plain bind first proves the port is free. */
	if (reuseport && origin_port(a) != 0) {
		int probe = origin_bind(a, 0);
		if (probe < 0)
			return -1;
		close(probe);
	}
	for (i = 0; i < threads; i++) {
		fds[i] = origin_bind(a, reuseport);
		if (fds[i] < 0 || listen(fds[i], ORIGIN_BACKLOG) < 0)
			goto fail;
		if (i == 0 && origin_port(a) == 0) {
			struct origin_addr bound = *a;
			bound.len = sizeof(bound.ss);
			if (getsockname(fds[0], (struct sockaddr *)&bound.ss, &bound.len) < 0)
				goto fail;
			origin_set_port(a, origin_port(&bound));
		}
	}
	return 0;
fail:;
	int err = errno;
	for (unsigned j = 0; j <= i && j < threads; j++)
		if (fds[j] >= 0)
			close(fds[j]);
	errno = err;
	return -1;
}

/* Parses the command line into <o>. Returns 0, or the exit status to leave
 * with. */
static int origin_parse_opts(int argc, char **argv, struct origin_opts *o)
{
	int opt;

	o->threads = 1;
	o->cfg.name = "origin";
	while ((opt = getopt(argc, argv, "l:t:n:qh")) != -1) {
		char *end;
		long n;

		switch (opt) {
		case 'l':
			if (o->naddrs == ORIGIN_MAX_ADDRS) {
				fprintf(stderr, "origin: at most %d -l\n", ORIGIN_MAX_ADDRS);
				return 2;
			}
			if (origin_parse_addr(optarg, &o->addrs[o->naddrs]) < 0) {
				fprintf(stderr, "origin: bad address '%s'\n", optarg);
				return 2;
			}
			o->naddrs++;
			break;
		case 't':
			n = strtol(optarg, &end, 10);
			if (*end || n < 1 || n > ORIGIN_MAX_THREADS) {
				fprintf(stderr, "origin: -t wants 1..%d\n", ORIGIN_MAX_THREADS);
				return 2;
			}
			o->threads = (unsigned)n;
			break;
		case 'n':
			if (!*optarg || strpbrk(optarg, "\r\n")) {
				fprintf(stderr, "origin: bad name\n");
				return 2;
			}
			o->cfg.name = optarg;
			break;
		case 'q':
			o->cfg.quiet = true;
			break;
		case 'h':
			origin_usage(argv[0]);
			return 0;
		default:
			origin_usage(argv[0]);
			return 2;
		}
	}
	if (optind != argc) {
		origin_usage(argv[0]);
		return 2;
	}
	if (o->naddrs == 0)
		origin_parse_addr("127.0.0.1:8080", &o->addrs[o->naddrs++]);
	return -1;
}

/* Prints the sum of every worker's counters. */
static void origin_report(const struct origin_opts *o, const struct oworker *ws, const char *what)
{
	unsigned long req = 0, acc = 0, open = 0;

	for (unsigned i = 0; i < o->threads; i++) {
		req += atomic_load_explicit(&ws[i].stats.requests, memory_order_relaxed);
		acc += atomic_load_explicit(&ws[i].stats.accepted, memory_order_relaxed);
		open += atomic_load_explicit(&ws[i].stats.open, memory_order_relaxed);
	}
	fprintf(stderr, "origin %s: %s requests=%lu connections=%lu open=%lu\n",
		o->cfg.name, what, req, acc, open);
}

/* Opens every listening socket and prepares one worker per thread.
 * Returns 0, or -1 after printing why. */
static int origin_setup(struct origin_opts *o, struct oworker *ws)
{
	int *fds = calloc((size_t)o->threads * o->naddrs, sizeof(int));
	int *mine = calloc(o->naddrs, sizeof(int));
	int ret = -1;
	size_t opened = 0;

	if (!fds || !mine) {
		fprintf(stderr, "origin: out of memory\n");
		goto out;
	}
	for (size_t a = 0; a < o->naddrs; a++, opened++) {
		if (origin_listen(&o->addrs[a], o->threads, fds + a * o->threads) < 0) {
			char text[80];
			origin_format_addr(&o->addrs[a], text, sizeof(text));
			fprintf(stderr, "origin: cannot listen on %s: %s\n", text, strerror(errno));
			goto out;
		}
	}
	for (unsigned t = 0; t < o->threads; t++) {
		for (size_t a = 0; a < o->naddrs; a++)
			mine[a] = fds[a * o->threads + t];
		/* from here on the worker owns (and closes) these sockets */
		for (size_t a = 0; a < o->naddrs; a++)
			fds[a * o->threads + t] = -1;
		if (oworker_init(&ws[t], &o->cfg, mine, o->naddrs) < 0) {
			fprintf(stderr, "origin: worker setup: %s\n", strerror(errno));
			goto out;
		}
	}
	ret = 0;
out:
	if (fds)
		for (size_t i = 0; i < opened * o->threads; i++)
			if (fds[i] >= 0)
				close(fds[i]);
	free(fds);
	free(mine);
	return ret;
}

/* Raises the open-file limit to its hard maximum: benchmarks open many
 * connections. */
static void origin_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Waits for signals until told to stop. */
static void origin_wait(const struct origin_opts *o, const struct oworker *ws, const sigset_t *set)
{
	for (;;) {
		int sig = sigwaitinfo(set, NULL);

		if (sig == SIGUSR1)
			origin_report(o, ws, "counters");
		else if (sig == SIGTERM || sig == SIGINT)
			return;
	}
}

int main(int argc, char **argv)
{
	struct origin_opts opts = { 0 };
	struct oworker *ws = NULL;
	sigset_t set;
	int status = 1, err;
	unsigned started = 0;

	int rc = origin_parse_opts(argc, argv, &opts);
	if (rc >= 0)
		return rc;
	origin_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	/* blocked everywhere (workers inherit the mask), taken by sigwaitinfo */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	ws = calloc(opts.threads, sizeof(*ws));
	if (!ws) {
		fprintf(stderr, "origin: out of memory\n");
		return 1;
	}
	for (unsigned t = 0; t < opts.threads; t++)
		ws[t].epfd = ws[t].wakefd = -1;
	if (origin_setup(&opts, ws) < 0)
		goto out;
	for (; started < opts.threads; started++) {
		err = oworker_start(&ws[started]);
		if (err) {
			fprintf(stderr, "origin: cannot start a thread: %s\n", strerror(err));
			goto out;
		}
	}
	for (size_t a = 0; a < opts.naddrs; a++) {
		char text[80];
		origin_format_addr(&opts.addrs[a], text, sizeof(text));
		fprintf(stderr, "listening on %s\n", text);
	}
	if (!opts.cfg.quiet)
		fprintf(stderr, "origin %s: %u thread(s)\n", opts.cfg.name, opts.threads);
	fflush(stderr);

	origin_wait(&opts, ws, &set);
	status = 0;
out:
	for (unsigned t = 0; t < started; t++)
		oworker_stop(&ws[t]);
	if (status == 0 && !opts.cfg.quiet)
		origin_report(&opts, ws, "stopped:");
	for (unsigned t = 0; t < opts.threads; t++)
		oworker_destroy(&ws[t]);
	free(ws);
	return status;
}

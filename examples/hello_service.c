/* hello_service.c - a libsluice service: request handling in host code,
 * written into the engine's pool buffers, never blocking a worker.
 *
 *   hello_service [CONFIG]
 *
 * Registers the service "hello" and runs CONFIG (a file; without it a
 * built-in one on port 8091 where every request but /metrics, which the
 * engine's own prometheus-exporter serves, goes to "hello") until SIGINT
 * or SIGTERM. The service answers
 *   /big[?size=N[&length]]  N bytes (10 MB by default) of the test
 *              origin's pattern (byte i is ALPHABET[i % 61]), streamed
 *              (chunked for HTTP/1.1), or with a Content-Length when the
 *              query has "length". The 10,000,000-byte body's SHA-256 is
 *              7e0d6002...09f (tests/integration/test_hostapi.py checks it
 *              against the pattern it computes itself).
 *   /count     reads the request body in chunks and answers its length
 *              and method as JSON.
 *   anything else: a small JSON answer naming the path and the client.
 * When the pool has no buffer (or the client has not taken the last one)
 * a write says SLUICE_IO_WOULD_BLOCK: the service returns and the engine
 * calls resume() on the same thread once it can go on.
 * Build: cc hello_service.c $(pkg-config --cflags --libs sluice)
 */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sluice.h>

#define ALPHABET "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678"
#define PERIOD 61
#define BLOCK (PERIOD * 1075) /* whole periods, ~64 KiB */

static const char builtin_config[] =
	"global\n  nbthread 2\n"
	"defaults\n  mode http\n  timeout client 10s\n  timeout server 10s\n  timeout connect 2s\n"
	"frontend web\n  bind 127.0.0.1:8091\n  stats uri /stats\n"
	"  http-request use-service prometheus-exporter if { path /metrics }\n"
	"  http-request use-service hello\n";

/* The pattern, read-only once main() filled it. */
static char pattern[BLOCK];

enum kind { K_BIG, K_COUNT, K_SMALL };

/* One request's state. */
struct hello {
	enum kind kind;
	uint64_t size, off;       /* K_BIG: body size and bytes written */
	int with_length;
	uint64_t count;           /* K_COUNT: body bytes read */
	int head_done;
	char method[16];
	char small[256];          /* K_SMALL / K_COUNT: the answer */
	size_t small_len;
};

/* Returns non-zero when <s> is exactly <lit>. */
static int str_is(struct sluice_str s, const char *lit)
{
	return s.len == strlen(lit) && !memcmp(s.ptr, lit, s.len);
}

static enum sluice_result hello_start(struct sluice_svc *svc, const struct sluice_req *r, void *arg)
{
	struct sluice_str path = sluice_req_path(r), q = sluice_req_query(r), m = sluice_req_method(r);
	struct hello *h = calloc(1, sizeof(*h));

	(void)arg;
	if (!h)
		return SLUICE_E_NOMEM;
	snprintf(h->method, sizeof(h->method), "%.*s", (int)m.len, m.ptr);
	if (str_is(path, "/big")) {
		const char *sz = memmem(q.ptr, q.len, "size=", 5);

		h->kind = K_BIG;
		h->size = sz ? strtoull(sz + 5, NULL, 10) : 10000000u;
		h->with_length = memmem(q.ptr, q.len, "length", 6) != NULL;
	} else if (str_is(path, "/count")) {
		h->kind = K_COUNT;
	} else {
		h->kind = K_SMALL;
		h->small_len = (size_t)snprintf(h->small, sizeof(h->small),
			"{\"hello\":\"world\",\"path\":\"%.*s\",\"client\":\"%s\",\"http\":%d}\n",
			(int)(path.len < 64 ? path.len : 64), path.ptr, sluice_req_client_addr(r),
			sluice_req_http_version(r));
	}
	sluice_svc_set_ctx(svc, h);
	return SLUICE_OK; /* the writing happens in resume() */
}

/* Writes a small answer held in h->small. */
static void write_small(struct sluice_svc *svc, struct hello *h)
{
	struct sluice_header hd[] = { { "Content-Type", "application/json" } };
	size_t w;

	if (!h->head_done) {
		if (sluice_svc_head(svc, 200, hd, 1, (int64_t)h->small_len) != SLUICE_IO_OK)
			return;
		h->head_done = 1;
	}
	while (h->off < h->small_len) {
		if (sluice_svc_write(svc, h->small + h->off, h->small_len - h->off, &w) == SLUICE_IO_ERROR)
			return;
		h->off += w;
		if (!w)
			return; /* would block: resumed later */
	}
	(void)sluice_svc_finish(svc);
}

static void hello_resume(struct sluice_svc *svc, void *arg)
{
	struct hello *h = sluice_svc_ctx(svc);
	struct sluice_header hd[] = { { "Content-Type", "application/octet-stream" } };
	size_t room, w;

	(void)arg;
	if (h->kind == K_COUNT && !h->head_done) {
		const void *p;
		size_t len;
		enum sluice_io io;

		/* read the body as it comes, then answer */
		while ((io = sluice_svc_body(svc, &p, &len)) == SLUICE_IO_OK) {
			h->count += len;
			sluice_svc_body_consume(svc, len);
		}
		if (io != SLUICE_IO_END)
			return;
		h->small_len = (size_t)snprintf(h->small, sizeof(h->small),
			"{\"method\":\"%s\",\"bytes\":%" PRIu64 "}\n", h->method, h->count);
		h->kind = K_SMALL;
	}
	if (h->kind == K_SMALL) {
		write_small(svc, h);
		return;
	}
	if (!h->head_done) {
		if (sluice_svc_head(svc, 200, hd, 1, h->with_length ? (int64_t)h->size : -1) != SLUICE_IO_OK)
			return;
		h->head_done = 1;
	}
	/* as much as the buffer takes, straight from the pattern */
	while (h->off < h->size) {
		size_t phase = (size_t)(h->off % PERIOD), n = BLOCK - phase;

		if (sluice_svc_room(svc, &room) != SLUICE_IO_OK)
			return;
		if (n > room)
			n = room;
		if (n > h->size - h->off)
			n = (size_t)(h->size - h->off);
		if (sluice_svc_write(svc, pattern + phase, n, &w) == SLUICE_IO_ERROR)
			return;
		h->off += w;
	}
	(void)sluice_svc_finish(svc);
}

static void hello_end(struct sluice_svc *svc, int aborted, void *arg)
{
	(void)aborted;
	(void)arg;
	free(sluice_svc_ctx(svc));
}

static const struct sluice_service_ops hello_ops = {
	.start = hello_start,
	.resume = hello_resume,
	.end = hello_end,
};

int main(int argc, char **argv)
{
	char *err = NULL;
	struct sluice *e;
	sigset_t set;
	int sig;

	for (size_t i = 0; i < BLOCK; i++)
		pattern[i] = ALPHABET[i % PERIOD];
	e = argc > 1 ? sluice_new_from_file(argv[1], &err)
		     : sluice_new_from_text(builtin_config, "hello-builtin", &err);
	if (!e || sluice_register_service(e, "hello", &hello_ops, NULL) != SLUICE_OK) {
		fprintf(stderr, "hello_service: %s\n", err ? err : "cannot register the service");
		free(err);
		sluice_free(e);
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (sluice_start(e, &err) < 0) {
		fprintf(stderr, "hello_service: %s\n", err ? err : "cannot start");
		free(err);
		sluice_free(e);
		return 1;
	}
	fprintf(stderr, "hello_service: ready\n");
	sigwait(&set, &sig);
	sluice_stop(e, SLUICE_STOP_GRACEFUL);
	sluice_wait(e);
	sluice_free(e);
	return 0;
}

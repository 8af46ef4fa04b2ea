/* router.c - routing decided in host code, through libsluice's request
 * hook, and every transaction reported through its completion hook.
 *
 *   router [CONFIG]
 *
 * Runs the proxy of CONFIG (a file; without it a built-in one: port 8090
 * in front of 127.0.0.1:8081 "web", :8082 "api" and :8083 "static") until
 * SIGINT or SIGTERM. For each request the hook
 *   - answers 403 itself for paths under /admin,
 *   - sends paths under /api to backend "api",
 *   - sends requests whose Host is static.example to backend "static",
 *   - adds "X-Router: <backend>" to what it forwards,
 *   - with an "X-Grow: N" header, adds a header of N bytes (to show that
 *     an edit beyond tune.maxrewrite gives a clean 500),
 * and passes the rest to the frontend's default backend. Each finished
 * transaction prints one line to stderr:
 *   done STATUS FRONTEND BACKEND SERVER IN OUT TW TERM METHOD URI
 * Build: cc router.c $(pkg-config --cflags --libs sluice)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sluice.h>

static const char builtin_config[] =
	"global\n  nbthread 2\n"
	"defaults\n  mode http\n  timeout client 10s\n  timeout server 10s\n  timeout connect 2s\n"
	"frontend web\n  bind 127.0.0.1:8090\n  default_backend web\n"
	"backend web\n  server w1 127.0.0.1:8081\n"
	"backend api\n  server a1 127.0.0.1:8082\n"
	"backend static\n  server s1 127.0.0.1:8083\n";

/* Returns non-zero when <s> starts with the path segment <prefix>. */
static int path_under(struct sluice_str s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.len >= n && !memcmp(s.ptr, prefix, n) && (s.len == n || s.ptr[n] == '/');
}

/* The request hook: runs on a worker thread, must not block. */
static enum sluice_verdict route(struct sluice_req *r, void *arg)
{
	struct sluice_str path = sluice_req_path(r), host, grow;
	const char *be = NULL;

	(void)arg;
	if (path_under(path, "/admin")) {
		static const char body[] = "forbidden by the router\n";
		struct sluice_header h[] = { { "Content-Type", "text/plain" }, { "X-Router", "denied" } };

		if (sluice_req_answer(r, 403, h, 2, body, sizeof(body) - 1) != SLUICE_OK)
			return SLUICE_PASS; /* no memory: let the backend answer */
		return SLUICE_ANSWER;
	}
	if (path_under(path, "/api"))
		be = "api";
	else if (sluice_req_header(r, "host", 0, &host) >= 0 && host.len == 14 &&
		 !memcmp(host.ptr, "static.example", 14))
		be = "static";
	if (be && sluice_req_use_backend(r, be) != SLUICE_OK)
		be = NULL;
	/* an edit that does not fit makes the engine answer 500 */
	if (sluice_req_set_header(r, "X-Router", be ? be : "default") != SLUICE_OK)
		return SLUICE_PASS;
	if (sluice_req_header(r, "x-grow", 0, &grow) >= 0) {
		size_t n = (size_t)strtoul(grow.ptr, NULL, 10);
		char *v = n && n < (1u << 20) ? malloc(n + 1) : NULL;

		if (v) {
			memset(v, 'g', n);
			v[n] = 0;
			(void)sluice_req_add_header(r, "X-Grown", v);
			free(v);
		}
	}
	return SLUICE_PASS;
}

/* The completion hook: one line per transaction, in one write. */
static void done(const struct sluice_log *l, void *arg)
{
	(void)arg;
	fprintf(stderr, "done %d %s %s %s %llu %llu %lld %s %.*s %.*s\n", l->status, l->frontend,
		l->backend ? l->backend : "-", l->server ? l->server : "-",
		(unsigned long long)l->bytes_in, (unsigned long long)l->bytes_out, (long long)l->tw_ms,
		l->term, (int)l->method_len, l->method ? l->method : "-", (int)l->uri_len,
		l->uri ? l->uri : "-");
}

int main(int argc, char **argv)
{
	char *err = NULL;
	struct sluice *e;
	sigset_t set;
	int sig;

	e = argc > 1 ? sluice_new_from_file(argv[1], &err)
		     : sluice_new_from_text(builtin_config, "router-builtin", &err);
	if (!e || sluice_set_request_hook(e, route, NULL) != SLUICE_OK ||
	    sluice_set_completion_hook(e, done, NULL) != SLUICE_OK) {
		fprintf(stderr, "router: %s\n", err ? err : "cannot set up");
		free(err);
		sluice_free(e);
		return 1;
	}
	/* the workers inherit the mask: signals come to sigwait() only */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (sluice_start(e, &err) < 0) {
		fprintf(stderr, "router: %s\n", err ? err : "cannot start");
		free(err);
		sluice_free(e);
		return 1;
	}
	fprintf(stderr, "router: ready (libsluice %s, API %d)\n", sluice_version(), SLUICE_API_VERSION);
	sigwait(&set, &sig);
	sluice_stop(e, SLUICE_STOP_GRACEFUL);
	sluice_wait(e);
	sluice_free(e);
	return 0;
}

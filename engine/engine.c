/* engine.c - the engine's life: build from a config, bind, run the worker
 * threads, stop gracefully, and sum the counters (the public API of
 * sluice.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/server/backend.h"
#include "engine/server/check.h"
#include "engine/core/conn.h"
#include "engine/core/ctx.h"
#include "engine/server/h2back.h"
#include "engine/client/h2front.h"
#include "engine/client/cli.h"
#include "engine/client/listener.h"
#include "engine/server/srvconn.h"
#include "engine/core/log.h"
#include "engine/client/stream.h"
#include "engine/host.h"
#include "engine/client/statshist.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

/* How often the housekeeping task of a stopping thread looks again. */
#define HOUSE_PERIOD_MS 50

const char *sluice_version(void) { return SLUICE_VERSION; }
const char *sluice_default_config(void) { return cfg_default_text(); }

/* Returns a malloc'ed message built from <fmt>, or NULL without memory. */
static char *eng_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *eng_msg(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return msg;
}

/* ---- building ---- */

/* Builds the run-time engine around a parsed config (which it then owns).
 * Returns NULL with *err set on failure; <c> is freed then. */
static struct sluice *eng_build(struct cfg *c, const char *name, char **err)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct pool_config pc = { 0 };

	if (!e) {
		cfg_free(c);
		*err = eng_msg("out of memory");
		return NULL;
	}
	e->cfg = c;
	e->stop_mode = -1;
	e->nbthread = c->g.nbthread;
	pc.bufsize = c->g.bufsize;
	pc.nbthread = e->nbthread;
	pc.limit = c->g.buf_limit;
	pc.reserve = c->g.buf_reserve;
	pc.fail_ppm = (uint32_t)(c->g.fail_alloc_pct * 10000.0);
	pc.fail_seed = (uint64_t)getpid() * 2654435761u;
	e->pool = pool_create(&pc);
	if (!e->pool)
		goto fail;
	e->sched = sched_create(e->nbthread);
	if (!e->sched)
		goto fail;
	e->tcs = aligned_alloc(ENG_LINE, sizeof(*e->tcs) * e->nbthread);
	if (!e->tcs)
		goto fail;
	memset(e->tcs, 0, sizeof(*e->tcs) * e->nbthread);
	e->nb_bes = c->nb_backends;
	e->bes = calloc(c->nb_backends + 1, sizeof(*e->bes));
	if (!e->bes)
		goto fail;
	for (unsigned i = 0; i < c->nb_backends; i++) {
		e->bes[i] = be_new(&c->backends[i], e->nbthread);
		if (!e->bes[i])
			goto fail;
	}
	e->nb_fes = c->nb_frontends;
	e->fes = calloc(c->nb_frontends + 1, sizeof(*e->fes));
	if (!e->fes)
		goto fail;
	for (unsigned i = 0; i < c->nb_frontends; i++) {
		struct frontend *fe = &e->fes[i];

		fe->cfg = &c->frontends[i];
		fe->be = fe->cfg->backend_idx >= 0 ? e->bes[fe->cfg->backend_idx] : NULL;
		fe->maxconn = fe->cfg->maxconn ? fe->cfg->maxconn : c->g.maxconn;
		e->nb_binds += fe->cfg->nb_binds;
	}
	if (eng_host_init(e) < 0)
		goto fail;
	return (struct sluice *)e;
fail:
	*err = eng_msg("cannot set up the engine: %s", strerror(errno ? errno : ENOMEM));
	sluice_free((struct sluice *)e);
	return NULL;
}

struct sluice *sluice_new_from_text(const char *text, const char *name, char **err)
{
	struct cfg *c = cfg_parse_text(text, name ? name : "<config>", err);

	return c ? eng_build(c, name ? name : "<config>", err) : NULL;
}

struct sluice *sluice_new_from_file(const char *path, char **err)
{
	struct cfg *c = cfg_parse_file(path, err);

	return c ? eng_build(c, path, err) : NULL;
}

const char *sluice_warnings(const struct sluice *se)
{
	return ((const struct engine *)se)->cfg->warnings;
}

void sluice_set_debug(struct sluice *se, int level)
{
	((struct engine *)se)->debug = level;
}

/* ---- listeners ---- */

/* Opens one listening socket for <b>. Returns the fd or -1 with errno. */
static int eng_bind_one(const struct cfg_bind *b)
{
	int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -1;
	/* one socket per thread on the same address: the kernel spreads the
	 * connections over them without a shared accept queue */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (b->addr.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	/* accepted sockets inherit it (Linux clones the listener's TCP
	 * options): one call here instead of one per connection */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&b->addr, b->addrlen) < 0 || listen(fd, 1024) < 0)
		goto fail;
	return fd;
fail:
	{
		int keep = errno;

		close(fd);
		errno = keep;
	}
	return -1;
}

/* Binds every listener for every thread. Returns 0 or -1 with *err set. */
static int eng_bind_all(struct engine *e, char **err)
{
	unsigned n = 0;

	e->bind_fds = malloc(sizeof(int) * (e->nb_binds * e->nbthread + 1));
	if (!e->bind_fds) {
		*err = eng_msg("out of memory");
		return -1;
	}
	for (unsigned f = 0; f < e->nb_fes; f++) {
		const struct cfg_frontend *fc = e->fes[f].cfg;

		for (unsigned b = 0; b < fc->nb_binds; b++) {
			for (unsigned t = 0; t < e->nbthread; t++) {
				int fd = eng_bind_one(&fc->binds[b]);

				if (fd < 0) {
					*err = eng_msg("frontend '%s' (line %d): cannot bind: %s",
						       fc->name, fc->binds[b].line, strerror(errno));
					while (n)
						close(e->bind_fds[--n]);
					free(e->bind_fds);
					e->bind_fds = NULL;
					return -1;
				}
				e->bind_fds[n++] = fd;
			}
		}
	}
	return 0;
}

/* ---- per-thread life ---- */

/* Housekeeping task of a thread: applies a stop request, resumes paused
 * listeners, and ends the engine once every connection is gone. */
static void house_cb(struct tasklet *t, unsigned reasons)
{
	struct thr_ctx *tc = t->ctx;
	struct engine *e = tc->eng;
	int mode = __atomic_load_n(&e->stop_mode, __ATOMIC_ACQUIRE);

	eng_debug(e, "thread %u: housekeeping, stop mode %d, %u connections", tc->tid, mode,
		  __atomic_load_n(&e->conn_cur, __ATOMIC_RELAXED));
	if (mode < 0) {
		listener_resume_all(tc);
		return;
	}
	if (!tc->stopping) {
		tc->stopping = 1;
		for (unsigned i = 0; i < tc->nb_lis; i++)
			listener_close(&tc->lis[i]);
		srvconn_close_all(tc);
		h2front_stop_all(tc, 0);
		h2back_stop_all(tc, 0);
		stream_stop_all(tc, 0);
	}
	if (mode == SLUICE_STOP_NOW ||
	    (mode == SLUICE_STOP_GRACEFUL && tc_now(tc) >= e->stop_deadline_ms)) {
		h2front_stop_all(tc, 1);
		stream_stop_all(tc, 1);
	}
	if (__atomic_load_n(&e->conn_cur, __ATOMIC_RELAXED) == 0) {
		sched_stop(e->sched);
		return;
	}
	task_schedule(&tc->house, tc_now(tc) + HOUSE_PERIOD_MS);
}

/* Starts (<start>) or stops the health checks that live on thread <tc>:
 * those of the servers whose index, counted over all backends, is the
 * thread's modulo nbthread. Returns 0, or an errno when one cannot start. */
static int thr_checks(struct thr_ctx *tc, int start)
{
	struct engine *e = tc->eng;
	unsigned k = 0;

	for (unsigned b = 0; b < e->nb_bes; b++) {
		/* the configured servers only: those added at run time have
		 * no check, and counting them would move the others' threads */
		for (unsigned i = 0; i < e->bes[b]->cfg->nb_servers; i++, k++) {
			struct server *srv = e->bes[b]->srv[i];

			if (k % e->nbthread != tc->tid)
				continue;
			if (!start)
				check_stop(srv->check);
			else if (check_start(tc, srv, e->pool) < 0)
				return errno ? errno : ENOMEM;
		}
	}
	return 0;
}

/* Start hook of a worker thread: its context, listeners and housekeeping. */
static int thr_start(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	unsigned tid = sched_thread_id(thr);
	struct thr_ctx *tc = &e->tcs[tid];
	unsigned n = 0;

	tlsmem_bind(&tc->tlsmem);
	eng_list_init(&tc->streams);
	eng_list_init(&tc->h2fronts);
	eng_list_init(&tc->h2backs);
	tc->trash = malloc(e->cfg->g.bufsize);
	pipe_thread_init();
	tc->lis = calloc(e->nb_binds + 1, sizeof(*tc->lis));
	if (!tc->trash || !tc->lis)
		return ENOMEM;
	/* bind_fds is laid out frontend by bind by thread */
	for (unsigned f = 0, k = 0; f < e->nb_fes; f++) {
		for (unsigned b = 0; b < e->fes[f].cfg->nb_binds; b++, k++) {
			int ret = listener_init(&tc->lis[n++], tc, &e->fes[f], e->bind_fds[k * e->nbthread + tid],
						&e->fes[f].cfg->binds[b]);

			if (ret)
				return ret;
		}
	}
	tc->nb_lis = n;
	if (tid == 0)
		stats_hist_start(e->hist, thr);
	if (tid == 0 && e->cfg->g.cli_path) {
		e->cli = cli_open(tc);
		if (!e->cli)
			return errno ? errno : EIO;
	}
	return thr_checks(tc, 1);
}

/* Idle hook: the pool trims and serves waiters from this thread's cache. */
static void thr_idle(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;

	pool_thread_idle(e->pool, sched_thread_id(thr), sched_now_ms(thr));
}

/* Stop hook: whatever is left on this thread is closed and freed here. */
static int thr_stop(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	struct thr_ctx *tc = &e->tcs[sched_thread_id(thr)];

	h2front_stop_all(tc, 1);
	stream_stop_all(tc, 1);
	srvconn_close_all(tc);
	h2back_stop_all(tc, 1);
	pipe_cache_flush(tc); /* the streams gave theirs back above */
	(void)thr_checks(tc, 0);
	if (tc->tid == 0) {
		stats_hist_stop(e->hist);
		cli_close(e->cli);
		e->cli = NULL;
	}
	for (unsigned i = 0; i < tc->nb_lis; i++)
		listener_close(&tc->lis[i]);
	task_kill(&tc->house, 0);
	pool_thread_idle(e->pool, tc->tid, UINT64_MAX / 2);
	return 0;
}

int sluice_start(struct sluice *se, char **err)
{
	struct engine *e = (struct engine *)se;

	if (e->started) {
		*err = eng_msg("engine already started");
		return -1;
	}
	if (sluice_check(se, err) < 0)
		return -1;
	if (e->cfg->g.log_target && !e->log) {
		e->log = log_open(e->cfg->g.log_target, err);
		if (!e->log)
			return -1;
	}
	/* the page's history: its memory is taken once, here */
	if (!e->hist && !(e->hist = stats_hist_new(e, SP_HIST_POINTS, SP_HIST_PERIOD_MS))) {
		*err = eng_msg("out of memory for the stats history");
		return -1;
	}
	if (eng_bind_all(e, err) < 0)
		return -1;
	e->start_ms = sched_clock_ms();
	/* the housekeeping tasks exist before the threads do, so that a stop
	 * requested right after start finds them; they run once the loops do */
	for (unsigned t = 0; t < e->nbthread; t++) {
		struct thr_ctx *tc = &e->tcs[t];

		tc->eng = e;
		tc->tid = t;
		tc->thr = sched_thread_get(e->sched, t);
		task_init(&tc->house, tc->thr, house_cb, tc);
	}
	sched_set_hooks(e->sched, thr_start, thr_idle, thr_stop, e);
	if (sched_start(e->sched) < 0) {
		*err = eng_msg("cannot start %u threads: %s", e->nbthread, strerror(errno));
		return -1;
	}
	__atomic_store_n(&e->started, 1, __ATOMIC_RELEASE);
	return 0;
}

void sluice_stop(struct sluice *se, enum sluice_stop_mode mode)
{
	struct engine *e = (struct engine *)se;
	int cur = __atomic_load_n(&e->stop_mode, __ATOMIC_ACQUIRE);

	/* a harder mode wins: NOW > GRACEFUL > SOFT */
	int rank_new = mode == SLUICE_STOP_NOW ? 3 : mode == SLUICE_STOP_GRACEFUL ? 2 : 1;
	int rank_cur = cur < 0 ? 0 : cur == SLUICE_STOP_NOW ? 3 : cur == SLUICE_STOP_GRACEFUL ? 2 : 1;

	if (!__atomic_load_n(&e->started, __ATOMIC_ACQUIRE) || rank_new <= rank_cur)
		return;
	e->stop_deadline_ms = sched_clock_ms() + e->cfg->g.grace_ms;
	__atomic_store_n(&e->stop_mode, (int)mode, __ATOMIC_RELEASE);
	for (unsigned t = 0; t < e->nbthread; t++)
		task_wakeup(&e->tcs[t].house, SCHED_R_STOP);
}

int sluice_wait(struct sluice *se)
{
	struct engine *e = (struct engine *)se;

	int ret;

	if (!e->started)
		return 0;
	/* <started> stays set while joining: sluice_stop() from another
	 * thread must still reach the workers */
	ret = sched_join(e->sched);
	__atomic_store_n(&e->started, 0, __ATOMIC_RELEASE);
	return ret;
}

void sluice_free(struct sluice *se)
{
	struct engine *e = (struct engine *)se;

	if (!e)
		return;
	if (e->started) {
		sluice_stop(se, SLUICE_STOP_NOW);
		(void)sluice_wait(se);
	}
	if (e->sched)
		sched_destroy(e->sched);
	stats_hist_free(e->hist);
	if (e->tcs) {
		for (unsigned t = 0; t < e->nbthread; t++) {
			free(e->tcs[t].trash);
			free(e->tcs[t].lis);
		}
		free(e->tcs);
	}
	if (e->bes) {
		for (unsigned i = 0; i < e->nb_bes; i++) {
			/* checks are freed once no thread can run them */
			for (unsigned k = 0; e->bes[i] && k < e->bes[i]->nb_srv; k++)
				check_free(e->bes[i]->srv[k]->check);
			be_free(e->bes[i]);
		}
		free(e->bes);
	}
	free(e->fes);
	log_close(e->log);
	free(e->bind_fds);
	if (e->pool)
		pool_destroy(e->pool);
	cfg_free(e->cfg);
	eng_host_free(e);
	free(e);
}

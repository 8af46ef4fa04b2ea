/* engine.c - the engine's life: the handle of the public API (sluice.h)
 * and the life of one generation: build from a config, bind (or take over
 * the previous generation's sockets), run the worker threads, stop
 * gracefully, join and free. Reloading is in reload.c; the invariants of
 * the handle and its generations are listed above struct sluice (core/ctx.h).
 */
#include <errno.h>
#include <pthread.h>
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
#include "engine/gen.h"
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
char *eng_msg(const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	return msg;
}

/* ---- building a generation ---- */

struct engine *gen_new(struct sluice *h, struct cfg *c, unsigned slot, char **err)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e) {
		cfg_free(c);
		*err = eng_msg("out of memory");
		return NULL;
	}
	e->cfg = c;
	e->owner = h;
	e->reload = sluice_reload;
	e->slot = slot;
	e->pool = h->pool;
	e->debug = h->debug;
	e->stop_mode = -1;
	e->nbthread = c->g.nbthread;
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
	return e;
fail:
	*err = eng_msg("cannot set up the engine: %s", strerror(errno ? errno : ENOMEM));
	(void)gen_reap(e);
	return NULL;
}

/* ---- listeners ---- */

/* Opens one listening socket for <b>, of an HTTP frontend when <http>.
 * Returns the fd or -1 with errno. */
static int eng_bind_one(const struct cfg_bind *b, int http)
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
	/* an HTTP client speaks first: the kernel hands the connection over
	 * once its first bytes are there (or, with none, after about a
	 * second), so the accepting thread reads the request at once instead
	 * of waiting for a poller round. Not in TCP mode, where the server
	 * may be the one to speak first. */
	if (http && setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one)) < 0)
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

/* Returns non-zero when <a> and <b> are the same address and port. */
static int eng_addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) &&
		       x->sin6_scope_id == y->sin6_scope_id;
	}
	return 0;
}

/* Returns bind line <k> of <e> (index over all frontends, frontend by bind). */
static const struct cfg_bind *gen_bind_line(const struct engine *e, unsigned k, const struct cfg_frontend **fc)
{
	for (unsigned f = 0; f < e->nb_fes; f++) {
		if (k < e->fes[f].cfg->nb_binds) {
			*fc = e->fes[f].cfg;
			return &e->fes[f].cfg->binds[k];
		}
		k -= e->fes[f].cfg->nb_binds;
	}
	return NULL;
}

/* Moves to <e> (as bind line <k>, of an HTTP frontend when <http>) the
 * sockets of <prev> listening on the address of <b> and not moved yet.
 * Returns how many it moved. */
static unsigned gen_adopt(struct engine *e, unsigned k, const struct cfg_bind *b, int http,
			  struct engine *prev)
{
	unsigned n = 0;

	for (unsigned k2 = 0; prev && k2 < prev->nb_binds; k2++) {
		const struct cfg_frontend *fc;
		const struct cfg_bind *pb = gen_bind_line(prev, k2, &fc);
		int taken = 0;

		if (!pb || !eng_addr_same(&pb->addr, &b->addr))
			continue;
		for (unsigned i = 0; i < prev->nb_lfds; i++) {
			struct eng_lfd *pl = &prev->lfds[i];

			if (pl->bind != k2 || pl->keep)
				continue;
			pl->keep = 1;
			/* the address may have changed mode (see eng_bind_one);
			 * a failure only costs the deferral or a delay, as on a
			 * kernel without the option */
			(void)setsockopt(pl->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &http, sizeof(http));
			e->lfds[e->nb_lfds++] = (struct eng_lfd){ .fd = pl->fd, .bind = k,
				.thr = n % e->nbthread, .keep = 1, .adopted = 1 };
			n++;
			taken = 1;
		}
		if (taken)
			break;
	}
	return n;
}

int gen_bind(struct engine *e, struct engine *prev, char **err)
{
	unsigned k = 0;

	e->lfds = calloc(e->nb_binds * e->nbthread + (prev ? prev->nb_lfds : 0) + 1, sizeof(*e->lfds));
	if (!e->lfds) {
		*err = eng_msg("out of memory");
		return -1;
	}
	for (unsigned f = 0; f < e->nb_fes; f++) {
		const struct cfg_frontend *fc = e->fes[f].cfg;

		for (unsigned b = 0; b < fc->nb_binds; b++, k++) {
			/* a reload keeps every socket of a kept address, even
			 * past nbthread (the threads share the extra ones):
			 * closing one would reset the connections queued on it */
			unsigned n = gen_adopt(e, k, &fc->binds[b], fc->mode == CFG_MODE_HTTP, prev);

			for (; n < e->nbthread; n++) {
				int fd = eng_bind_one(&fc->binds[b], fc->mode == CFG_MODE_HTTP);

				if (fd < 0) {
					*err = eng_msg("frontend '%s' (line %d): cannot bind: %s",
						       fc->name, fc->binds[b].line, strerror(errno));
					gen_unbind(e, prev);
					return -1;
				}
				e->lfds[e->nb_lfds++] = (struct eng_lfd){ .fd = fd, .bind = k, .thr = n % e->nbthread };
			}
		}
	}
	return 0;
}

void gen_unbind(struct engine *e, struct engine *prev)
{
	for (unsigned i = 0; i < e->nb_lfds; i++) {
		struct eng_lfd *l = &e->lfds[i];

		if (l->adopted) {
			/* <prev> owns it again */
			for (unsigned j = 0; prev && j < prev->nb_lfds; j++) {
				if (prev->lfds[j].fd == l->fd)
					prev->lfds[j].keep = 0;
			}
		} else if (!l->closed) {
			close(l->fd);
		}
		l->keep = 1;
		l->closed = 1;
	}
}

/* The worker context of the calling thread, NULL outside the workers: a
 * reload asked from a worker (the command socket) must not wait for its
 * own thread. Per thread, set and cleared by the thread itself. */
static __thread struct thr_ctx *eng_self;

/* Notes that <tc> no longer listens (idempotent) and wakes gen_retire(). */
static void thr_deaf(struct thr_ctx *tc)
{
	struct sluice *h = tc->eng->owner;

	pthread_mutex_lock(&h->end_mu);
	if (!tc->deaf) {
		tc->deaf = 1;
		tc->eng->threads_deaf++;
		h->end_seq++;
		pthread_cond_broadcast(&h->end_cv);
	}
	pthread_mutex_unlock(&h->end_mu);
}

/* Stops the listeners of <tc>: a socket the next generation took is only
 * unregistered, the others are closed, with <drain> after accepting what
 * is queued on them (a graceful stop; a thread that stops at once would
 * only accept connections to close them). Idempotent. */
static void thr_listeners_off(struct thr_ctx *tc, int drain)
{
	struct engine *e = tc->eng;

	for (unsigned i = 0; i < tc->nb_lis; i++) {
		struct listener *l = &tc->lis[i];

		for (unsigned j = 0; l->fd >= 0 && j < e->nb_lfds; j++) {
			struct eng_lfd *lf = &e->lfds[j];

			if (lf->fd != l->fd || lf->thr != tc->tid)
				continue;
			listener_stop(l, lf->keep, drain);
			if (!lf->keep)
				lf->closed = 1;
		}
	}
}

/* ---- per-thread life ---- */

/* Housekeeping task of a thread: applies a stop request, resumes paused
 * listeners, and ends the generation once every connection is gone. */
static void house_cb(struct tasklet *t, unsigned reasons)
{
	struct thr_ctx *tc = t->ctx;
	struct engine *e = tc->eng;
	int mode = __atomic_load_n(&e->stop_mode, __ATOMIC_ACQUIRE);

	eng_debug(e, "thread %u (generation %u): housekeeping, stop mode %d, %u connections", tc->tid,
		  e->gen, mode, __atomic_load_n(&e->conn_cur, __ATOMIC_RELAXED));
	if (mode < 0) {
		listener_resume_all(tc);
		return;
	}
	if (!tc->stopping) {
		tc->stopping = 1;
		thr_listeners_off(tc, mode != SLUICE_STOP_NOW);
		thr_deaf(tc);
		srvconn_close_all(tc);
		if (eng_closes_idle(e))
			h2front_stop_all(tc, 0);
		else
			h2front_retire_all(tc);
		h2back_stop_all(tc, 0);
		stream_stop_all(tc, 0);
	}
	if (mode == SLUICE_STOP_NOW ||
	    (mode == SLUICE_STOP_GRACEFUL && tc_now(tc) >= e->stop_deadline_ms)) {
		for (unsigned i = 0; i < tc->nb_lis; i++)
			listener_close(&tc->lis[i]); /* handshakes still running */
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

/* Tells the owner that one more thread of <e> is past its stop hook (or
 * failed to start); the last one marks the generation ended. */
static void thr_gone(struct engine *e)
{
	struct sluice *h = e->owner;

	if (__atomic_sub_fetch(&e->threads_live, 1, __ATOMIC_ACQ_REL) == 0) {
		pthread_mutex_lock(&h->end_mu);
		__atomic_store_n(&e->ended, 1, __ATOMIC_RELEASE);
		h->end_seq++;
		pthread_cond_broadcast(&h->end_cv);
		pthread_mutex_unlock(&h->end_mu);
	}
}

/* Sets up a worker thread: its context, listeners and checks. */
static int thr_setup(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	unsigned tid = sched_thread_id(thr);
	struct thr_ctx *tc = &e->tcs[tid];
	unsigned n = 0;

	tlsmem_bind(&tc->tlsmem);
	eng_list_init(&tc->streams);
	eng_list_init(&tc->idle_clis);
	eng_list_init(&tc->h2fronts);
	eng_list_init(&tc->h2backs);
	tc->trash = malloc(e->cfg->g.bufsize);
	pipe_thread_init();
	tc->lis = calloc(e->nb_lfds + 1, sizeof(*tc->lis));
	if (!tc->trash || !tc->lis)
		return ENOMEM;
	for (unsigned i = 0; i < e->nb_lfds; i++) {
		const struct eng_lfd *lf = &e->lfds[i];
		const struct cfg_frontend *fc = NULL;
		unsigned k = lf->bind;
		unsigned f = 0;
		int ret;

		if (lf->thr != tid)
			continue;
		while (k >= e->fes[f].cfg->nb_binds)
			k -= e->fes[f++].cfg->nb_binds;
		fc = e->fes[f].cfg;
		ret = listener_init(&tc->lis[n], tc, &e->fes[f], lf->fd, &fc->binds[k]);
		if (ret)
			return ret;
		tc->nb_lis = ++n;
	}
	if (tid == 0)
		stats_hist_start(e->hist, thr);
	if (tid == 0 && e->cfg->g.cli_path) {
		e->cli = cli_open(tc);
		if (!e->cli)
			return errno ? errno : EIO;
	}
	return thr_checks(tc, 1);
}

/* Start hook of a worker thread: tells gen_start() whether it is ready. A
 * thread whose start fails gets no stop hook: it is gone at once. */
static int thr_start(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	struct sluice *h = e->owner;
	int ret = thr_setup(thr, arg);

	eng_self = ret ? NULL : &e->tcs[sched_thread_id(thr)];

	pthread_mutex_lock(&h->end_mu);
	if (ret && !e->start_err)
		e->start_err = ret;
	else if (!ret)
		e->threads_ready++;
	h->end_seq++;
	pthread_cond_broadcast(&h->end_cv);
	pthread_mutex_unlock(&h->end_mu);
	if (ret) {
		tlsmem_bind(NULL);
		thr_gone(e);
	}
	return ret;
}

/* Idle hook: the pool trims and serves waiters from this thread's cache;
 * the thread's cache of OpenSSL blocks is given back now and then. */
static void thr_idle(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	uint64_t now = sched_now_ms(thr);

	pool_thread_idle(e->pool, e->tcs[sched_thread_id(thr)].pool_tid, now);
	tlsmem_idle(now);
}

/* Stop hook: whatever is left on this thread is closed and freed here.
 * The last thread of the generation to pass here tells the owner. */
static int thr_stop(struct sched_thread *thr, void *arg)
{
	struct engine *e = arg;
	struct thr_ctx *tc = &e->tcs[sched_thread_id(thr)];

	thr_listeners_off(tc, 0);
	thr_deaf(tc);
	eng_self = NULL;
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
	pool_thread_idle(e->pool, tc->pool_tid, UINT64_MAX / 2);
	tlsmem_bind(NULL);      /* every SSL object of the thread is freed above */
	thr_gone(e);
	return 0;
}

int gen_start(struct engine *e, char **err)
{
	struct sluice *h = e->owner;
	int ret;

	/* what the program registered before the start, for the workers
	 * (its service array stays the owner's) */
	e->host = h->host;
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
	e->start_ms = h->start_ms;
	/* the housekeeping tasks exist before the threads do, so that a stop
	 * requested right after start finds them; they run once the loops do */
	for (unsigned t = 0; t < e->nbthread; t++) {
		struct thr_ctx *tc = &e->tcs[t];

		tc->eng = e;
		tc->tid = t;
		tc->pool_tid = e->slot * h->stride + t;
		tc->thr = sched_thread_get(e->sched, t);
		task_init(&tc->house, tc->thr, house_cb, tc);
	}
	e->threads_live = e->nbthread;
	sched_set_hooks(e->sched, thr_start, thr_idle, thr_stop, e);
	if (sched_start(e->sched) < 0) {
		*err = eng_msg("cannot start %u threads: %s", e->nbthread, strerror(errno));
		return -1;
	}
	/* running means every thread listens: a reload retires the old
	 * generation only then */
	pthread_mutex_lock(&h->end_mu);
	while (e->threads_ready < e->nbthread && !e->start_err)
		pthread_cond_wait(&h->end_cv, &h->end_mu);
	ret = e->start_err;
	pthread_mutex_unlock(&h->end_mu);
	if (ret) {
		/* the failed thread stopped the others */
		(void)sched_join(e->sched);
		*err = eng_msg("cannot start the worker threads: %s", strerror(ret));
		return -1;
	}
	__atomic_store_n(&e->started, 1, __ATOMIC_RELEASE);
	return 0;
}

void gen_stop(struct engine *e, enum sluice_stop_mode mode)
{
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

int gen_on_worker(void)
{
	return eng_self != NULL;
}

void gen_retire(struct engine *e)
{
	struct sluice *h = e->owner;

	__atomic_store_n(&e->retiring, 1, __ATOMIC_RELAXED);
	gen_stop(e, SLUICE_STOP_GRACEFUL);
	if (eng_self && eng_self->eng == e) {
		/* our own thread: its housekeeping cannot run while we wait */
		thr_listeners_off(eng_self, 1);
		thr_deaf(eng_self);
	}
	pthread_mutex_lock(&h->end_mu);
	while (e->threads_deaf < e->nbthread && !__atomic_load_n(&e->ended, __ATOMIC_ACQUIRE))
		pthread_cond_wait(&h->end_cv, &h->end_mu);
	pthread_mutex_unlock(&h->end_mu);
}

/* Adds the counters of <e>'s threads to the owner's carry (under its lock). */
static void gen_carry(struct engine *e)
{
	struct sluice *h = e->owner;

#define GEN_CARRY(name, src, ...) GEN_CARRY_##src(name)
#define GEN_CARRY_THR(name) c->name += tc->cnt.name;
#define GEN_CARRY_CLASS(name) for (int i = 0; i < 6; i++) c->name[i] += tc->cnt.name[i];
#define GEN_CARRY_SNAP(name)
#define GEN_CARRY_WAITERS(name)
#define GEN_CARRY_SCHED(name)
	for (unsigned t = 0; t < e->nbthread && t < h->stride; t++) {
		struct eng_counters *c = &h->carry[t].cnt;
		const struct thr_ctx *tc = &e->tcs[t];
		struct sched_stats ss;

		SLUICE_COUNTERS(GEN_CARRY)
		c->conn_closed += tc->cnt.conn_closed;
		c->h2_conn_closed += tc->cnt.h2_conn_closed;
		c->h2_srv_conn_closed += tc->cnt.h2_srv_conn_closed;
		sched_stats(e->sched, t, &ss);
		h->carry[t].ss.loops += ss.loops;
		h->carry[t].ss.tasklets_run += ss.tasklets_run;
		h->carry[t].ss.tasks_run += ss.tasks_run;
		for (int r = 0; r < SCHED_R_COUNT; r++)
			h->carry[t].ss.wakeups_by_reason[r] += ss.wakeups_by_reason[r];
		h->carry[t].ss.remote_wakeups += ss.remote_wakeups;
		h->carry[t].ss.kicks += ss.kicks;
		h->carry[t].ss.timers_fired += ss.timers_fired;
		h->carry[t].ss.polls += ss.polls;
		h->carry[t].ss.io_events += ss.io_events;
	}
#undef GEN_CARRY
}

int gen_reap(struct engine *e)
{
	struct sluice *h = e->owner;
	int ret = 0;

	if (__atomic_load_n(&e->started, __ATOMIC_ACQUIRE)) {
		/* <started> stays set while joining: a stop from another
		 * thread must still reach the workers */
		ret = sched_join(e->sched);
		__atomic_store_n(&e->started, 0, __ATOMIC_RELEASE);
	}
	/* leaving the list and moving its counters to the carry is one step
	 * for the snapshots */
	pthread_mutex_lock(&h->stats_lock);
	for (struct engine **pg = &h->gens; *pg; pg = &(*pg)->next) {
		if (*pg == e) {
			*pg = e->next;
			break;
		}
	}
	if (e->sched && e->tcs)
		gen_carry(e);
	for (unsigned t = 0; e->tcs && t < e->nbthread; t++)
		tlsmem_add(&h->tls_carry, &e->tcs[t].tlsmem);
	h->slots_used &= ~(1u << e->slot);
	pthread_mutex_unlock(&h->stats_lock);
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
	for (unsigned i = 0; i < e->nb_lfds; i++) {
		/* a socket no listener took (a start that failed) */
		if (!e->lfds[i].keep && !e->lfds[i].closed)
			close(e->lfds[i].fd);
	}
	free(e->lfds);
	free(e->fes);
	log_close(e->log);
	cfg_free(e->cfg);
	free(e);
	return ret;
}

/* ---- the handle ---- */

/* Builds the handle around a parsed config (which it then owns) and its
 * first generation. Returns NULL with *err set; <c> is freed then. */
static struct sluice *eng_new(struct cfg *c, const char *path, const char *text, const char *name,
			      char **err)
{
	struct sluice *h = calloc(1, sizeof(*h));
	struct pool_config pc = { 0 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (!h) {
		cfg_free(c);
		*err = eng_msg("out of memory");
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->stats_lock, NULL);
	pthread_mutex_init(&h->end_mu, NULL);
	pthread_cond_init(&h->end_cv, NULL);
	/* a reload may change nbthread up to the larger of the first value
	 * and the CPUs: every generation's threads have lanes of their own */
	h->stride = c->g.nbthread > (unsigned)(ncpu > 0 ? ncpu : 1) ? c->g.nbthread : (unsigned)(ncpu > 0 ? ncpu : 1);
	h->carry = calloc(h->stride, sizeof(*h->carry));
	h->path = path ? strdup(path) : NULL;
	h->text = text ? strdup(text) : NULL;
	h->name = name ? strdup(name) : NULL;
	if (!h->carry || (path && !h->path) || (text && !h->text) || (name && !h->name))
		goto fail;
	pc.bufsize = c->g.bufsize;
	pc.nbthread = c->g.nbthread;
	pc.lanes = ENG_GEN_SLOTS * h->stride;
	pc.limit = c->g.buf_limit;
	pc.reserve = c->g.buf_reserve;
	pc.fail_ppm = (uint32_t)(c->g.fail_alloc_pct * 10000.0);
	pc.fail_seed = (uint64_t)getpid() * 2654435761u;
	h->pool = pool_create(&pc);
	if (!h->pool)
		goto fail;
	if (eng_host_init(h) < 0)
		goto fail;
	h->live = h->gens = gen_new(h, c, 0, err);
	c = NULL;
	if (!h->live) {
		sluice_free(h);
		return NULL;
	}
	h->live->gen = 1;
	h->slots_used = 1;
	return h;
fail:
	cfg_free(c);
	*err = eng_msg("cannot set up the engine: %s", strerror(errno ? errno : ENOMEM));
	sluice_free(h);
	return NULL;
}

struct sluice *sluice_new_from_text(const char *text, const char *name, char **err)
{
	struct cfg *c = cfg_parse_text(text, name ? name : "<config>", err);

	return c ? eng_new(c, NULL, text, name ? name : "<config>", err) : NULL;
}

struct sluice *sluice_new_from_file(const char *path, char **err)
{
	struct cfg *c = cfg_parse_file(path, err);

	return c ? eng_new(c, path, NULL, NULL, err) : NULL;
}

const char *sluice_warnings(const struct sluice *h)
{
	return h->live->cfg->warnings;
}

void sluice_set_debug(struct sluice *h, int level)
{
	pthread_mutex_lock(&h->lock);
	h->debug = level;
	for (struct engine *g = h->gens; g; g = g->next)
		g->debug = level;
	pthread_mutex_unlock(&h->lock);
}

int sluice_start(struct sluice *h, char **err)
{
	int ret = -1;

	pthread_mutex_lock(&h->lock);
	if (h->started || h->stopping) {
		*err = eng_msg(h->started ? "engine already started" : "engine already stopped");
		goto out;
	}
	h->start_ms = sched_clock_ms();
	if (eng_host_check(h->live, &h->host, err) < 0 || gen_bind(h->live, NULL, err) < 0)
		goto out;
	if (gen_start(h->live, err) < 0) {
		gen_unbind(h->live, NULL);
		goto out;
	}
	h->started = 1;
	ret = 0;
out:
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void sluice_stop(struct sluice *h, enum sluice_stop_mode mode)
{
	pthread_mutex_lock(&h->lock);
	if (h->started) {
		h->stopping = 1;
		for (struct engine *g = h->gens; g; g = g->next)
			gen_stop(g, mode);
	}
	pthread_mutex_unlock(&h->lock);
}

/* Joins and frees the generations other than the live one whose threads
 * ended (under the lock). */
void gen_reap_retired(struct sluice *h)
{
	struct engine *g, *next;

	/* only this thread (holding <lock>) changes the list */
	for (g = h->gens; g; g = next) {
		next = g->next;
		if (g != h->live && __atomic_load_n(&g->ended, __ATOMIC_ACQUIRE))
			(void)gen_reap(g);
	}
}

int sluice_wait(struct sluice *h)
{
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->started) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	for (;;) {
		unsigned seq;

		pthread_mutex_lock(&h->end_mu);
		seq = h->end_seq;
		pthread_mutex_unlock(&h->end_mu);
		gen_reap_retired(h);
		if (__atomic_load_n(&h->live->ended, __ATOMIC_ACQUIRE) && !h->gens->next)
			break;
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_lock(&h->end_mu);
		while (h->end_seq == seq)
			pthread_cond_wait(&h->end_cv, &h->end_mu);
		pthread_mutex_unlock(&h->end_mu);
		pthread_mutex_lock(&h->lock);
	}
	/* the live generation stays (its counters and config) until freed */
	if (__atomic_load_n(&h->live->started, __ATOMIC_ACQUIRE)) {
		ret = sched_join(h->live->sched);
		__atomic_store_n(&h->live->started, 0, __ATOMIC_RELEASE);
	}
	h->started = 0;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void sluice_free(struct sluice *h)
{
	if (!h)
		return;
	if (h->started) {
		sluice_stop(h, SLUICE_STOP_NOW);
		(void)sluice_wait(h);
	}
	while (h->gens)
		(void)gen_reap(h->gens); /* unlinks it */
	if (h->pool)
		pool_destroy(h->pool);
	eng_host_free(h);
	free(h->carry);
	free(h->path);
	free(h->text);
	free(h->name);
	pthread_cond_destroy(&h->end_cv);
	pthread_mutex_destroy(&h->end_mu);
	pthread_mutex_destroy(&h->stats_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

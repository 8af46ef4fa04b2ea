/* stats.c - taking snapshots of an engine: the counters of sluice.h summed
 * over the threads, and the stats page's snapshot (statspage.h).
 *
 * This is the only part of the stats page that reads the engine's private
 * structures; engine/core/statspage.c renders what this file copied out. Most
 * of the copying is generated from the lists of sluice.h and statspage.h,
 * so that a THR counter added to SLUICE_COUNTERS needs nothing here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/server/backend.h"
#include "engine/server/check.h"
#include "engine/core/ctx.h"
#include "engine/client/stats.h"
#include "engine/client/statshist.h"

/* Returns a relaxed read of a counter another thread writes. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Adds the per-thread counters of one line of SLUICE_COUNTERS, by source. */
#define STATS_ADD(name, src, ...) STATS_ADD_##src(name)
#define STATS_ADD_THR(name) o->name += RD(c->name);
#define STATS_ADD_CLASS(name) for (int i = 0; i < 6; i++) o->name[i] += RD(c->name[i]);
#define STATS_ADD_SNAP(name)
#define STATS_ADD_WAITERS(name)
#define STATS_ADD_SCHED(name)

/* Adds one thread's counters <c> into <o>: every THR and CLASS line, and
 * the "open now" gauges, which a thread knows as opened minus closed. */
static void stats_add_thread(const struct eng_counters *c, struct sluice_stats *o)
{
	SLUICE_COUNTERS(STATS_ADD)
	o->h2_conn_current += RD(c->h2_conn_accepted) - RD(c->h2_conn_closed);
	o->h2_srv_conn_current += RD(c->h2_srv_conn_opened) - RD(c->h2_srv_conn_closed);
}

/* Fills the OpenSSL heap gauges: what freed generations' workers had
 * counted, every live generation's workers' buckets, plus the shared one
 * (core/tlsmem.h); only the sum is exact, a thread's share may be < 0.
 * Under the stats lock. */
static void stats_tls_heap(const struct sluice *h, struct sluice_stats *o)
{
	struct tlsmem_cnt sum = h->tls_carry;

	o->tls_heap_counted = (uint64_t)tlsmem_counted();
	if (!o->tls_heap_counted)
		return;
	for (const struct engine *e = h->gens; e; e = e->next)
		for (unsigned t = 0; t < e->nbthread; t++)
			tlsmem_add(&sum, &e->tcs[t].tlsmem);
	tlsmem_add_shared(&sum);
	o->tls_heap_bytes = sum.bytes > 0 ? (uint64_t)sum.bytes : 0;
	o->tls_heap_blocks = sum.blocks > 0 ? (uint64_t)sum.blocks : 0;
}

/* Sums <e>'s schedulers' figures into <o>. */
static void stats_add_sched(const struct sched_stats *ss, struct sluice_stats *o)
{
	o->sched_loops += ss->loops;
	o->sched_tasks_run += ss->tasks_run;
	o->sched_tasklets_run += ss->tasklets_run;
	o->sched_timers_fired += ss->timers_fired;
}

/* The engine-wide snapshot: what freed generations carried, plus every
 * generation still alive (the live one and those draining after a
 * reload), under the handle's lock so that a generation moves from one to
 * the other in one step and no counter goes backwards. */
void sluice_stats(const struct sluice *hc, struct sluice_stats *o)
{
	struct sluice *h = (struct sluice *)hc; /* the stats lock only */
	struct pool_stats ps;
	struct sched_stats ss;

	memset(o, 0, sizeof(*o));
	pthread_mutex_lock(&h->stats_lock);
	o->nbthread = h->live->nbthread;
	o->reloads = h->reloads;
	o->reload_failures = h->reload_failures;
	for (unsigned t = 0; t < h->stride; t++) {
		stats_add_thread(&h->carry[t].cnt, o);
		stats_add_sched(&h->carry[t].ss, o);
	}
	for (const struct engine *e = h->gens; e; e = e->next) {
		for (unsigned t = 0; t < e->nbthread; t++)
			stats_add_thread(&e->tcs[t].cnt, o);
		o->conn_current += RD(e->conn_cur);
		for (unsigned b = 0; b < e->nb_bes; b++)
			o->queued_now += be_queued(e->bes[b]);
		sched_stats(e->sched, -1u, &ss);
		stats_add_sched(&ss, o);
	}
	stats_tls_heap(h, o);
	pthread_mutex_unlock(&h->stats_lock);

	pool_stats(h->pool, -1u, &ps);
	o->pool_allocated = ps.allocated;
	o->pool_peak_allocated = ps.peak_allocated;
	o->pool_in_use = ps.in_use > 0 ? (uint64_t)ps.in_use : 0;
	o->pool_peak_in_use = ps.peak_in_use;
	o->pool_allocs = ps.allocs;
	o->pool_failed = ps.failed;
	o->pool_injected = ps.injected;
	o->pool_waiting = ps.waiting;
	o->pool_waits_total = ps.waits_total;
	o->pool_handoffs = ps.handoffs;
	o->pool_notifies = ps.notifies;
	o->pool_takes = ps.takes;
	o->pool_passes_on = ps.passes_on;
	o->pool_trims = ps.trims;
	o->pool_lock_acquisitions = ps.lock_acquisitions;
	o->pool_shared_atomics = ps.shared_atomics;
	o->pool_limit = ps.limit;
	o->pool_reserve = ps.reserve;
	o->pool_bufsize = ps.bufsize;
}

int sluice_stats_json(const struct sluice *se, char *dst, unsigned room)
{
	struct sluice_stats s;

	sluice_stats(se, &s);
	return statspage_json_flat(&s, dst, room);
}

/* ---- the stats page's snapshot ---- */

/* Writes "addr:port" of <ss> into <dst>. */
static void stats_addr(const struct sockaddr_storage *ss, char *dst, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(dst, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(dst, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
	} else {
		snprintf(dst, size, "?");
	}
}

/* Fills row <o> from server <s>: slots and queue under the backend lock
 * (they change together), the rest with relaxed or acquire loads. */
static void stats_collect_server(const struct server *s, uint64_t now_ms, uint64_t uptime_ms,
				 struct statspage_server *o)
{
	const struct check *chk = __atomic_load_n(&s->check, __ATOMIC_ACQUIRE);
	struct backend *be = s->be;

	o->name = s->cfg->name;
	stats_addr(&s->cfg->addr, o->addr, sizeof(o->addr));
	pthread_spin_lock(&be->lock);
	o->cur = s->cur;
	o->queue = s->queue.len;
	o->weight = s->uweight;
	pthread_spin_unlock(&be->lock);
	o->total = RD(s->total);
	o->failures = RD(s->failures);
	o->maxconn = s->maxconn;
	switch (__atomic_load_n(&s->admin, __ATOMIC_ACQUIRE)) {
	case SRV_ADMIN_MAINT:
		o->state = STATSPAGE_MAINT;
		break;
	case SRV_ADMIN_DRAIN:
		o->state = STATSPAGE_DRAIN;
		break;
	default:
		if (s->cfg->disabled)
			o->state = STATSPAGE_MAINT;
		else
			o->state = __atomic_load_n(&s->down, __ATOMIC_ACQUIRE) ? STATSPAGE_DOWN : STATSPAGE_UP;
	}
	o->up = o->state == STATSPAGE_UP && o->weight;
	o->last_change_s = uptime_ms / 1000;
	if (chk) {
		struct check_stats cs;

		check_read(chk, &cs);
		o->checked = 1;
		o->chk_ok = cs.ok;
		o->chk_failed = cs.failed;
		o->chk_buf_waits = cs.buf_waits;
		o->chk_buf_timeouts = cs.buf_timeouts;
		o->chk_bufs_taken = cs.bufs_taken;
		o->chk_bufs_released = cs.bufs_released;
		o->chk_changes = cs.changes;
		o->last_change_s = now_ms > cs.last_change_ms ? (now_ms - cs.last_change_ms) / 1000 : 0;
		o->chk_duration_ms = cs.last_duration_ms;
		o->chk_last_status = (uint64_t)(cs.last_status > 0 ? cs.last_status : 0);
		o->chk_reason = check_reason_str(cs.last_reason);
	}
}

/* Copies one line of SP_THREAD_FIELDS from its source. */
#define STATS_THR(f, src, sf, ...) STATS_THR_##src(f, sf)
#define STATS_THR_SCHED(f, sf) o->f = ss.sf;
#define STATS_THR_POOL(f, sf) o->f = ps.sf;
#define STATS_THR_ENG(f, sf) o->f = c.sf;

/* Adds one line of SP_THREAD_FIELDS of one source into the row's sums. */
#define STATS_SUM_SCHED(f, src, sf, ...) STATS_SUM_SCHED_##src(sf)
#define STATS_SUM_SCHED_SCHED(sf) ss.sf += one.sf;
#define STATS_SUM_SCHED_POOL(sf)
#define STATS_SUM_SCHED_ENG(sf)
#define STATS_SUM_POOL(f, src, sf, ...) STATS_SUM_POOL_##src(sf)
#define STATS_SUM_POOL_SCHED(sf)
#define STATS_SUM_POOL_POOL(sf) ps.sf += pone.sf;
#define STATS_SUM_POOL_ENG(sf)
#define STATS_SUM_ENG(f, src, sf, ...) STATS_SUM_ENG_##src(sf)
#define STATS_SUM_ENG_SCHED(sf)
#define STATS_SUM_ENG_POOL(sf)
#define STATS_SUM_ENG_ENG(sf) c.sf += RD(tc->sf);

/* Fills row <o> of thread index <t> of handle <h> (under its lock): what
 * freed generations carried for that index plus the generations alive,
 * and the pool lanes of that index in every generation slot, so that a
 * reload never makes a thread's counter go backwards. */
static void stats_collect_thread(const struct sluice *h, unsigned t, struct statspage_thread *o)
{
	struct eng_counters c = h->carry[t].cnt;
	struct sched_stats ss = h->carry[t].ss;
	struct pool_stats ps;

	memset(&ps, 0, sizeof(ps));
	for (const struct engine *e = h->gens; e; e = e->next) {
		const struct eng_counters *tc = &e->tcs[t].cnt;
		struct sched_stats one;

		if (t >= e->nbthread)
			continue;
		sched_stats(e->sched, t, &one);
		SP_THREAD_FIELDS(STATS_SUM_SCHED)
		SP_THREAD_FIELDS(STATS_SUM_ENG)
	}
	for (unsigned k = 0; k < ENG_GEN_SLOTS; k++) {
		struct pool_stats pone;

		pool_stats(h->pool, k * h->stride + t, &pone);
		SP_THREAD_FIELDS(STATS_SUM_POOL)
	}
	SP_THREAD_FIELDS(STATS_THR)
}

struct statspage_data *statspage_collect(const struct engine *e, unsigned refresh_s)
{
	struct statspage_data *d;
	unsigned nb_srv = 0, k = 0;
	uint64_t now_ms = sched_clock_ms();
	size_t size;
	char *p;

	/* servers added meanwhile are left for the next snapshot: the rows
	 * below never go past the count taken here */
	for (unsigned b = 0; b < e->nb_bes; b++)
		nb_srv += be_nb_srv(e->bes[b]);
	size = sizeof(*d) + e->nb_fes * sizeof(*d->fe) + e->nb_bes * sizeof(*d->be) +
	       nb_srv * sizeof(*d->srv) + e->nbthread * sizeof(*d->thr);
	d = calloc(1, size);
	if (!d)
		return NULL;
	/* the rows follow the header in the same block; every row type is
	 * made of 8-byte fields, so they stay aligned */
	p = (char *)(d + 1);
	d->fe = (struct statspage_frontend *)p;
	p += e->nb_fes * sizeof(*d->fe);
	d->be = (struct statspage_backend *)p;
	p += e->nb_bes * sizeof(*d->be);
	d->srv = (struct statspage_server *)p;
	p += nb_srv * sizeof(*d->srv);
	d->thr = (struct statspage_thread *)p;
	d->nb_fe = e->nb_fes;
	d->nb_be = e->nb_bes;
	d->nb_srv = nb_srv; /* lowered below when servers were removed */
	d->nb_thr = e->nbthread;

	sluice_stats(e->owner, &d->st);
	pool_stats(e->pool, -1u, &d->pool);
	d->version = SLUICE_VERSION;
	/* the engine's uptime: a reload does not reset it */
	d->uptime_ms = e->start_ms && now_ms > e->start_ms ? now_ms - e->start_ms : 0;
	d->refresh_s = refresh_s;
	for (unsigned f = 0; f < e->nb_fes; f++) {
		const struct frontend *fe = &e->fes[f];

		d->fe[f] = (struct statspage_frontend){
			.name = fe->cfg->name, .conn_cur = RD(fe->conn_cur),
			.maxconn = fe->maxconn, .binds = fe->cfg->nb_binds,
		};
	}
	for (unsigned b = 0; b < e->nb_bes; b++) {
		const struct backend *be = e->bes[b];
		struct statspage_backend *o = &d->be[b];

		o->name = be->cfg->name;
		o->balance_lc = be->cfg->balance == CFG_BALANCE_LC;
		o->first_srv = k;
		o->queue = be_queued(e->bes[b]);
		for (unsigned i = 0, n = be_nb_srv(be); i < n && k < nb_srv; i++) {
			const struct server *srv = __atomic_load_n(&be->srv[i], __ATOMIC_ACQUIRE);
			struct statspage_server *s;

			if (be_server_gone(srv))
				continue; /* removed: no longer shown */
			s = &d->srv[k++];
			o->servers++;
			stats_collect_server(srv, now_ms, d->uptime_ms, s);
			o->cur += s->cur;
			o->total += s->total;
			o->failures += s->failures;
			o->active += s->up;
		}
	}
	d->nb_srv = k;
	pthread_mutex_lock(&e->owner->stats_lock);
	for (unsigned t = 0; t < e->nbthread; t++)
		stats_collect_thread(e->owner, t, &d->thr[t]);
	pthread_mutex_unlock(&e->owner->stats_lock);
	stats_hist_read(e->hist, d, 0);
	return d;
}

void statspage_collect_points(const struct engine *e, struct statspage_data *d)
{
	free(d->pts);
	stats_hist_read(e->hist, d, 1);
}

void statspage_free(struct statspage_data *d)
{
	if (d)
		free(d->pts);
	free(d);
}

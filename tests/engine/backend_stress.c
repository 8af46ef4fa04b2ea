/* backend_stress.c - server slots and queues (engine/backend.c) under
 * several threads at once: takes, releases, queue timeouts that race with
 * hand-overs, full queues, a server going down and coming back, and
 * servers added, put in maintenance and removed while streams pick.
 *
 * A plain program (it returns non-zero on failure) rather than a Criterion
 * suite, so that it also runs in the TSan build, where Criterion cannot.
 *
 * What it checks, from the streams' side:
 * - no server ever has more streams holding one of its slots than its
 *   maxconn;
 * - a queued entry is notified exactly once when it is served, and never
 *   when it left the queue by cancelling;
 * - a cancel that finds the entry served hands the caller the slot, whose
 *   release serves the next one (no slot lost, none doubled);
 * - at the end every slot is back (cur == 0), no entry is queued, and each
 *   server's `total` equals the slots the streams saw it hand out;
 * - a removed server is never handed out again, and its removal is only
 *   accepted once no stream holds it (the added servers count together,
 *   as one server: one of them lives at a time).
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/server/backend.h"

#define NB_SRV     3
#define NB_THREADS 6
#define ITERS      2000
#define DYN        NB_SRV    /* index of the added servers in the counts */
#define DYN_MAXCONN 2
#define DYN_ROUNDS 100       /* servers added (and removed) per run */

static const unsigned maxconn[NB_SRV + 1] = { 1, 2, 3, DYN_MAXCONN };

static struct cfg_server cfg_srv[NB_SRV];
static struct cfg_backend cfg_be;
static struct backend *be;

/* Streams holding a slot of each server, as the streams count them. */
static unsigned held[NB_SRV + 1];
static uint64_t handed[NB_SRV + 1];     /* slots the streams obtained */
static uint64_t n_full, n_queued, n_cancelled, n_cancel_served;
static int failed;
static int stop_flapper;

struct stream_ent {
	struct qent q;
	unsigned notified;                  /* atomic */
};

static void notify(struct qent *q)
{
	struct stream_ent *s = q->ctx;

	__atomic_fetch_add(&s->notified, 1, __ATOMIC_RELAXED);
}

#define CHECK(cond, ...) do { if (!(cond)) { \
	fprintf(stderr, "backend_stress: " __VA_ARGS__); fputc('\n', stderr); \
	__atomic_store_n(&failed, 1, __ATOMIC_RELAXED); } } while (0)

/* Returns a cheap per-thread pseudo-random number. */
static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* The stream holds a slot of <srv>: counts it, checks the bound, works a
 * little, and gives it back. */
static void use_slot(struct server *srv, unsigned *seed)
{
	unsigned i = srv->own_cfg ? DYN : (unsigned)(srv->cfg - be->cfg->servers);
	unsigned now = __atomic_add_fetch(&held[i], 1, __ATOMIC_RELAXED);

	CHECK(!be_server_gone(srv), "a removed server was handed out");

	__atomic_fetch_add(&handed[i], 1, __ATOMIC_RELAXED);
	CHECK(now <= maxconn[i], "server %u: %u streams hold a slot, maxconn %u", i, now, maxconn[i]);
	/* hold it across a yield now and then, so that on a machine with
	 * fewer cores than threads the others find servers busy and queue */
	if (rnd(seed) % 2)
		sched_yield();
	__atomic_sub_fetch(&held[i], 1, __ATOMIC_RELAXED);
	be_release_slot(srv);
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
	struct stream_ent s;

	for (int it = 0; it < ITERS && !__atomic_load_n(&failed, __ATOMIC_RELAXED); it++) {
		struct server *avoid = rnd(&seed) % 4 == 0 ? be->srv[rnd(&seed) % NB_SRV] : NULL;
		struct server *srv;
		int ret;

		memset(&s, 0, sizeof(s));
		qent_init(&s.q, notify, &s);
		ret = be_assign(be, &s.q, NULL, avoid, (uint64_t)it);
		if (ret == BE_FULL) {
			__atomic_fetch_add(&n_full, 1, __ATOMIC_RELAXED);
			CHECK(s.q.state == QE_IDLE, "BE_FULL left the entry in state %d", s.q.state);
			continue;
		}
		if (ret == BE_NOSRV)
			continue; /* the flapper may have every server down: not here */
		if (ret == BE_ASSIGNED) {
			use_slot(s.q.srv, &seed);
			continue;
		}
		__atomic_fetch_add(&n_queued, 1, __ATOMIC_RELAXED);
		/* wait a random while, then time out */
		srv = NULL;
		for (unsigned tries = rnd(&seed) % 20; tries && !srv; tries--) {
			srv = qent_take(&s.q);
			if (!srv)
				sched_yield();
		}
		if (srv) {
			CHECK(__atomic_load_n(&s.notified, __ATOMIC_RELAXED) == 1,
			      "served entry notified %u times", s.notified);
			use_slot(srv, &seed);
			continue;
		}
		__atomic_fetch_add(&n_cancelled, 1, __ATOMIC_RELAXED);
		if (qent_cancel(&s.q)) {
			/* served between the last look and the cancel */
			__atomic_fetch_add(&n_cancel_served, 1, __ATOMIC_RELAXED);
			CHECK(__atomic_load_n(&s.notified, __ATOMIC_RELAXED) == 1,
			      "served-then-cancelled entry notified %u times", s.notified);
			use_slot(s.q.srv, &seed);
		} else {
			CHECK(__atomic_load_n(&s.notified, __ATOMIC_RELAXED) == 0,
			      "cancelled entry notified %u times", s.notified);
		}
		CHECK(s.q.state == QE_IDLE, "entry in state %d after cancel", s.q.state);
	}
	return NULL;
}

/* Takes the biggest server down and brings it back, as checks would. */
static void *flapper(void *arg)
{
	struct server *s = be->srv[NB_SRV - 1];

	(void)arg;
	while (!__atomic_load_n(&stop_flapper, __ATOMIC_RELAXED)) {
		__atomic_store_n(&s->down, 1, __ATOMIC_RELEASE);
		for (int k = 0; k < 2000; k++)
			__asm__ __volatile__("" ::: "memory");
		__atomic_store_n(&s->down, 0, __ATOMIC_RELEASE);
		be_server_up(s);
		for (int k = 0; k < 2000; k++)
			__asm__ __volatile__("" ::: "memory");
	}
	return NULL;
}

/* Adds a server, lets it serve, puts it in maintenance and removes it as
 * soon as no stream holds it, DYN_ROUNDS times, as a host would. */
static void *churner(void *arg)
{
	(void)arg;
	for (unsigned k = 0; k < DYN_ROUNDS && !__atomic_load_n(&stop_flapper, __ATOMIC_RELAXED); k++) {
		struct server *s;
		char name[16];
		int rc;

		snprintf(name, sizeof(name), "dyn%u", k);
		rc = be_server_add(be, name, "127.0.0.1:1", 1, DYN_MAXCONN, SRV_ADMIN_READY);
		CHECK(rc == BE_SRV_OK, "add %s: %s", name, be_srv_strerror(rc));
		s = be_find_server(be, name);
		CHECK(s != NULL, "%s not found once added", name);
		if (!s)
			return NULL;
		for (int w = 0; w < 20; w++)
			sched_yield();
		be_server_set_admin(s, SRV_ADMIN_MAINT);
		while ((rc = be_server_del(s)) == BE_SRV_BUSY)
			sched_yield();
		CHECK(rc == BE_SRV_OK, "del %s: %s", name, be_srv_strerror(rc));
		CHECK(be_find_server(be, name) == NULL, "%s found once removed", name);
	}
	return NULL;
}

/* Runs the workers against a backend balanced by <balance> with a queue
 * bound of <maxqueue>. Returns 0 when every check held. */
static int run(int balance, unsigned maxqueue)
{
	pthread_t th[NB_THREADS], fl, ch;
	uint64_t total = 0, got = 0;

	memset(held, 0, sizeof(held));
	memset(handed, 0, sizeof(handed));
	n_full = n_queued = n_cancelled = n_cancel_served = 0;
	stop_flapper = 0;
	static char *const names[NB_SRV] = { "s0", "s1", "s2" };

	for (unsigned i = 0; i < NB_SRV; i++)
		cfg_srv[i] = (struct cfg_server){ .name = names[i], .maxconn = maxconn[i], .weight = 1 };
	cfg_be = (struct cfg_backend){ .name = "b", .balance = balance, .maxqueue = maxqueue,
	                               .servers = cfg_srv, .nb_servers = NB_SRV };
	be = be_new(&cfg_be, NB_THREADS);
	if (!be) {
		fprintf(stderr, "backend_stress: be_new failed\n");
		return 1;
	}
	if (pthread_create(&fl, NULL, flapper, NULL) != 0 || pthread_create(&ch, NULL, churner, NULL) != 0)
		return 1;
	for (uintptr_t t = 0; t < NB_THREADS; t++)
		if (pthread_create(&th[t], NULL, worker, (void *)t) != 0)
			return 1;
	for (int t = 0; t < NB_THREADS; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&stop_flapper, 1, __ATOMIC_RELAXED);
	pthread_join(fl, NULL);
	pthread_join(ch, NULL);
	{
		uint64_t dyn_total = 0;

		for (unsigned i = NB_SRV; i < be_nb_srv(be); i++) {
			CHECK(be->srv[i]->cur == 0, "added server %u: %u slots still counted", i, be->srv[i]->cur);
			dyn_total += be->srv[i]->total;
		}
		CHECK(dyn_total == handed[DYN], "added servers: total %llu, streams saw %llu",
		      (unsigned long long)dyn_total, (unsigned long long)handed[DYN]);
		got += handed[DYN];
	}

	for (unsigned i = 0; i < NB_SRV; i++) {
		CHECK(be->srv[i]->cur == 0, "server %u: %u slots still counted at rest", i, be->srv[i]->cur);
		CHECK(be->srv[i]->total == handed[i], "server %u: total %llu, streams saw %llu",
		      i, (unsigned long long)be->srv[i]->total, (unsigned long long)handed[i]);
		total += be->srv[i]->total;
		got += handed[i];
	}
	CHECK(be_queued(be) == 0, "%u entries still queued at rest", be_queued(be));
	if (maxqueue)
		CHECK(be->queue_full == n_full, "backend counted %llu full, streams saw %llu",
		      (unsigned long long)be->queue_full, (unsigned long long)n_full);
	else
		CHECK(n_full == 0, "BE_FULL without a maxqueue");
	printf("backend_stress: %s maxqueue %u: %llu slots (%llu on added servers), %llu queued,"
	       " %llu timed out (%llu of them already served), %llu turned away\n",
	       balance == CFG_BALANCE_LC ? "leastconn" : "roundrobin", maxqueue,
	       (unsigned long long)got, (unsigned long long)handed[DYN], (unsigned long long)n_queued,
	       (unsigned long long)n_cancelled, (unsigned long long)n_cancel_served,
	       (unsigned long long)n_full);
	be_free(be);
	be = NULL;
	return __atomic_load_n(&failed, __ATOMIC_RELAXED);
}

int main(void)
{
	int bad = 0;

	bad |= run(CFG_BALANCE_RR, 0);
	bad |= run(CFG_BALANCE_LC, 0);
	bad |= run(CFG_BALANCE_RR, 1);
	bad |= run(CFG_BALANCE_LC, 2);
	if (bad)
		fprintf(stderr, "backend_stress: FAILED\n");
	return bad;
}

/* test_backend.c - server slots, load balancing and queues (engine/backend.c).
 *
 * One thread plays every stream here: each test drives be_assign(),
 * be_release_slot(), qent_cancel(), qent_take() and be_server_up() in an
 * exact order and checks who holds which slot, who waits where, and that
 * every hand-over notified its entry exactly once. The same operations from
 * several threads at once are in backend_stress.c (a plain program, so that
 * it also runs under TSan).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "engine/server/backend.h"

#define MAX_SRV 4

/* A backend configuration built by hand: the parser is not under test. */
struct fixture {
	struct cfg_backend cfg;
	struct cfg_server srv[MAX_SRV];
	struct backend *be;
};

/* A stream as seen by the backend: its entry and how often it was notified. */
struct fake_stream {
	struct qent q;
	int notified;
};

/* The entry's notify: the real one posts a wake-up; here it only counts. */
static void count_notify(struct qent *q)
{
	((struct fake_stream *)q->ctx)->notified++;
}

static void stream_init(struct fake_stream *fs)
{
	memset(fs, 0, sizeof(*fs));
	qent_init(&fs->q, count_notify, fs);
}

/* Builds backend <f> with <n> servers; maxconn[i] and weight[i] (NULL:
 * 0 = unlimited, weight 1) and the backend's <maxqueue>. */
static void fixture_init(struct fixture *f, unsigned n, int balance, const unsigned *maxconn,
                         const unsigned *weight, unsigned maxqueue)
{
	memset(f, 0, sizeof(*f));
	cr_assert_leq(n, MAX_SRV);
	f->cfg.name = "b";
	f->cfg.balance = balance;
	f->cfg.maxqueue = maxqueue;
	f->cfg.servers = f->srv;
	f->cfg.nb_servers = n;
	static char *const names[MAX_SRV] = { "s0", "c1", "c2", "c3" };

	for (unsigned i = 0; i < n; i++) {
		f->srv[i].name = names[i];
		f->srv[i].maxconn = maxconn ? maxconn[i] : 0;
		f->srv[i].weight = weight ? weight[i] : 1;
	}
	f->be = be_new(&f->cfg, 2);
	cr_assert_not_null(f->be);
}

static struct server *srv(struct fixture *f, unsigned i)
{
	return f->be->srv[i];
}

/* Asks for a slot for <fs> at time <now>. */
static int assign(struct fixture *f, struct fake_stream *fs, struct server *pinned,
                  struct server *avoid, uint64_t now)
{
	return be_assign(f->be, &fs->q, pinned, avoid, now);
}

/* ---------- take and release ---------- */

Test(backend, take_and_release_slots)
{
	static const unsigned mc[] = { 2 };
	struct fixture f;
	struct fake_stream a, b, c;

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&a);
	stream_init(&b);
	stream_init(&c);
	cr_assert_eq(assign(&f, &a, NULL, NULL, 1), BE_ASSIGNED);
	cr_assert_eq(a.q.srv, srv(&f, 0));
	cr_assert_eq(assign(&f, &b, NULL, NULL, 2), BE_ASSIGNED);
	cr_assert_eq(srv(&f, 0)->cur, 2);
	/* full: the third waits on the backend's queue, stamped with its time */
	cr_assert_eq(assign(&f, &c, NULL, NULL, 3), BE_QUEUED);
	cr_assert_eq(c.q.state, QE_QUEUED);
	cr_assert_eq(c.q.since_ms, 3);
	cr_assert_null(c.q.qsrv);
	cr_assert_eq(be_queued(f.be), 1);
	cr_assert_null(qent_take(&c.q), "not served yet");

	/* a release goes straight to the queued entry: the count stays */
	be_release_slot(a.q.srv);
	cr_assert_eq(c.notified, 1);
	cr_assert_eq(c.q.state, QE_SERVED);
	cr_assert_eq(srv(&f, 0)->cur, 2);
	cr_assert_eq(be_queued(f.be), 0);
	cr_assert_eq(qent_take(&c.q), srv(&f, 0));
	cr_assert_eq(c.q.state, QE_IDLE);
	cr_assert_null(qent_take(&c.q), "taken once only");

	be_release_slot(b.q.srv);
	be_release_slot(c.q.srv);
	cr_assert_eq(srv(&f, 0)->cur, 0);
	cr_assert_eq(srv(&f, 0)->total, 3, "two assigned, one handed over");
	cr_assert_eq(a.notified + b.notified, 0, "an immediate slot notifies nobody");
	be_free(f.be);
}

Test(backend, unlimited_server_never_queues)
{
	struct fixture f;
	struct fake_stream s[50];

	fixture_init(&f, 1, CFG_BALANCE_RR, NULL, NULL, 0);
	for (int i = 0; i < 50; i++) {
		stream_init(&s[i]);
		cr_assert_eq(assign(&f, &s[i], NULL, NULL, 0), BE_ASSIGNED);
	}
	cr_assert_eq(srv(&f, 0)->cur, 50);
	for (int i = 0; i < 50; i++)
		be_release_slot(s[i].q.srv);
	cr_assert_eq(srv(&f, 0)->cur, 0);
	be_free(f.be);
}

Test(backend, queue_is_first_in_first_out)
{
	static const unsigned mc[] = { 1 };
	struct fixture f;
	struct fake_stream holder, w[3];

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&holder);
	cr_assert_eq(assign(&f, &holder, NULL, NULL, 0), BE_ASSIGNED);
	for (int i = 0; i < 3; i++) {
		stream_init(&w[i]);
		cr_assert_eq(assign(&f, &w[i], NULL, NULL, (uint64_t)i), BE_QUEUED);
	}
	struct server *s = holder.q.srv;

	for (int i = 0; i < 3; i++) {
		be_release_slot(s);
		cr_assert_eq(w[i].notified, 1, "entry %d is next", i);
		for (int j = i + 1; j < 3; j++)
			cr_assert_eq(w[j].notified, 0);
		cr_assert_eq(qent_take(&w[i].q), s);
	}
	be_release_slot(s);
	cr_assert_eq(srv(&f, 0)->cur, 0);
	be_free(f.be);
}

/* ---------- queue timeout: cancel ---------- */

/* One server with one slot: <holder> holds it, <a> then <b> wait for it. */
static void holder_and_two_queued(struct fixture *f, struct fake_stream *holder,
				  struct fake_stream *a, struct fake_stream *b)
{
	static const unsigned mc[] = { 1 };

	fixture_init(f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(holder);
	stream_init(a);
	stream_init(b);
	cr_assert_eq(assign(f, holder, NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(assign(f, a, NULL, NULL, 0), BE_QUEUED);
	cr_assert_eq(assign(f, b, NULL, NULL, 0), BE_QUEUED);
}

Test(backend, cancel_while_queued_holds_nothing)
{
	struct fixture f;
	struct fake_stream holder, a, b;

	holder_and_two_queued(&f, &holder, &a, &b);
	/* a's queue timeout: it leaves, holding nothing */
	cr_assert_eq(qent_cancel(&a.q), 0);
	cr_assert_eq(a.q.state, QE_IDLE);
	cr_assert_eq(be_queued(f.be), 1);
	/* the next release skips it and serves b */
	be_release_slot(holder.q.srv);
	cr_assert_eq(a.notified, 0);
	cr_assert_eq(b.notified, 1);
	cr_assert_eq(qent_take(&b.q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	cr_assert_eq(srv(&f, 0)->cur, 0);
	/* cancelling again, or an entry that never asked, is harmless */
	cr_assert_eq(qent_cancel(&a.q), 0);
	struct fake_stream never;

	stream_init(&never);
	cr_assert_eq(qent_cancel(&never.q), 0);
	be_free(f.be);
}

Test(backend, cancel_after_served_passes_the_slot_on)
{
	struct fixture f;
	struct fake_stream holder, a, b;

	holder_and_two_queued(&f, &holder, &a, &b);
	/* a is served, but its timer fires before it runs: the race the
	 * queue timeout must handle without losing the slot */
	be_release_slot(holder.q.srv);
	cr_assert_eq(a.notified, 1);
	cr_assert_eq(qent_cancel(&a.q), 1, "the slot is the canceller's");
	cr_assert_eq(a.q.state, QE_IDLE);
	cr_assert_null(qent_take(&a.q));
	/* giving it back serves the next one */
	be_release_slot(a.q.srv);
	cr_assert_eq(b.notified, 1);
	cr_assert_eq(qent_take(&b.q), srv(&f, 0));
	cr_assert_eq(srv(&f, 0)->cur, 1);
	be_release_slot(srv(&f, 0));
	cr_assert_eq(srv(&f, 0)->cur, 0);
	be_free(f.be);
}

/* ---------- redispatch: avoid ---------- */

Test(backend, avoid_picks_another_server)
{
	static const unsigned mc[] = { 1, 1 };
	struct fixture f;
	struct fake_stream a, b, c;

	fixture_init(&f, 2, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&a);
	stream_init(&b);
	stream_init(&c);
	/* a retry after a failure on s0 goes to s1, whatever the rotation says */
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(assign(&f, &a, NULL, srv(&f, 0), 0), BE_ASSIGNED);
		cr_assert_eq(a.q.srv, srv(&f, 1));
		be_release_slot(a.q.srv);
	}
	/* with s1 busy, the avoided s0 is not taken: the stream queues */
	cr_assert_eq(assign(&f, &b, NULL, NULL, 0), BE_ASSIGNED);
	struct server *first = b.q.srv;
	struct server *other = first == srv(&f, 0) ? srv(&f, 1) : srv(&f, 0);

	cr_assert_eq(assign(&f, &c, NULL, other, 0), BE_QUEUED);
	/* whichever slot frees first then serves it */
	be_release_slot(first);
	cr_assert_eq(c.notified, 1);
	cr_assert_eq(qent_take(&c.q), first);
	be_release_slot(first);
	be_free(f.be);
}

Test(backend, avoid_ignored_with_a_single_server)
{
	struct fixture f;
	struct fake_stream a;

	fixture_init(&f, 1, CFG_BALANCE_LC, NULL, NULL, 0);
	stream_init(&a);
	cr_assert_eq(assign(&f, &a, NULL, srv(&f, 0), 0), BE_ASSIGNED);
	cr_assert_eq(a.q.srv, srv(&f, 0), "a lone server is retried rather than given up");
	be_release_slot(a.q.srv);
	be_free(f.be);
}

/* ---------- load balancing ---------- */

Test(backend, leastconn_ties_rotate)
{
	struct fixture f;
	struct fake_stream s[6];
	int hits[3] = { 0 };

	fixture_init(&f, 3, CFG_BALANCE_LC, NULL, NULL, 0);
	/* all idle: ties, so successive picks go round the servers */
	for (int i = 0; i < 3; i++) {
		stream_init(&s[i]);
		cr_assert_eq(assign(&f, &s[i], NULL, NULL, 0), BE_ASSIGNED);
		hits[s[i].q.srv->cfg - f.srv]++;
	}
	cr_assert(hits[0] == 1 && hits[1] == 1 && hits[2] == 1, "%d %d %d", hits[0], hits[1], hits[2]);
	/* one leaves: the least loaded takes the next stream */
	struct server *freed = s[1].q.srv;

	be_release_slot(freed);
	stream_init(&s[3]);
	cr_assert_eq(assign(&f, &s[3], NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(s[3].q.srv, freed);
	/* released while idle, picks alternate rather than stick to one */
	be_release_slot(s[0].q.srv);
	be_release_slot(s[2].q.srv);
	be_release_slot(s[3].q.srv);
	memset(hits, 0, sizeof(hits));
	for (int i = 0; i < 6; i++) {
		struct fake_stream t;

		stream_init(&t);
		cr_assert_eq(assign(&f, &t, NULL, NULL, 0), BE_ASSIGNED);
		hits[t.q.srv->cfg - f.srv]++;
		be_release_slot(t.q.srv);
	}
	cr_assert(hits[0] == 2 && hits[1] == 2 && hits[2] == 2, "%d %d %d", hits[0], hits[1], hits[2]);
	be_free(f.be);
}

Test(backend, leastconn_counts_per_weight)
{
	static const unsigned w[] = { 2, 1 };
	struct fixture f;
	struct fake_stream s[6];
	unsigned n0 = 0;

	fixture_init(&f, 2, CFG_BALANCE_LC, NULL, w, 0);
	for (int i = 0; i < 6; i++) {
		stream_init(&s[i]);
		cr_assert_eq(assign(&f, &s[i], NULL, NULL, 0), BE_ASSIGNED);
	}
	n0 = srv(&f, 0)->cur;
	cr_assert_eq(n0, 4, "weight 2 carries twice the streams: %u", n0);
	cr_assert_eq(srv(&f, 1)->cur, 2);
	for (int i = 0; i < 6; i++)
		be_release_slot(s[i].q.srv);
	be_free(f.be);
}

Test(backend, roundrobin_follows_weights)
{
	static const unsigned w[] = { 3, 1, 0 };
	struct fixture f;
	int hits[3] = { 0 };

	fixture_init(&f, 3, CFG_BALANCE_RR, NULL, w, 0);
	for (int i = 0; i < 40; i++) {
		struct fake_stream t;

		stream_init(&t);
		cr_assert_eq(assign(&f, &t, NULL, NULL, 0), BE_ASSIGNED);
		hits[t.q.srv->cfg - f.srv]++;
		be_release_slot(t.q.srv);
	}
	cr_assert_eq(hits[0], 30);
	cr_assert_eq(hits[1], 10);
	cr_assert_eq(hits[2], 0, "weight 0 takes no traffic");
	be_free(f.be);
}

/* ---------- servers down and back ---------- */

Test(backend, no_usable_server)
{
	static const unsigned w[] = { 1, 0 };
	struct fixture f;
	struct fake_stream a;

	fixture_init(&f, 2, CFG_BALANCE_RR, NULL, w, 0);
	stream_init(&a);
	__atomic_store_n(&srv(&f, 0)->down, 1, __ATOMIC_RELAXED);
	cr_assert_eq(assign(&f, &a, NULL, NULL, 0), BE_NOSRV);
	cr_assert_eq(be_queued(f.be), 0, "nothing queued for a backend that cannot serve");
	cr_assert_eq(assign(&f, &a, srv(&f, 0), NULL, 0), BE_NOSRV, "pinned to a down server");
	be_free(f.be);
}

Test(backend, server_up_serves_the_queue)
{
	static const unsigned mc[] = { 1, 2 };
	struct fixture f;
	struct fake_stream holder, w[3];

	fixture_init(&f, 2, CFG_BALANCE_RR, mc, NULL, 0);
	__atomic_store_n(&srv(&f, 1)->down, 1, __ATOMIC_RELAXED);
	stream_init(&holder);
	cr_assert_eq(assign(&f, &holder, NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(holder.q.srv, srv(&f, 0));
	for (int i = 0; i < 3; i++) {
		stream_init(&w[i]);
		cr_assert_eq(assign(&f, &w[i], NULL, NULL, 0), BE_QUEUED);
	}
	/* s1 comes back with two free slots: the first two queued get them
	 * at once, without waiting for s0 to free its slot */
	__atomic_store_n(&srv(&f, 1)->down, 0, __ATOMIC_RELAXED);
	be_server_up(srv(&f, 1));
	cr_assert_eq(w[0].notified, 1);
	cr_assert_eq(w[1].notified, 1);
	cr_assert_eq(w[2].notified, 0);
	cr_assert_eq(srv(&f, 1)->cur, 2);
	cr_assert_eq(qent_take(&w[0].q), srv(&f, 1));
	cr_assert_eq(qent_take(&w[1].q), srv(&f, 1));
	cr_assert_eq(be_queued(f.be), 1);
	be_release_slot(holder.q.srv);
	cr_assert_eq(qent_take(&w[2].q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	be_release_slot(srv(&f, 1));
	be_release_slot(srv(&f, 1));
	cr_assert_eq(srv(&f, 0)->cur + srv(&f, 1)->cur, 0);
	be_free(f.be);
}

/* ---------- pinned streams and server queues ---------- */

Test(backend, pinned_waits_on_its_server_queue_first)
{
	static const unsigned mc[] = { 1, 1 };
	struct fixture f;
	struct fake_stream holder, pinned, other;

	fixture_init(&f, 2, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&holder);
	stream_init(&pinned);
	stream_init(&other);
	cr_assert_eq(assign(&f, &holder, srv(&f, 0), NULL, 0), BE_ASSIGNED);
	cr_assert_eq(holder.q.srv, srv(&f, 0));
	cr_assert_eq(assign(&f, &pinned, srv(&f, 0), NULL, 0), BE_QUEUED);
	cr_assert_eq(pinned.q.qsrv, srv(&f, 0));
	cr_assert_eq(srv(&f, 0)->queue.len, 1);
	/* an unpinned stream takes the other server */
	cr_assert_eq(assign(&f, &other, NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(other.q.srv, srv(&f, 1));
	/* s0's slot goes to the stream pinned to it */
	be_release_slot(srv(&f, 0));
	cr_assert_eq(qent_take(&pinned.q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	be_release_slot(srv(&f, 1));
	be_free(f.be);
}

/* ---------- maxqueue ---------- */

Test(backend, backend_maxqueue_turns_streams_away)
{
	static const unsigned mc[] = { 1 };
	struct fixture f;
	struct fake_stream holder, w[2], late;

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 2);
	stream_init(&holder);
	cr_assert_eq(assign(&f, &holder, NULL, NULL, 0), BE_ASSIGNED);
	for (int i = 0; i < 2; i++) {
		stream_init(&w[i]);
		cr_assert_eq(assign(&f, &w[i], NULL, NULL, 0), BE_QUEUED);
	}
	stream_init(&late);
	cr_assert_eq(assign(&f, &late, NULL, NULL, 5), BE_FULL);
	cr_assert_eq(late.q.state, QE_IDLE, "nothing to cancel");
	cr_assert_null(late.q.srv);
	cr_assert_eq(qent_cancel(&late.q), 0);
	cr_assert_eq(be_queued(f.be), 2);
	cr_assert_eq(f.be->queue_full, 1);
	/* room again once one leaves the queue (served or timed out) */
	cr_assert_eq(qent_cancel(&w[0].q), 0);
	cr_assert_eq(assign(&f, &late, NULL, NULL, 6), BE_QUEUED);
	be_release_slot(holder.q.srv);
	cr_assert_eq(qent_take(&w[1].q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	cr_assert_eq(qent_take(&late.q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	cr_assert_eq(srv(&f, 0)->cur, 0);
	be_free(f.be);
}

Test(backend, backend_maxqueue_zero_means_unlimited)
{
	static const unsigned mc[] = { 1 };
	struct fixture f;
	struct fake_stream holder, w[100];

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&holder);
	cr_assert_eq(assign(&f, &holder, NULL, NULL, 0), BE_ASSIGNED);
	for (int i = 0; i < 100; i++) {
		stream_init(&w[i]);
		cr_assert_eq(assign(&f, &w[i], NULL, NULL, 0), BE_QUEUED);
	}
	for (int i = 0; i < 100; i++)
		cr_assert_eq(qent_cancel(&w[i].q), 0);
	be_release_slot(srv(&f, 0));
	be_free(f.be);
}

Test(backend, full_queue_still_takes_a_free_slot)
{
	static const unsigned mc[] = { 1, 1 };
	struct fixture f;
	struct fake_stream holder, w, late;

	fixture_init(&f, 2, CFG_BALANCE_RR, mc, NULL, 1);
	/* s1 is down: s0 busy, one stream queued, the queue full */
	__atomic_store_n(&srv(&f, 1)->down, 1, __ATOMIC_RELAXED);
	stream_init(&holder);
	stream_init(&w);
	stream_init(&late);
	cr_assert_eq(assign(&f, &holder, NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(assign(&f, &w, NULL, NULL, 0), BE_QUEUED);
	cr_assert_eq(assign(&f, &late, NULL, NULL, 0), BE_FULL);
	/* s1 is usable again before anyone handed its slots over: a stream
	 * the full queue would turn away takes the free slot instead */
	__atomic_store_n(&srv(&f, 1)->down, 0, __ATOMIC_RELAXED);
	cr_assert_eq(assign(&f, &late, NULL, NULL, 0), BE_ASSIGNED);
	cr_assert_eq(late.q.srv, srv(&f, 1));
	cr_assert_eq(w.notified, 0);
	be_release_slot(holder.q.srv);
	cr_assert_eq(qent_take(&w.q), srv(&f, 0));
	be_release_slot(srv(&f, 0));
	be_release_slot(srv(&f, 1));
	be_free(f.be);
}

Test(backend, server_maxqueue_sends_pinned_streams_elsewhere)
{
	static const unsigned mc[] = { 1, 1 };
	struct fixture f;
	struct fake_stream holder, p1, p2, p3, p4;

	fixture_init(&f, 2, CFG_BALANCE_RR, mc, NULL, 1);
	f.be->srv[0]->maxqueue = 1;
	stream_init(&holder);
	stream_init(&p1);
	stream_init(&p2);
	stream_init(&p3);
	stream_init(&p4);
	cr_assert_eq(assign(&f, &holder, srv(&f, 0), NULL, 0), BE_ASSIGNED);
	cr_assert_eq(assign(&f, &p1, srv(&f, 0), NULL, 0), BE_QUEUED);
	cr_assert_eq(p1.q.qsrv, srv(&f, 0));
	/* s0's queue is full: the next stream pinned to s0 goes to s1 */
	cr_assert_eq(assign(&f, &p2, srv(&f, 0), NULL, 0), BE_ASSIGNED);
	cr_assert_eq(p2.q.srv, srv(&f, 1));
	cr_assert_eq(srv(&f, 0)->queue_full, 1);
	/* s1 busy too: it waits on the backend's queue, which has room for one */
	cr_assert_eq(assign(&f, &p3, srv(&f, 0), NULL, 0), BE_QUEUED);
	cr_assert_null(p3.q.qsrv);
	cr_assert_eq(be_queued(f.be), 2);
	/* and when that is full too, it is turned away */
	cr_assert_eq(assign(&f, &p4, srv(&f, 0), NULL, 0), BE_FULL);
	cr_assert_eq(f.be->queue_full, 1);
	/* releases serve the server's own queue before the backend's */
	be_release_slot(srv(&f, 0));
	cr_assert_eq(p1.notified, 1);
	cr_assert_eq(p3.notified, 0);
	be_release_slot(srv(&f, 1));
	cr_assert_eq(p3.notified, 1);
	cr_assert_eq(qent_take(&p1.q), srv(&f, 0));
	cr_assert_eq(qent_take(&p3.q), srv(&f, 1));
	be_release_slot(srv(&f, 0));
	be_release_slot(srv(&f, 1));
	cr_assert_eq(srv(&f, 0)->cur + srv(&f, 1)->cur, 0);
	be_free(f.be);
}

Test(backend, maxqueue_from_the_configuration)
{
	static const unsigned mc[] = { 1 };
	struct fixture f;

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	be_free(f.be);
	f.srv[0].maxqueue = 7;
	f.be = be_new(&f.cfg, 1);
	cr_assert_not_null(f.be);
	cr_assert_eq(f.be->srv[0]->maxqueue, 7);
	cr_assert_eq(f.be->srv[0]->maxconn, 1);
	be_free(f.be);
}

/* ---------- servers added and removed at run time ---------- */

Test(backend, servers_added_and_removed)
{
	static const unsigned mc[] = { 1 };
	struct fixture f;
	struct fake_stream a, b, c;
	struct server *s1;

	fixture_init(&f, 1, CFG_BALANCE_RR, mc, NULL, 0);
	stream_init(&a);
	stream_init(&b);
	stream_init(&c);
	cr_assert_eq(assign(&f, &a, NULL, NULL, 1), BE_ASSIGNED);
	cr_assert_eq(assign(&f, &b, NULL, NULL, 2), BE_QUEUED, "the only server is full");

	/* bad input is refused and nothing is published */
	cr_expect_eq(be_server_add(f.be, "x", "127.0.0.1", 1, 0, SRV_ADMIN_READY), BE_SRV_BADADDR);
	cr_expect_eq(be_server_add(f.be, "x", "[::1:80", 1, 0, SRV_ADMIN_READY), BE_SRV_BADADDR);
	cr_expect_eq(be_server_add(f.be, "x", "127.0.0.1:0", 1, 0, SRV_ADMIN_READY), BE_SRV_BADADDR);
	cr_expect_eq(be_server_add(f.be, "x/y", "127.0.0.1:80", 1, 0, SRV_ADMIN_READY), BE_SRV_BADARG);
	cr_expect_eq(be_server_add(f.be, "x", "127.0.0.1:80", 257, 0, SRV_ADMIN_READY), BE_SRV_BADARG);
	cr_expect_eq(be_nb_srv(f.be), 1);

	/* a new ready server takes the queued stream at once */
	cr_assert_eq(be_server_add(f.be, "s1", "[::1]:8080", 1, 1, SRV_ADMIN_READY), BE_SRV_OK);
	cr_expect_eq(be_server_add(f.be, "s1", "127.0.0.1:80", 1, 0, SRV_ADMIN_READY), BE_SRV_EXISTS);
	cr_assert_eq(be_nb_srv(f.be), 2);
	s1 = be_find_server(f.be, "s1");
	cr_assert_eq(s1, srv(&f, 1));
	cr_expect_eq(s1->cfg->addr.ss_family, AF_INET6);
	cr_expect_eq(b.notified, 1);
	cr_assert_eq(qent_take(&b.q), s1);

	/* removal: only in maintenance, only once no stream holds it */
	cr_expect_eq(be_server_del(s1), BE_SRV_NOTMAINT);
	be_server_set_admin(s1, SRV_ADMIN_MAINT);
	cr_expect_eq(be_server_del(s1), BE_SRV_BUSY);
	be_release_slot(s1);
	cr_assert_eq(be_server_del(s1), BE_SRV_OK);
	cr_expect_null(be_find_server(f.be, "s1"), "a removed server is not found");
	/* never chosen again, even put back to ready by a stale pointer */
	be_server_set_admin(s1, SRV_ADMIN_READY);
	cr_expect_eq(assign(&f, &c, NULL, NULL, 3), BE_QUEUED);
	cr_expect_eq(qent_cancel(&c.q), 0);
	cr_expect_eq(assign(&f, &c, s1, NULL, 3), BE_NOSRV, "pinned to a removed server");
	/* its name is free again; its memory stays until be_free() */
	cr_expect_eq(be_server_add(f.be, "s1", "127.0.0.1:81", 1, 0, SRV_ADMIN_MAINT), BE_SRV_OK);
	cr_expect_eq(be_nb_srv(f.be), 3);
	cr_expect_neq(be_find_server(f.be, "s1"), s1);
	/* a configured server with a health check cannot be removed */
	f.srv[0].check = 1;
	be_server_set_admin(srv(&f, 0), SRV_ADMIN_MAINT);
	be_release_slot(a.q.srv);
	cr_expect_eq(be_server_del(srv(&f, 0)), BE_SRV_CHECKED);
	be_free(f.be);
}

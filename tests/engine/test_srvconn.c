/* test_srvconn.c - idle HTTP/1 server connections kept for reuse
 * (engine/server/srvconn.c), over a backend built by be_new() and a thread
 * and engine built by hand.
 *
 * The connections are real socket pairs: the far end plays the server, so
 * that "a byte past the last response" and "the server closed" are real
 * socket states, seen by the same peek as in the engine. The calls srvconn.c
 * makes into conn.c are given here so that no scheduler is needed: the peek
 * exactly as conn.c does it for plain TCP (counted), the close counting what
 * it closed, and the poller's part of conn_idle_mark()/conn_idle_unchanged()
 * as a count of polls that fake_poll() moves after turning the bytes waiting
 * on a socket into its readiness flag, as the real poller and
 * conn_update_ready() do.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/server/srvconn.h"

#define NB_THR 2

/* ---------- the conn.c calls ---------- */

static int nb_closed;
static int nb_peeks;
static uint32_t nb_polls;
static int nb_polls_now;

int conn_idle_alive(struct conn *c)
{
	char byte;
	ssize_t n;

	if (c->ep.flags & (CF_RD_EOF | CF_ERROR))
		return 0;
	nb_peeks++;
	n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		return 0;
	c->ep.flags &= ~CF_RD_READY;
	return 1;
}

void conn_idle_mark(struct conn *c)
{
	c->idle_polls = nb_polls;
}

int conn_idle_unchanged(const struct conn *c)
{
	return nb_polls != c->idle_polls &&
	       !(c->ep.flags & (CF_RD_READY | CF_RD_EOF | CF_RD_HUP | CF_ERROR));
}

/* What the poller reports of <c>'s socket: with bytes waiting it becomes
 * readable, its peer closed it hung up. */
static void fake_look(struct conn *c)
{
	char byte;
	ssize_t got = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (got > 0)
		c->ep.flags |= CF_RD_READY;
	else if (got == 0)
		c->ep.flags |= CF_RD_READY | CF_RD_HUP;
}

/* One return of the poller over the sockets of <c>[0..<n>). */
static void fake_poll(struct conn **c, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		fake_look(c[i]);
	nb_polls++;
}

int conn_idle_fresh(const struct conn *c)
{
	return nb_polls == c->idle_polls;
}

static struct backend *be;

/* The poller of <tc> looks now: over every connection parked on its idle
 * lists, the only sockets of these tests it would watch. */
int conn_poll_now(struct thr_ctx *tc)
{
	nb_polls_now++;
	for (unsigned i = 0; i < be_nb_srv(be); i++) {
		struct eng_list *head = &be->srv[i]->idle[tc->tid].list;

		for (struct eng_list *l = head->next; l != head; l = l->next)
			fake_look(eng_list_entry(l, struct conn, idle_link));
	}
	nb_polls++;
	return 0;
}

void conn_close(struct conn *c)
{
	cr_assert_not(c->ep.flags & CF_IDLE, "a connection is closed while still on an idle list");
	if (c->fd >= 0)
		close(c->fd);
	nb_closed++;
	free(c);
}

/* ---------- fixture ---------- */

static struct cfg_backend bcfg;
static struct cfg_server scfg[2];
static struct backend *bes[1];
static struct engine eng;
static struct thr_ctx tcs[NB_THR] __attribute__((aligned(ENG_LINE)));

static void setup(void)
{
	nb_closed = 0;
	nb_peeks = 0;
	nb_polls = 0;
	nb_polls_now = 0;
	memset(&bcfg, 0, sizeof(bcfg));
	memset(scfg, 0, sizeof(scfg));
	scfg[0].name = "s0";
	scfg[1].name = "s1";
	scfg[0].weight = scfg[1].weight = 1;
	bcfg.name = "b";
	bcfg.servers = scfg;
	bcfg.nb_servers = 2;
	be = be_new(&bcfg, NB_THR);
	cr_assert_not_null(be);
	bes[0] = be;
	memset(&eng, 0, sizeof(eng));
	eng.bes = bes;
	eng.nb_bes = 1;
	eng.stop_mode = -1;
	eng.nbthread = NB_THR;
	memset(tcs, 0, sizeof(tcs));
	for (unsigned t = 0; t < NB_THR; t++) {
		tcs[t].eng = &eng;
		tcs[t].tid = t;
	}
}

static void teardown(void)
{
	be_free(be);
}

TestSuite(srvconn, .init = setup, .fini = teardown);

/* A server connection of thread <tc> to <srv> over socket <fd> (-1:
 * none) whose response just ended, its read flag down. */
static struct conn *bare_conn(struct thr_ctx *tc, struct server *srv, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	cr_assert_not_null(c);
	c->fd = fd;
	c->tc = tc;
	c->srv = srv;
	c->owner = c;  /* a stream's, until parked */
	c->ep.flags = CF_WR_READY;
	eng_list_init(&c->idle_link);
	return c;
}

/* The same over a socket pair: *peer gets the server's end. */
static struct conn *new_conn(struct thr_ctx *tc, struct server *srv, int *peer)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	*peer = sv[1];
	return bare_conn(tc, srv, sv[0]);
}

static unsigned idle_count(struct server *srv, unsigned tid)
{
	return srv->idle[tid].count;
}

/* ---------- park and take ---------- */

Test(srvconn, parked_clean_connection_is_taken_back)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	srvconn_park(&tcs[0], c);
	cr_expect_eq(idle_count(be->srv[0], 0), 1);
	cr_expect_null(c->owner, "parked: nobody owns it");
	cr_expect(c->ep.flags & CF_IDLE);
	cr_expect_eq(nb_closed, 0);

	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), c);
	cr_expect_eq(idle_count(be->srv[0], 0), 0);
	cr_expect_not(c->ep.flags & CF_IDLE);
	cr_expect_null(srvconn_take(&tcs[0], be->srv[0]), "taken once only");
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 0);
	conn_close(c);
	close(peer);
}

Test(srvconn, lists_are_per_server_and_per_thread)
{
	int peer;
	struct conn *c = new_conn(&tcs[1], be->srv[1], &peer);

	srvconn_park(&tcs[1], c);
	cr_expect_eq(idle_count(be->srv[1], 1), 1);
	cr_expect_null(srvconn_take(&tcs[0], be->srv[1]), "another thread's connection");
	cr_expect_null(srvconn_take(&tcs[1], be->srv[0]), "another server's connection");
	cr_expect_eq(srvconn_take(&tcs[1], be->srv[1]), c);
	conn_close(c);
	close(peer);
}

Test(srvconn, last_parked_is_taken_first)
{
	int p1, p2;
	struct conn *a = new_conn(&tcs[0], be->srv[0], &p1);
	struct conn *b = new_conn(&tcs[0], be->srv[0], &p2);

	srvconn_park(&tcs[0], a);
	srvconn_park(&tcs[0], b);
	cr_expect_eq(idle_count(be->srv[0], 0), 2);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), b);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), a);
	conn_close(a);
	conn_close(b);
	close(p1);
	close(p2);
}

/* ---------- only clean connections ---------- */

Test(srvconn, bytes_past_the_response_refuse_the_park)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	/* a body after a HEAD: it would be the next client's answer */
	cr_assert_eq(write(peer, "X", 1), 1);
	c->ep.flags |= CF_RD_READY;
	srvconn_park(&tcs[0], c);
	cr_expect_eq(idle_count(be->srv[0], 0), 0);
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 1);
	close(peer);
}

Test(srvconn, stale_read_flag_is_checked_by_a_peek)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	/* the last read filled the buffer exactly: the flag says readable,
	 * the socket holds nothing */
	c->ep.flags |= CF_RD_READY;
	srvconn_park(&tcs[0], c);
	cr_expect_eq(idle_count(be->srv[0], 0), 1);
	cr_expect_eq(nb_closed, 0);
	srvconn_close_all(&tcs[0]);
	close(peer);
}

Test(srvconn, server_shut_or_failed_refuses_the_park)
{
	static const unsigned bad[] = { CF_RD_HUP, CF_RD_EOF, CF_ERROR };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int peer;
		struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

		c->ep.flags |= bad[i];
		srvconn_park(&tcs[0], c);
		cr_expect_eq(idle_count(be->srv[0], 0), 0);
		cr_expect_eq(nb_closed, (int)i + 1);
		close(peer);
	}
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 3);
}

Test(srvconn, bytes_arrived_while_parked_are_caught_at_take)
{
	int p1, p2;
	struct conn *clean = new_conn(&tcs[0], be->srv[0], &p1);
	struct conn *late = new_conn(&tcs[0], be->srv[0], &p2);

	srvconn_park(&tcs[0], clean);
	srvconn_park(&tcs[0], late);
	/* the poller has not told us yet: only the peek at take time sees it */
	cr_assert_eq(write(p2, "HTTP/1.1 200 OK\r\n", 17), 17);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), clean, "the unclean one closed, the next taken");
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 1);
	cr_expect_eq(idle_count(be->srv[0], 0), 0);
	conn_close(clean);
	close(p1);
	close(p2);
}

Test(srvconn, taken_without_a_peek_once_the_poller_saw_nothing)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	srvconn_park(&tcs[0], c);
	fake_poll(&c, 1);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), c);
	cr_expect_eq(nb_peeks, 0, "the poller's silence since the park is enough");
	conn_close(c);
	close(peer);
}

Test(srvconn, parked_and_taken_in_one_turn_is_peeked)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	fake_poll(&c, 1);
	srvconn_park(&tcs[0], c);
	/* a queued stream takes what its predecessor just released: the
	 * poller has not looked since, bytes sent past the response hide */
	cr_assert_eq(write(peer, "X", 1), 1);
	cr_expect_null(srvconn_take(&tcs[0], be->srv[0]));
	cr_expect_eq(nb_peeks, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 1);
	close(peer);
}

Test(srvconn, several_parked_in_one_turn_cost_one_poll_not_a_peek_each)
{
	int p[3];
	struct conn *c[3];

	for (int i = 0; i < 3; i++) {
		c[i] = new_conn(&tcs[0], be->srv[0], &p[i]);
		srvconn_park(&tcs[0], c[i]);
	}
	/* junk behind the middle one, sent right after its response */
	cr_assert_eq(write(p[1], "X", 1), 1);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), c[2]);
	cr_expect_eq(nb_polls_now, 1, "two fresh ones: the thread's poller looks once");
	cr_expect_eq(nb_peeks, 0);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), c[0], "the unclean one closed, the next taken");
	cr_expect_eq(nb_polls_now, 1, "the poll answered for all of them");
	cr_expect_eq(nb_peeks, 1, "the one the poller reported was peeked");
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 1);
	conn_close(c[0]);
	conn_close(c[2]);
	for (int i = 0; i < 3; i++)
		close(p[i]);
}

Test(srvconn, bytes_the_poller_reported_are_caught_at_take)
{
	int p1, p2;
	struct conn *a = new_conn(&tcs[0], be->srv[0], &p1);
	struct conn *b = new_conn(&tcs[0], be->srv[0], &p2);
	struct conn *both[2] = { a, b };

	srvconn_park(&tcs[0], a);
	srvconn_park(&tcs[0], b);
	cr_assert_eq(write(p2, "junk", 4), 4);
	/* reported, but its event has not run yet when a stream takes it */
	fake_poll(both, 2);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), a, "b closed, a taken");
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(nb_peeks, 1, "only the reported one was peeked");
	conn_close(a);
	close(p1);
	close(p2);
}

Test(srvconn, stale_readable_flag_costs_one_peek_only)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	/* the last read filled the buffer exactly: "readable" but dry */
	c->ep.flags |= CF_RD_READY;
	srvconn_park(&tcs[0], c);
	cr_expect_eq(nb_peeks, 1, "the park peeks once");
	fake_poll(&c, 1);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), c);
	cr_expect_eq(nb_peeks, 1, "the dry peek cleared the flag");
	conn_close(c);
	close(peer);
}

Test(srvconn, server_closed_while_parked_is_caught_at_take)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	srvconn_park(&tcs[0], c);
	close(peer);
	cr_expect_null(srvconn_take(&tcs[0], be->srv[0]));
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 1);
}

/* ---------- events while parked ---------- */

Test(srvconn, event_on_a_clean_parked_connection_keeps_it)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	srvconn_park(&tcs[0], c);
	srvconn_idle_event(c);  /* a spurious wake-up: nothing to read */
	cr_expect_eq(idle_count(be->srv[0], 0), 1);
	cr_expect_eq(nb_closed, 0);
	srvconn_close_all(&tcs[0]);
	cr_expect_eq(nb_closed, 1);
	close(peer);
}

Test(srvconn, event_after_the_server_spoke_closes_it)
{
	int p1, p2;
	struct conn *a = new_conn(&tcs[0], be->srv[0], &p1);
	struct conn *b = new_conn(&tcs[0], be->srv[0], &p2);

	srvconn_park(&tcs[0], a);
	srvconn_park(&tcs[0], b);
	cr_assert_eq(write(p1, "junk", 4), 4);
	srvconn_idle_event(a);
	cr_expect_eq(idle_count(be->srv[0], 0), 1);
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(srvconn_take(&tcs[0], be->srv[0]), b, "the other one stays usable");
	conn_close(b);
	close(p1);
	close(p2);
}

/* ---------- limits and stopping ---------- */

Test(srvconn, stopping_engine_parks_nothing)
{
	int peer;
	struct conn *c = new_conn(&tcs[0], be->srv[0], &peer);

	eng.stop_mode = SLUICE_STOP_GRACEFUL;
	srvconn_park(&tcs[0], c);
	cr_expect_eq(idle_count(be->srv[0], 0), 0);
	cr_expect_eq(nb_closed, 1);
	cr_expect_eq(tcs[0].cnt.srv_conn_unclean, 0, "closed for stopping, not for being unclean");
	close(peer);
}

Test(srvconn, idle_list_is_bounded)
{
	/* no socket needed: a connection whose read flag is down is clean
	 * without a peek, and parking never peeks it again */
	unsigned parked = 0;

	for (unsigned i = 0; i < 300; i++)
		srvconn_park(&tcs[1], bare_conn(&tcs[1], be->srv[0], -1));
	parked = idle_count(be->srv[0], 1);
	cr_expect_gt(parked, 0);
	cr_expect_lt(parked, 300, "the list keeps a bounded number");
	cr_expect_eq(parked + (unsigned)nb_closed, 300, "every other one was closed");
	srvconn_close_all(&tcs[1]);
	cr_expect_eq(idle_count(be->srv[0], 1), 0);
	cr_expect_eq(nb_closed, 300);
}

Test(srvconn, close_all_empties_only_its_own_thread)
{
	int p[3];
	struct conn *a = new_conn(&tcs[0], be->srv[0], &p[0]);
	struct conn *b = new_conn(&tcs[0], be->srv[1], &p[1]);
	struct conn *o = new_conn(&tcs[1], be->srv[0], &p[2]);

	srvconn_park(&tcs[0], a);
	srvconn_park(&tcs[0], b);
	srvconn_park(&tcs[1], o);
	srvconn_close_all(&tcs[0]);
	cr_expect_eq(nb_closed, 2);
	cr_expect_eq(idle_count(be->srv[0], 0) + idle_count(be->srv[1], 0), 0);
	cr_expect_eq(idle_count(be->srv[0], 1), 1, "thread 1's connection is thread 1's to close");
	srvconn_close_all(&tcs[1]);
	cr_expect_eq(nb_closed, 3);
	for (int i = 0; i < 3; i++)
		close(p[i]);
}

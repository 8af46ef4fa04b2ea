/* test_tls_resume.c - session resumption towards servers (engine/core/tls.c):
 * our client side (tls_srv) against our server side (tls_bind) over socket
 * pairs. Each worker thread's slot keeps the last session the server gave
 * it and offers it again, TLS 1.3 and 1.2; a thread's first connection is
 * full; a server that refuses the session gets a full handshake whose
 * session replaces it; a failed handshake empties the slot; `no-ssl-reuse`
 * never resumes, and the word is read on server lines only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "engine/core/cfg.h"
#include "engine/core/tls.h"
#include "tls_testcert.h"

static char pem_path[64], pem2_path[64];

static void setup(void)
{
	tls_test_make_pem(pem_path, sizeof(pem_path), "/tmp/sluice-tls-resume-XXXXXX");
	tls_test_make_pem(pem2_path, sizeof(pem2_path), "/tmp/sluice-tls-resume-XXXXXX");
}

static void teardown(void)
{
	unlink(pem_path);
	unlink(pem2_path);
}

TestSuite(tls_resume, .init = setup, .fini = teardown);

static struct tls_bind *bind_new_crt(const char *crt)
{
	struct tls_bind_opts o = { 0 };
	char err[256] = "";
	struct tls_bind *tb;

	o.crt = crt;
	tb = tls_bind_new(&o, err, sizeof(err));
	cr_assert(tb, "%s", err);
	return tb;
}

static struct tls_bind *bind_new(void)
{
	return bind_new_crt(pem_path);
}

static struct tls_srv *srv_new(struct tls_srv_opts *o)
{
	char err[256] = "";
	struct tls_srv *ts = tls_srv_new(o, err, sizeof(err));

	cr_assert(ts, "%s", err);
	return ts;
}

/* One connection from <ts> as worker thread <tid> to <tb>: both
 * handshakes, then one record from the server that the client reads (a
 * TLS 1.3 ticket comes before it, so the client has it afterwards).
 * Returns 1 when the client's handshake resumed, 0 when it was full, -1
 * when it failed (*why set). */
static int one_conn(struct tls_srv *ts, unsigned tid, struct tls_bind *tb, enum tls_fail *why)
{
	struct ssl_st *cli, *srv;
	int sv[2], cdone = 0, sdone = 0, rc = 0, resumed;
	char buf[64];
	struct iovec iov = { .iov_base = "hello", .iov_len = 5 };

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	cli = tls_connect_new(ts, sv[1], tid);
	srv = tls_accept_new(tb, sv[0]);
	cr_assert(cli && srv);
	for (int i = 0; i < 100 && !(cdone && sdone) && rc >= 0; i++) {
		enum tls_fail swhy;
		int ww = 0;

		if (!cdone && (rc = tls_handshake(cli, &ww, why)) < 0)
			break;
		cdone = cdone || rc == 1;
		if (!sdone) {
			tls_hs_readable(srv);  /* no poller here: always say so */
			sdone = tls_handshake(srv, &ww, &swhy) == 1;
		}
	}
	if (rc < 0) {
		resumed = -1;
		goto end;
	}
	cr_assert(cdone && sdone);
	resumed = tls_resumed(cli) != 0;
	cr_assert_eq(tls_resumed(srv) != 0, resumed, "both sides agree");
	cr_assert_eq(tls_sendv(srv, &iov, 1, 0), 5);
	cr_assert_eq(tls_recv(cli, buf, sizeof(buf)), 5);
	cr_assert(memcmp(buf, "hello", 5) == 0);
end:
	tls_free(cli);
	tls_free(srv);
	close(sv[0]);
	close(sv[1]);
	return resumed;
}

/* The pattern of <n> connections from <ts> on threads <tids>[i]. */
static void expect(struct tls_srv *ts, struct tls_bind *tb, int n, const unsigned *tids,
		   const int *want, const char *what)
{
	for (int i = 0; i < n; i++) {
		enum tls_fail why = TLS_FAIL_PROTOCOL;
		int got = one_conn(ts, tids[i], tb, &why);

		cr_assert_eq(got, want[i], "%s: connection %d (thread %u): %d, expected %d",
			     what, i, tids[i], got, want[i]);
	}
}

/* TLS 1.3: the server (ours) accepts a ticket without issuing a new one,
 * so the same session is offered again and again: every connection after
 * a thread's first resumes, with verification and SNI on. */
Test(tls_resume, tls13_per_thread_slots)
{
	struct tls_bind *tb = bind_new();
	struct tls_srv_opts o = { .ca_file = pem_path, .sni = "io.test" };
	struct tls_srv *ts = srv_new(&o);
	static const unsigned tids[] = { 0, 0, 0, 1, 1, 0, 7, 7 };
	static const int want[] = { 0, 1, 1, 0, 1, 1, 0, 1 };

	cr_assert(tls_srv_reuse(ts));
	expect(ts, tb, 8, tids, want, "TLS 1.3");
	tls_srv_free(ts);
	tls_bind_free(tb);
}

/* TLS 1.2 sessions (tickets) are kept the same way. */
Test(tls_resume, tls12)
{
	struct tls_bind *tb = bind_new();
	struct tls_srv_opts o = { .verify_none = 1, .p.max_ver = "TLSv1.2" };
	struct tls_srv *ts = srv_new(&o);
	static const unsigned tids[] = { 3, 3, 3 };
	static const int want[] = { 0, 1, 1 };

	expect(ts, tb, 3, tids, want, "TLS 1.2");
	tls_srv_free(ts);
	tls_bind_free(tb);
}

/* A server that cannot decrypt the ticket (another bind: other ticket
 * keys) answers with a full handshake; its session replaces the slot's,
 * so the next connection to it resumes. */
Test(tls_resume, refused_session_replaced)
{
	struct tls_bind *tb1 = bind_new(), *tb2 = bind_new();
	struct tls_srv_opts o = { .verify_none = 1 };
	struct tls_srv *ts = srv_new(&o);
	enum tls_fail why;

	cr_assert_eq(one_conn(ts, 0, tb1, &why), 0);
	cr_assert_eq(one_conn(ts, 0, tb1, &why), 1);
	cr_assert_eq(one_conn(ts, 0, tb2, &why), 0, "other keys: full");
	cr_assert_eq(one_conn(ts, 0, tb2, &why), 1, "its own session then resumes");
	tls_srv_free(ts);
	tls_bind_free(tb1);
	tls_bind_free(tb2);
}

/* A failed handshake empties the thread's slot: a server with other
 * ticket keys and a certificate we do not trust fails, and the next
 * connection to the first server is a full handshake. */
Test(tls_resume, failure_forgets_session)
{
	struct tls_bind *tb1 = bind_new(), *tb2 = bind_new_crt(pem2_path);
	struct tls_srv_opts o = { .ca_file = pem_path, .sni = "io.test" };
	struct tls_srv *ts = srv_new(&o);
	enum tls_fail why = TLS_FAIL_PROTOCOL;

	cr_assert_eq(one_conn(ts, 2, tb1, &why), 0);
	cr_assert_eq(one_conn(ts, 2, tb1, &why), 1);
	cr_assert_eq(one_conn(ts, 2, tb2, &why), -1);
	cr_assert_eq(why, TLS_FAIL_VERIFY);
	cr_assert_eq(one_conn(ts, 2, tb1, &why), 0, "the slot was emptied");
	cr_assert_eq(one_conn(ts, 2, tb1, &why), 1);
	tls_srv_free(ts);
	tls_bind_free(tb1);
	tls_bind_free(tb2);
}

/* no-ssl-reuse: every handshake is full. */
Test(tls_resume, no_reuse)
{
	struct tls_bind *tb = bind_new();
	struct tls_srv_opts o = { .verify_none = 1, .no_reuse = 1 };
	struct tls_srv *ts = srv_new(&o);
	static const unsigned tids[] = { 0, 0, 0 };
	static const int want[] = { 0, 0, 0 };

	cr_assert(!tls_srv_reuse(ts));
	expect(ts, tb, 3, tids, want, "no-ssl-reuse");
	tls_srv_free(ts);
	tls_bind_free(tb);
}

/* Another server line naming another server shares nothing: it still
 * fails verification of its name, after the first line's sessions exist. */
Test(tls_resume, other_name_still_verified)
{
	struct tls_bind *tb = bind_new();
	struct tls_srv_opts good = { .ca_file = pem_path, .sni = "io.test" };
	struct tls_srv_opts other = { .ca_file = pem_path, .sni = "other.test" };
	struct tls_srv *ts = srv_new(&good), *ts2 = srv_new(&other);
	enum tls_fail why = TLS_FAIL_PROTOCOL;

	cr_assert_eq(one_conn(ts, 0, tb, &why), 0);
	cr_assert_eq(one_conn(ts, 0, tb, &why), 1);
	cr_assert_eq(one_conn(ts2, 0, tb, &why), -1);
	cr_assert_eq(why, TLS_FAIL_VERIFY);
	tls_srv_free(ts);
	tls_srv_free(ts2);
	tls_bind_free(tb);
}

/* Parses <text>, which must succeed. */
static struct cfg *ok(const char *text)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "t.cfg", &err);

	cr_assert_not_null(c, "unexpected error: %s", err ? err : "(null)");
	return c;
}

/* Parses <text>, which must fail with <msg>. */
static void bad(const char *text, const char *msg)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "t.cfg", &err);

	cr_assert_null(c);
	cr_assert_not_null(err);
	cr_assert_str_eq(err, msg);
	free(err);
}

#define FEB "frontend f\n bind :8080\n default_backend b\nbackend b\n"

/* `no-ssl-reuse` on a server line and through default-server, undone by
 * `ssl-reuse`; refused without `ssl` and where HAProxy does not take it. */
Test(tls_resume, cfg_no_ssl_reuse)
{
	struct cfg *c = ok(FEB " default-server ssl verify none\n"
			   " server a 127.0.0.1:81\n"
			   " server b 127.0.0.1:82 no-ssl-reuse\n"
			   "backend b2\n default-server no-ssl-reuse no-tls-tickets\n"
			   " server c 127.0.0.1:83 ssl verify none\n"
			   " server d 127.0.0.1:84 ssl verify none ssl-reuse tls-tickets\n");

	cr_assert(tls_srv_reuse(c->backends[0].servers[0].tls));
	cr_assert(!tls_srv_reuse(c->backends[0].servers[1].tls));
	cr_assert(!tls_srv_reuse(c->backends[1].servers[0].tls));
	/* HAProxy's `ssl-reuse` undoes default-server's `no-ssl-reuse` */
	cr_assert(tls_srv_reuse(c->backends[1].servers[1].tls));
	cfg_free(c);
	bad(FEB " server x 1.2.3.4:80 no-ssl-reuse\n",
	    "t.cfg:5: 'server' TLS options on server 'x' without 'ssl'");
	bad("global\n ssl-default-server-options no-ssl-reuse\n" FEB " server x 1.2.3.4:80\n",
	    "t.cfg:2: 'ssl-default-server-options' unsupported option 'no-ssl-reuse' (expected "
	    "ssl-min-ver, ssl-max-ver, no-tls-tickets, no-tlsv13, no-tlsv12, no-tlsv11, no-tlsv10, "
	    "no-sslv3)");
	bad(FEB " server x 1.2.3.4:80\nfrontend g\n bind :8081 ssl crt /x.pem no-ssl-reuse\n"
	    " default_backend b\n",
	    "t.cfg:7: 'bind' unsupported bind option 'no-ssl-reuse' (expected proto, ssl, crt, crt-list, "
	    "alpn, ssl-min-ver, ssl-max-ver, ciphers, ciphersuites, curves, no-tls-tickets, "
	    "no-tlsv13, no-tlsv12, no-tlsv11, no-tlsv10, no-sslv3)");
}

/* test_tls_io.c - the TLS record transport (engine/core/tls.c) over a
 * non-blocking socket pair: OpenSSL reads ahead (several records in one
 * read), and tls_recv_drained() says "drained" exactly when neither the
 * socket nor OpenSSL holds a byte, so that a caller stopping on it never
 * leaves data unread and never needs the read that meets EAGAIN;
 * tls_sendv() sends whole records, handing a short rest back; a server
 * handshake reads only when told the socket is readable; and over TCP,
 * the session ticket leaves in the segment of the first answer, and the
 * close_notify in that of the FIN. */
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include "engine/core/tls.h"
#include "tls_testcert.h"

static char pem_path[64];
static struct tls_bind *tb;
static SSL_CTX *cli_ctx;
static int sv[2];
static struct ssl_st *srv;  /* ours, through tls.h */
static SSL *cli;            /* the peer, plain OpenSSL */

/* Makes our server SSL over sv[0] and a client SSL over sv[1], both
 * sockets already connected and non-blocking. */
static void pair_ssl(void)
{
	struct tls_bind_opts o = { 0 };
	char err[256] = "";

	tls_test_make_pem(pem_path, sizeof(pem_path), "/tmp/sluice-tls-io-XXXXXX");
	o.crt = pem_path;
	o.p.min_ver = "TLSv1.3";
	tb = tls_bind_new(&o, err, sizeof(err));
	cr_assert(tb, "%s", err);
	srv = tls_accept_new(tb, sv[0]);
	cli_ctx = SSL_CTX_new(TLS_client_method());
	cr_assert(srv && cli_ctx);
	/* SSL_write counts only records wholly in the socket */
	SSL_CTX_set_mode(cli_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	cli = SSL_new(cli_ctx);
	cr_assert(cli && SSL_set_fd(cli, sv[1]) == 1);
	SSL_set_connect_state(cli);
}

/* Runs both handshakes to their end. */
static void pair_handshake(void)
{
	int cdone = 0, sdone = 0;

	for (int i = 0; i < 100 && !(cdone && sdone); i++) {
		enum tls_fail why;
		int ww = 0, rc;

		if (!cdone) {
			rc = SSL_do_handshake(cli);
			cr_assert(rc == 1 || SSL_get_error(cli, rc) == SSL_ERROR_WANT_READ);
			cdone = rc == 1;
		}
		if (!sdone) {
			tls_hs_readable(srv);  /* no poller here: always say so */
			rc = tls_handshake(srv, &ww, &why);
			cr_assert(rc >= 0);
			sdone = rc == 1;
		}
	}
	cr_assert(cdone && sdone);
}

/* The pair over a socket pair, before its handshake. */
static void open_unix(void)
{
	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	pair_ssl();
}

/* Connects a client SSL to our server SSL over a socket pair and runs
 * both handshakes to their end. */
static void setup(void)
{
	open_unix();
	pair_handshake();
}

static void teardown(void)
{
	SSL_free(cli);
	SSL_CTX_free(cli_ctx);
	tls_free(srv);
	tls_bind_free(tb);
	close(sv[0]);
	close(sv[1]);
	unlink(pem_path);
}

TestSuite(tls_io, .init = setup, .fini = teardown);

/* Three records in the socket: one read() takes them all; the first two
 * tls_recv leave records inside OpenSSL (not drained), the third leaves
 * nothing (drained), and a further read indeed meets EAGAIN. */
Test(tls_io, three_records_read_ahead_then_drained)
{
	const char *msg[] = { "aaa", "bbbb", "ccccc" };
	char buf[4096];

	for (int i = 0; i < 3; i++)
		cr_assert(SSL_write(cli, msg[i], (int)strlen(msg[i])) == (int)strlen(msg[i]));
	for (int i = 0; i < 3; i++) {
		ssize_t n = tls_recv(srv, buf, sizeof(buf));

		cr_assert_eq(n, (ssize_t)strlen(msg[i]));
		cr_assert(memcmp(buf, msg[i], (size_t)n) == 0);
		/* read ahead: the socket was emptied by the first read */
		cr_assert_eq(recv(sv[0], buf, 1, MSG_PEEK), -1);
		cr_assert_eq(tls_recv_drained(srv), i == 2, "record %d", i);
	}
	errno = 0;
	cr_assert_eq(tls_recv(srv, buf, sizeof(buf)), -1);
	cr_assert_eq(errno, EAGAIN);
}

/* 200 KB in 16 KiB records, more than one read ahead holds: "drained" is
 * never said while bytes remain, and is said once all are read. */
Test(tls_io, drained_never_early)
{
	static char out[200000], in[sizeof(out)];
	size_t sent = 0, got = 0;
	int drained = 0;

	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('a' + i % 23);
	while (!drained) {
		while (sent < sizeof(out)) {
			int rc = SSL_write(cli, out + sent, (int)(sizeof(out) - sent));

			if (rc <= 0) {
				cr_assert_eq(SSL_get_error(cli, rc), SSL_ERROR_WANT_WRITE);
				break;
			}
			sent += (size_t)rc;
		}
		ssize_t n = tls_recv(srv, in + got, sizeof(in) - got);

		if (n < 0) {
			/* only when the reader did not stop on "drained" */
			cr_assert_eq(errno, EAGAIN);
			cr_assert(got < sent || sent < sizeof(out));
			continue;
		}
		cr_assert(n > 0);
		got += (size_t)n;
		if (tls_recv_drained(srv)) {
			/* nothing in the socket, nothing in OpenSSL: all that the
			 * writer got out so far was read */
			cr_assert_eq(got, sent, "drained at %zu of %zu sent", got, sent);
			drained = sent == sizeof(out);
		}
	}
	cr_assert_eq(got, sizeof(out));
	cr_assert(memcmp(in, out, sizeof(out)) == 0);
}

/* Reads from the client until <want> bytes came, one SSL_read per record;
 * returns the number of records they came in. */
static int cli_read_records(char *in, size_t want)
{
	size_t got = 0;
	int records = 0;

	while (got < want) {
		int rc = SSL_read(cli, in + got, (int)(want - got));

		if (rc <= 0) {
			cr_assert_eq(SSL_get_error(cli, rc), SSL_ERROR_WANT_READ);
			continue;
		}
		got += (size_t)rc;
		records++;
	}
	return records;
}

/* tls_sendv writes whole 16 KiB records: a 9-byte header and a 20,000-byte
 * payload leave as one full record, and the 4,625 bytes after it come
 * back to the caller instead of leaving as a short record of their own;
 * offered alone, such a rest is sent. Fewer than 16 KiB in all: one record. */
Test(tls_io, sendv_whole_records_then_the_rest)
{
	static char hd[9], payload[20000], in[sizeof(hd) + sizeof(payload)], all[sizeof(in)];
	struct iovec iov[2] = { { hd, sizeof(hd) }, { payload, sizeof(payload) } };
	struct iovec small[2] = { { hd, sizeof(hd) }, { payload, 300 } };
	size_t rest = sizeof(all) - 16384;
	struct iovec tail = { all + 16384, rest };

	memset(hd, 'h', sizeof(hd));
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (char)('a' + i % 23);
	memcpy(all, hd, sizeof(hd));
	memcpy(all + sizeof(hd), payload, sizeof(payload));
	cr_assert_eq(tls_sendv(srv, iov, 2, 0), 16384);
	cr_assert_eq(cli_read_records(in, 16384), 1);
	cr_assert_eq(SSL_pending(cli), 0);
	cr_assert_eq(recv(sv[1], in + 16384, 1, MSG_PEEK), -1, "nothing more was sent");
	cr_assert_eq(tls_sendv(srv, &tail, 1, 0), (ssize_t)rest);
	cr_assert_eq(cli_read_records(in + 16384, rest), 1);
	cr_assert(memcmp(in, all, sizeof(all)) == 0);
	cr_assert_eq(tls_sendv(srv, small, 2, 0), 309);
	cr_assert_eq(cli_read_records(in, 309), 1);
	cr_assert(memcmp(in, all, 309) == 0);
}

/* The ticket is not sent at the end of the handshake (the client has none
 * and nothing waits in its socket) but in front of the first bytes. */
Test(tls_io, ticket_comes_with_the_first_bytes)
{
	struct iovec iov = { .iov_base = "hi", .iov_len = 2 };
	char buf[16];

	cr_assert_eq(recv(sv[1], buf, 1, MSG_PEEK), -1, "nothing after the handshake");
	cr_assert(!SSL_SESSION_is_resumable(SSL_get0_session(cli)));
	cr_assert_eq(tls_sendv(srv, &iov, 1, 0), 2);
	cr_assert_eq(cli_read_records(buf, 2), 1);
	cr_assert(memcmp(buf, "hi", 2) == 0);
	cr_assert(SSL_SESSION_is_resumable(SSL_get0_session(cli)), "the ticket came first");
}

TestSuite(tls_hs, .init = open_unix, .fini = teardown);

/* After sending its flight, the server handshake does not read the socket
 * again until told it is readable: the client's Finished waits in the
 * socket (a read would have taken it, read ahead), then is read once the
 * poller's word comes. */
Test(tls_hs, reads_wait_for_the_poller)
{
	enum tls_fail why;
	int ww = 1;
	char c;

	cr_assert_eq(SSL_get_fd(srv), sv[0], "our BIO answers as a socket BIO");
	cr_assert_eq(SSL_do_handshake(cli), -1, "the ClientHello is sent");
	tls_hs_readable(srv);
	cr_assert_eq(tls_handshake(srv, &ww, &why), 0);
	cr_assert_eq(ww, 0, "it waits to read");
	cr_assert_eq(SSL_do_handshake(cli), 1, "the client is done, its Finished sent");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(tls_handshake(srv, &ww, &why), 0);
		cr_assert_eq(ww, 0);
		cr_assert_eq(recv(sv[0], &c, 1, MSG_PEEK), 1, "the Finished is still unread");
	}
	tls_hs_readable(srv);
	cr_assert_eq(tls_handshake(srv, &ww, &why), 1);
	cr_assert_eq(recv(sv[0], &c, 1, MSG_PEEK), -1);
}

/* Returns the TCP_INFO of socket <fd>. */
static struct tcp_info tcp_info_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	cr_assert(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0);
	return ti;
}

/* The pair over TCP on loopback, Nagle off on our side as on a proxy's. */
static void open_tcp(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	cr_assert(lfd >= 0);
	cr_assert(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 1) == 0);
	cr_assert(getsockname(lfd, (struct sockaddr *)&a, &alen) == 0);
	sv[1] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(sv[1] >= 0 && connect(sv[1], (struct sockaddr *)&a, sizeof(a)) == 0);
	sv[0] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
	cr_assert(sv[0] >= 0);
	close(lfd);
	cr_assert(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	cr_assert(setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0);
	pair_ssl();
	pair_handshake();
}

TestSuite(tls_tcp, .init = open_tcp, .fini = teardown);

/* Over TCP: the ticket and the first answer leave in one data segment,
 * and the close_notify waits in the socket until the FIN takes it. */
Test(tls_tcp, ticket_with_answer_close_notify_with_fin)
{
	struct iovec iov = { .iov_base = "hi", .iov_len = 2 };
	uint32_t segs = tcp_info_of(sv[0]).tcpi_data_segs_out;
	char buf[16];
	int rc;

	cr_assert_eq(tls_sendv(srv, &iov, 1, 0), 2);
	cr_assert_eq(tcp_info_of(sv[0]).tcpi_data_segs_out, segs + 1, "ticket and answer: one segment");
	cr_assert_eq(cli_read_records(buf, 2), 1);
	cr_assert(SSL_SESSION_is_resumable(SSL_get0_session(cli)));
	tls_shutdown(srv);
	cr_assert(tcp_info_of(sv[0]).tcpi_notsent_bytes > 0, "the close_notify waits for the FIN");
	cr_assert_eq(tcp_info_of(sv[0]).tcpi_data_segs_out, segs + 1);
	cr_assert(shutdown(sv[0], SHUT_WR) == 0);
	cr_assert_eq(tcp_info_of(sv[0]).tcpi_data_segs_out, segs + 2);
	for (int i = 0; i < 1000 && (rc = SSL_read(cli, buf, sizeof(buf))) < 0; i++)
		cr_assert_eq(SSL_get_error(cli, rc), SSL_ERROR_WANT_READ);
	cr_assert_eq(SSL_get_error(cli, rc), SSL_ERROR_ZERO_RETURN, "a clean close_notify");
}

/* tls_ssl_probe.c - what OpenSSL keeps for one idle TLS 1.3 server
 * connection, allocation by allocation (bench/RESULTS.md section I).
 *
 * OpenSSL's allocator is replaced (CRYPTO_set_mem_functions) by one that
 * records every live block with the file and line OpenSSL gives for it.
 * A server and a client SSL with the settings of engine/core/tls.c (modes,
 * options, one ticket) do a handshake over a socket pair, one request and
 * one answer, and a last server read that finds nothing (as an idle
 * connection's last read does); the blocks the server side still holds
 * are then listed. Only calls on the server's SSL are recorded, and the
 * second connection of the process is the one shown: the first one also
 * fills OpenSSL's process-wide caches (providers, algorithm lookups).
 * Sizes are those malloc_usable_size() gives (glibc's here, jemalloc's in
 * Sluice: its size classes make the same blocks a little bigger).
 *
 * Usage: tls_ssl_probe PEM [CIPHERSUITES]
 *   PEM: certificate and key; CIPHERSUITES: TLS 1.3 suites to offer.
 * Output: one line per live block ("bytes file:line"), then the totals
 * after the request and after SSL_free_buffers().
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROBE_MAX_BLOCKS 4096

/* One live block recorded while recording is on. */
struct probe_blk {
	void *p;
	const char *file;
	int line;
	size_t size;
};

/* The probe is a single-threaded program: plain statics suffice. */
static struct probe_blk probe_blks[PROBE_MAX_BLOCKS];
static unsigned probe_nb;
static int probe_on;

/* Records block <p> of usable size <n>, if recording. */
static void probe_add(void *p, const char *file, int line)
{
	if (!probe_on || !p)
		return;
	for (unsigned i = 0; i < probe_nb; i++) {
		if (!probe_blks[i].p) {
			probe_blks[i] = (struct probe_blk){ p, file, line, malloc_usable_size(p) };
			return;
		}
	}
	if (probe_nb < PROBE_MAX_BLOCKS)
		probe_blks[probe_nb++] = (struct probe_blk){ p, file, line, malloc_usable_size(p) };
}

/* Forgets block <p> if it was recorded. */
static void probe_del(void *p)
{
	for (unsigned i = 0; i < probe_nb; i++) {
		if (probe_blks[i].p == p) {
			probe_blks[i].p = NULL;
			return;
		}
	}
}

static void *probe_malloc(size_t n, const char *file, int line)
{
	void *p = n ? malloc(n) : NULL;

	probe_add(p, file, line);
	return p;
}

static void probe_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p)
		probe_del(p);
	free(p);
}

static void *probe_realloc(void *p, size_t n, const char *file, int line)
{
	void *np;

	if (!n) {
		probe_free(p, file, line);
		return NULL;
	}
	np = realloc(p, n);
	if (np) {
		if (p)
			probe_del(p);
		probe_add(np, file, line);
	}
	return np;
}

/* Prints the live recorded blocks (when <list>) and their total. */
static void probe_dump(const char *what, int list)
{
	size_t total = 0;
	unsigned blocks = 0;

	for (unsigned i = 0; i < probe_nb; i++) {
		if (!probe_blks[i].p)
			continue;
		if (list)
			printf("%7zu %s:%d\n", probe_blks[i].size, probe_blks[i].file, probe_blks[i].line);
		total += probe_blks[i].size;
		blocks++;
	}
	printf("%s: %zu bytes in %u blocks\n", what, total, blocks);
}

/* Runs server call <rc = expr> with recording on. */
#define PROBE_SRV(expr) (probe_on = 1, probe_rc = (expr), probe_on = 0, probe_rc)
static int probe_rc;

/* One connection: handshake, a request, an answer, a read that finds
 * nothing. Lists what the server keeps when <show>. Returns 0 or -1. */
static int probe_conn(SSL_CTX *sctx, SSL_CTX *cctx, int show)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char rsp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char buf[4096];
	int sv[2], done = 0;
	SSL *ss, *cs;

	probe_nb = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	probe_on = 1;
	ss = SSL_new(sctx);
	probe_on = 0;
	cs = SSL_new(cctx);
	if (!ss || !cs || !SSL_set_fd(cs, sv[1]) || !PROBE_SRV(SSL_set_fd(ss, sv[0])))
		return -1;
	SSL_set_accept_state(ss);
	SSL_set_connect_state(cs);
	for (int i = 0; i < 50 && done != 2; i++)
		done = (PROBE_SRV(SSL_do_handshake(ss)) == 1) + (SSL_do_handshake(cs) == 1);
	if (done != 2 || SSL_write(cs, req, (int)strlen(req)) <= 0 ||
	    PROBE_SRV(SSL_read(ss, buf, sizeof(buf))) <= 0 ||
	    PROBE_SRV(SSL_write(ss, rsp, (int)strlen(rsp))) <= 0)
		return -1;
	/* the idle connection's last read: nothing there (EAGAIN) */
	if (PROBE_SRV(SSL_read(ss, buf, sizeof(buf))) > 0)
		return -1;
	(void)SSL_read(cs, buf, sizeof(buf)); /* ticket and answer */
	(void)SSL_read(cs, buf, sizeof(buf));
	if (show) {
		probe_dump("server SSL, idle after one request", 1);
		probe_on = 1;
		(void)SSL_free_buffers(ss);
		probe_on = 0;
		probe_dump("after SSL_free_buffers()", 0);
	}
	SSL_free(cs);
	probe_on = 1;
	SSL_free(ss);
	probe_on = 0;
	close(sv[0]);
	close(sv[1]);
	ERR_clear_error();
	return 0;
}

int main(int argc, char **argv)
{
	SSL_CTX *sctx, *cctx;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PEM [CIPHERSUITES]\n", argv[0]);
		return 2;
	}
	if (CRYPTO_set_mem_functions(probe_malloc, probe_realloc, probe_free) != 1) {
		fprintf(stderr, "OpenSSL allocated before main: cannot record\n");
		return 1;
	}
	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	if (!sctx || !cctx ||
	    SSL_CTX_use_certificate_chain_file(sctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    (argc > 2 && SSL_CTX_set_ciphersuites(sctx, argv[2]) != 1)) {
		fprintf(stderr, "cannot set up the contexts (certificate %s)\n", argv[1]);
		return 1;
	}
	/* engine/core/tls.c's settings for a bind */
	SSL_CTX_set_options(sctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
				  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(sctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			       SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_num_tickets(sctx, 1);
	(void)SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
	if (probe_conn(sctx, cctx, 0) < 0 || probe_conn(sctx, cctx, 1) < 0) {
		fprintf(stderr, "the TLS exchange failed\n");
		return 1;
	}
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	return 0;
}

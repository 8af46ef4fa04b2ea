/* tls.c - OpenSSL contexts and the non-blocking record transport (see tls.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "engine/core/tls.h"
#include "engine/core/tlsmem.h"
#include "engine/core/tlsopt.h"

/* One certificate, the names it answers SNI for, and the settings it is
 * served with: the bind line's, or a crt-list entry's own `[...]` on top of
 * them (<own>). */
struct tls_cert {
	SSL_CTX *ctx;
	char **names;             /* lower case; "*.example.com" for wildcards */
	unsigned nb_names;
	int own;                  /* crt-list entry with its own SSL options */
	char *curves;             /* the entry's own `curves` (owned), else NULL */
	unsigned char alpn[64];   /* its protocols, wire format, by preference */
	unsigned alpn_len;
};

struct tls_bind {
	struct tls_cert *certs;   /* certs[0] is the default */
	unsigned nb_certs;
	SSL_CTX *base;            /* new SSL objects start from it (see tls_hello_cb) */
	unsigned char alpn[64];   /* the bind line's protocols, wire format */
	unsigned alpn_len;
	unsigned char tk_master[32]; /* session ticket keys derive from it */
	EVP_CIPHER *tk_cipher;    /* AES-256-CBC, fetched once, not per ticket */
};

/* Session ticket keys rotate every period; a ticket stays valid for
 * TLS_TICKET_KEEP periods after the one it was issued in (renewed when
 * used with an older key). */
#define TLS_TICKET_PERIOD_S 3600
#define TLS_TICKET_KEEP     2

/* Biggest plaintext one record carries: what tls_sendv gathers at once. */
#define TLS_REC_MAX 16384

/* Where tls_sendv gathers scattered bytes into one record: per thread, not
 * per connection, so that an idle connection holds none of it. */
static __thread unsigned char tls_gather[TLS_REC_MAX];

/* ---- reading ahead ---- */

/* Every context reads ahead: one read() takes whatever the socket holds
 * (up to OpenSSL's record buffer, about 17 KiB) instead of two per record
 * (its 5-byte header, then its body), and the records that came together
 * are then decrypted from memory. Under HTTP/2 a client's turn is often
 * several small records (a HEADERS batch, a WINDOW_UPDATE): one syscall
 * instead of two per record. SSL_MODE_RELEASE_BUFFERS still frees the
 * record buffer as soon as it holds no byte, so an idle connection keeps
 * none. What this changes for callers: bytes read from the socket may wait
 * inside OpenSSL, which no poller reports; a handshake in particular may
 * have taken the first request's records already (conn_new and the mux
 * therefore start a TLS connection as readable). */
static void tls_ctx_read_ahead(SSL_CTX *ctx)
{
	SSL_CTX_set_read_ahead(ctx, 1);
}

/* ---- the socket BIO ---- */

/* OpenSSL reads and writes the socket through a BIO of our own rather than
 * its socket BIO, for two things that one needs and the other cannot do:
 *
 * - Reads record whether they ended the socket's data: a read that
 *   returned fewer bytes than OpenSSL asked for, or none (EAGAIN). recv()
 *   callers draw that conclusion from a short read; tls_recv_drained()
 *   lets TLS callers do so too, saving the read that would only meet
 *   EAGAIN.
 * - Writes may be marked "more follows at once" (MSG_MORE): the kernel
 *   then holds a short segment until the next write without the mark, or
 *   the FIN, so that records made together leave in one TCP segment. On
 *   loopback and fast links every segment costs the sender a wake-up of
 *   the receiver; a new TLS 1.3 connection otherwise sends its session
 *   ticket, its first answer, and its close_notify and FIN as separate
 *   segments. The mark is only ever set by code that writes again, or
 *   closes the socket, before it returns (tls_sendv, tls_shutdown), so
 *   nothing stays held.
 *
 * - During a server handshake, a read that would follow one that drained
 *   the socket is not made unless the poller said the socket is readable
 *   since (tls_hs_readable): OpenSSL reads right after sending its flight,
 *   and again at every wake-up, a write readiness included, while the
 *   client's answer cannot be there yet. Each such read costs a system
 *   call that only meets EAGAIN. The edge-triggered poller reports every
 *   byte that arrives after a read, so the gate never hides data. After
 *   the handshake, callers have tls_recv_drained() for the same purpose,
 *   and the gate is lifted.
 *
 * Its whole state is one word in the BIO's data pointer: the descriptor
 * shifted left, and the flags below. No allocation beyond the BIO itself,
 * which SSL_set_fd would make too. */
enum {
	TLS_BIO_DRAINED = 1,  /* the last read ended the socket's data */
	TLS_BIO_EOF     = 2,  /* a read met the peer's end (BIO_eof) */
	TLS_BIO_MORE    = 4,  /* writes carry MSG_MORE */
	TLS_BIO_TICKET  = 8,  /* a TLS 1.3 session ticket is owed (tls_sendv) */
	TLS_BIO_GATE    = 16, /* reads after a drained one wait for the poller */
	TLS_BIO_RENEW   = 32, /* the ticket resumed is old: a new one is owed */
	TLS_BIO_SHIFT   = 6,
};

static uintptr_t tls_bio_word(BIO *b)
{
	return (uintptr_t)BIO_get_data(b);
}

static int tls_bio_fd(BIO *b)
{
	return (int)(tls_bio_word(b) >> TLS_BIO_SHIFT);
}

/* Sets the flags <set> and clears the flags <clr> of <b>. */
static void tls_bio_flag(BIO *b, uintptr_t set, uintptr_t clr)
{
	BIO_set_data(b, (void *)((tls_bio_word(b) & ~clr) | set));
}

static int tls_bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	int more = (tls_bio_word(b) & TLS_BIO_MORE) ? MSG_MORE : 0;
	ssize_t n = send(tls_bio_fd(b), data, len, MSG_NOSIGNAL | more);

	BIO_clear_retry_flags(b);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_write(b);
		return 0;
	}
	*written = (size_t)n;
	return 1;
}

static int tls_bio_read(BIO *b, char *data, size_t len, size_t *readbytes)
{
	uintptr_t w = tls_bio_word(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if ((w & (TLS_BIO_GATE | TLS_BIO_DRAINED)) == (TLS_BIO_GATE | TLS_BIO_DRAINED)) {
		BIO_set_retry_read(b);
		return 0;
	}
	n = read(tls_bio_fd(b), data, len);
	if (n < 0) {
		/* only EAGAIN says the socket is empty: after EINTR it may
		 * hold bytes whose edge the poller already reported */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			tls_bio_flag(b, TLS_BIO_DRAINED, 0);
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			BIO_set_retry_read(b);
		return 0;
	}
	if (n == 0) {
		tls_bio_flag(b, TLS_BIO_DRAINED | TLS_BIO_EOF, 0);
		return 0;
	}
	tls_bio_flag(b, (size_t)n < len ? TLS_BIO_DRAINED : 0, TLS_BIO_DRAINED);
	*readbytes = (size_t)n;
	return 1;
}

/* The controls OpenSSL's TLS code uses on a socket BIO; the others are
 * refused (0), as a socket BIO refuses what it does not know. */
static long tls_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DUP:
		return 1;
	case BIO_CTRL_EOF:
		return (tls_bio_word(b) & TLS_BIO_EOF) != 0;
	case BIO_C_GET_FD:
		/* BIO_get_fd(), hence SSL_get_fd(), as on a socket BIO */
		if (ptr)
			*(int *)ptr = tls_bio_fd(b);
		return tls_bio_fd(b);
	default:
		return 0;
	}
}

static BIO_METHOD *tls_bio_method;
static pthread_once_t tls_bio_once = PTHREAD_ONCE_INIT;

/* Builds the method once; read-only afterwards, shared by all threads. */
static void tls_bio_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK |
				     BIO_TYPE_DESCRIPTOR, "sluice socket");

	if (m && (!BIO_meth_set_write_ex(m, tls_bio_write) ||
		  !BIO_meth_set_read_ex(m, tls_bio_read) ||
		  !BIO_meth_set_ctrl(m, tls_bio_ctrl))) {
		BIO_meth_free(m);
		m = NULL;
	}
	tls_bio_method = m;
}

/* Gives <ssl> a socket BIO of ours over <fd>, for both directions, with
 * the flags <flags>. Returns 0, or -1 (out of memory). */
static int tls_set_socket(SSL *ssl, int fd, uintptr_t flags)
{
	BIO *b;

	if (pthread_once(&tls_bio_once, tls_bio_method_init) != 0 || !tls_bio_method)
		return -1;
	b = BIO_new(tls_bio_method);
	if (!b)
		return -1;
	BIO_set_data(b, (void *)(((uintptr_t)fd << TLS_BIO_SHIFT) | flags));
	BIO_set_init(b, 1);
	SSL_set_bio(ssl, b, b);
	return 0;
}

/* ---- contexts ---- */

/* ALPN selection: the certificate's order of preference (<arg>: its struct
 * tls_cert) among what the client offers; none in common means no ALPN
 * (HTTP/1.1), as a client without ALPN gets. OpenSSL calls the callback of
 * the connection's current context, the one SNI switched to. */
static int tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	const struct tls_cert *c = arg;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, c->alpn, c->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Derives the 32-byte key <what> ("aes" or "mac") of ticket period
 * <period> from the bind's master secret into <out>. Returns 0 or -1. */
static int tls_ticket_derive(const struct tls_bind *tb, const char *what, uint64_t period,
			     unsigned char out[32])
{
	unsigned char msg[3 + 8];
	size_t len = 0;

	memcpy(msg, what, 3);
	for (int i = 0; i < 8; i++)
		msg[3 + i] = (unsigned char)(period >> (56 - 8 * i));
	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, tb->tk_master, sizeof(tb->tk_master),
		       msg, sizeof(msg), out, 32, &len) || len != 32)
		return -1;
	return 0;
}

/* The ticket keys of one period of one bind, as a thread last derived
 * them. The bind is known by its master secret, not its address: a bind
 * freed at a reload and a new one allocated at the same place must not
 * share keys. */
struct tls_tk_keys {
	unsigned char master[32];
	uint64_t period;
	unsigned char aes[32], mac[32];
	int valid;
};

/* Per thread, one slot per parity of the period, so that tickets of the
 * current and of the previous period (still accepted) do not evict each
 * other: deriving costs two HMACs with their algorithm lookups, at every
 * ticket made or read otherwise. */
static __thread struct tls_tk_keys tls_tk_cache[2];

/* Returns the ticket keys of <period> for <tb>, derived on first use in
 * this thread and period, or NULL when they cannot be derived. */
static const struct tls_tk_keys *tls_ticket_keys(const struct tls_bind *tb, uint64_t period)
{
	struct tls_tk_keys *k = &tls_tk_cache[period & 1];

	if (k->valid && k->period == period &&
	    memcmp(k->master, tb->tk_master, sizeof(k->master)) == 0)
		return k;
	k->valid = 0;
	if (tls_ticket_derive(tb, "aes", period, k->aes) < 0 ||
	    tls_ticket_derive(tb, "mac", period, k->mac) < 0)
		return NULL;
	memcpy(k->master, tb->tk_master, sizeof(k->master));
	k->period = period;
	k->valid = 1;
	return k;
}

/* Session tickets: encrypted with the keys of the current period, named
 * "sluicetk" + the period. The keys are derived, not stored, so every
 * thread computes the same ones without sharing any mutable state, and
 * rotation needs no timer. A ticket from an older kept period is accepted
 * and renewed; an older or unknown one means a full handshake. */
static int tls_ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
			 EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct tls_bind *tb = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	uint64_t now = (uint64_t)time(NULL) / TLS_TICKET_PERIOD_S, period = 0;
	const struct tls_tk_keys *k;
	OSSL_PARAM params[3];
	int rc = 1;

	if (!tb)
		return -1;
	if (enc) {
		period = now;
		memcpy(key_name, "sluicetk", 8);
		for (int i = 0; i < 8; i++)
			key_name[8 + i] = (unsigned char)(period >> (56 - 8 * i));
		if (RAND_bytes(iv, 16) != 1)
			return -1;
	} else {
		if (memcmp(key_name, "sluicetk", 8) != 0)
			return 0;
		for (int i = 0; i < 8; i++)
			period = (period << 8) | key_name[8 + i];
		if (period > now || now - period > TLS_TICKET_KEEP)
			return 0;
		rc = period == now ? 1 : 2;
		if (rc == 2 && SSL_get_wbio(ssl))
			tls_bio_flag(SSL_get_wbio(ssl), TLS_BIO_RENEW, 0);
	}
	k = tls_ticket_keys(tb, period);
	if (!k)
		return -1;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->mac,
						      sizeof(k->mac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	if (enc ? EVP_EncryptInit_ex(cctx, tb->tk_cipher, NULL, k->aes, iv) != 1
		: EVP_DecryptInit_ex(cctx, tb->tk_cipher, NULL, k->aes, iv) != 1)
		return -1;
	return rc;
}

/* Returns non-zero when <pat> (exact, or "*.rest" matching one label in
 * front of "rest") names <host>. */
static int tls_name_match(const char *pat, const char *host, int wildcard)
{
	const char *dot;

	if (!wildcard)
		return strcmp(pat, host) == 0;
	if (pat[0] != '*' || pat[1] != '.')
		return 0;
	dot = strchr(host, '.');
	return dot && dot != host && strcmp(pat + 1, dot) == 0;
}

/* Returns the certificate of <tb> naming <host> (lower case): exact names
 * first, then wildcards; otherwise the default one. */
static struct tls_cert *tls_cert_for(struct tls_bind *tb, const char *host)
{
	for (int wild = 0; wild < 2; wild++)
		for (unsigned c = 0; c < tb->nb_certs; c++)
			for (unsigned k = 0; k < tb->certs[c].nb_names; k++)
				if (tls_name_match(tb->certs[c].names[k], host, wild))
					return &tb->certs[c];
	return &tb->certs[0];
}

/* Reads the host name of the server_name extension of the ClientHello
 * being processed on <ssl> into <host> (<size> bytes), lower-cased. The
 * extension holds a list with exactly one host_name entry, as OpenSSL
 * requires. Returns 0, or -1 when there is none, or it is malformed or too
 * long (the default certificate then answers, and OpenSSL refuses a
 * malformed extension on its own). */
static int tls_hello_name(SSL *ssl, char *host, size_t size)
{
	const unsigned char *p;
	size_t len, n;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5)
		return -1;
	if ((((size_t)p[0] << 8) | p[1]) != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
		return -1;
	n = ((size_t)p[3] << 8) | p[4];
	if (n == 0 || n != len - 5 || n >= size)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!p[5 + i])
			return -1;
		host[i] = (char)tolower(p[5 + i]);
	}
	host[n] = '\0';
	return 0;
}

/* Puts on <ssl> the settings of certificate <c> (an entry with its own
 * options) that OpenSSL keeps on the SSL object, copied from the first
 * context at SSL_new() and left alone by SSL_set_SSL_CTX(): the version
 * range, the ticket option and the key exchange groups. Ciphers and TLS
 * 1.3 suites are read from the current context, and ALPN from its
 * callback, so they follow the switch by themselves (checked with OpenSSL
 * 3.0). Returns 0 or -1 (out of memory). */
static int tls_ssl_follow(SSL *ssl, const struct tls_cert *c)
{
	if (!SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(c->ctx)) ||
	    !SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(c->ctx)))
		return -1;
	if (SSL_CTX_get_options(c->ctx) & SSL_OP_NO_TICKET)
		SSL_set_options(ssl, SSL_OP_NO_TICKET);
	else
		SSL_clear_options(ssl, SSL_OP_NO_TICKET);
	if (c->curves && SSL_set1_groups_list(ssl, c->curves) != 1)
		return -1;
	return 0;
}

/* ClientHello (the first callback of a handshake, before the version,
 * cipher, group and ALPN choices): SNI picks the certificate, and the
 * connection switches to its context. The session context stays the one
 * it was created from: tickets keep one key set. An entry with its own
 * options also gets those that live on the SSL object (tls_ssl_follow).
 * The SSL object starts from tb->base: the default certificate's context,
 * or, when that one has options of its own, a context without certificate
 * holding the bind line's settings, so that whatever is not overridden on
 * the SSL object is the bind line's and never needs undoing. A
 * HelloRetryRequest brings a second ClientHello with the same name: the
 * same choice again. */
static int tls_hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_bind *tb = arg;
	struct tls_cert *c = &tb->certs[0];
	char host[256];

	if (tb->nb_certs < 2 && !c->own)
		return SSL_CLIENT_HELLO_SUCCESS;
	if (tls_hello_name(ssl, host, sizeof(host)) == 0)
		c = tls_cert_for(tb, host);
	if (SSL_get_SSL_CTX(ssl) != c->ctx && !SSL_set_SSL_CTX(ssl, c->ctx))
		goto fail;
	if (c->own && tls_ssl_follow(ssl, c) < 0)
		goto fail;
	return SSL_CLIENT_HELLO_SUCCESS;
fail:
	*al = SSL_AD_INTERNAL_ERROR;
	return SSL_CLIENT_HELLO_ERROR;
}

/* server_name: the certificate was picked at ClientHello already; this
 * callback only acknowledges the name, so that OpenSSL confirms it to the
 * client and keeps it in the session, as it does not without one. */
static int tls_sni_ack(SSL *ssl, int *al, void *arg)
{
	(void)ssl;
	(void)al;
	(void)arg;
	return SSL_TLSEXT_ERR_OK;
}

/* Adds <name> (lower-cased) to the names of <c>. Returns 0 or -1. */
static int tls_cert_add_name(struct tls_cert *c, const char *name, size_t len)
{
	char **v = realloc(c->names, (c->nb_names + 1) * sizeof(*v));
	char *s;

	if (!v)
		return -1;
	c->names = v;
	s = malloc(len + 1);
	if (!s)
		return -1;
	for (size_t i = 0; i < len; i++)
		s[i] = (char)tolower((unsigned char)name[i]);
	s[len] = '\0';
	c->names[c->nb_names++] = s;
	return 0;
}

/* Collects the DNS names of the certificate of <c>: its subjectAltName DNS
 * entries, or its common name when it has none. Returns 0 or -1. */
static int tls_cert_names(struct tls_cert *c)
{
	X509 *x = SSL_CTX_get0_certificate(c->ctx);
	GENERAL_NAMES *gens;
	char cn[256];
	int n, rc = 0;

	if (!x)
		return -1;
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens) {
		for (int i = 0; i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

			if (g->type == GEN_DNS)
				rc = tls_cert_add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
						       (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(gens);
		if (c->nb_names || rc)
			return rc;
	}
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	if (n > 0)
		rc = tls_cert_add_name(c, cn, (size_t)n);
	return rc;
}

/* Formats OpenSSL's first queued error (or <what>) into <err>. */
static void tls_err(char *err, size_t errlen, const char *what, const char *file)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errlen, "%s '%s'%s%s", what, file, e ? ": " : "", buf);
	ERR_clear_error();
}

/* Returns the protocol version named by <s> (<dflt> when NULL), or 0. */
static int tls_version(const char *s, int dflt)
{
	if (!s)
		return dflt;
	if (strcmp(s, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

/* Formats "invalid <what> '<val>': <OpenSSL's reason>" into <err>. */
static void tls_bad(char *err, size_t errlen, const char *what, const char *val)
{
	unsigned long e = ERR_get_error();
	const char *why = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "invalid %s '%s': %s", what, val, why ? why : "refused by OpenSSL");
	ERR_clear_error();
}

/* Applies the protocol settings <o> to <ctx>: version range (ssl-min-ver,
 * ssl-max-ver and no-tlsv1x narrowing TLS 1.2..1.3), tickets, ciphers,
 * suites and groups. Returns 0, or -1 with a message naming the setting
 * and OpenSSL's reason in <err>. */
static int tls_proto_apply(SSL_CTX *ctx, const struct tls_proto_opts *o, char *err, size_t errlen)
{
	int min = tls_version(o->min_ver, TLS1_2_VERSION);
	int max = tls_version(o->max_ver, TLS1_3_VERSION);

	if (!min || !max) {
		snprintf(err, errlen, "unsupported %s '%s' (expected TLSv1.2, TLSv1.3)",
			 min ? "ssl-max-ver" : "ssl-min-ver", min ? o->max_ver : o->min_ver);
		return -1;
	}
	if (o->no_v12 && min < TLS1_3_VERSION)
		min = TLS1_3_VERSION;
	if (o->no_v13 && max > TLS1_2_VERSION)
		max = TLS1_2_VERSION;
	if (min > max) {
		snprintf(err, errlen, "no TLS version left (ssl-min-ver, ssl-max-ver and no-tlsv1x "
			 "leave nothing between TLSv1.2 and TLSv1.3)");
		return -1;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max)) {
		tls_bad(err, errlen, "TLS version range", o->min_ver ? o->min_ver : "TLSv1.2");
		return -1;
	}
	if (o->ciphers && SSL_CTX_set_cipher_list(ctx, o->ciphers) != 1) {
		tls_bad(err, errlen, "ciphers", o->ciphers);
		return -1;
	}
	if (o->ciphersuites && SSL_CTX_set_ciphersuites(ctx, o->ciphersuites) != 1) {
		tls_bad(err, errlen, "ciphersuites", o->ciphersuites);
		return -1;
	}
	if (o->curves && SSL_CTX_set1_groups_list(ctx, o->curves) != 1) {
		tls_bad(err, errlen, "curves", o->curves);
		return -1;
	}
	if (o->no_tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return 0;
}

int tls_proto_check(const struct tls_proto_opts *o, int server, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int rc;

	tlsmem_init();
	ctx = SSL_CTX_new(server ? TLS_client_method() : TLS_server_method());
	if (!ctx) {
		tls_bad(err, errlen, "context", "new");
		return -1;
	}
	rc = tls_proto_apply(ctx, o, err, errlen);
	SSL_CTX_free(ctx);
	return rc;
}

/* SNI filters of a crt-list line: names that replace the certificate's
 * own (when any is positive) and names removed from them ("!name"). */
struct tls_filters {
	char **v;
	unsigned n;
};

/* Removes entry <k> of the names of <c>. */
static void tls_cert_drop_name(struct tls_cert *c, unsigned k)
{
	free(c->names[k]);
	c->names[k] = c->names[--c->nb_names];
}

/* Applies the SNI filters <f> (NULL: none) to the names of <c>. Returns 0
 * or -1 (out of memory). */
static int tls_cert_filter(struct tls_cert *c, const struct tls_filters *f)
{
	int positive = 0;

	if (!f)
		return 0;
	for (unsigned i = 0; i < f->n; i++)
		positive |= f->v[i][0] != '!';
	if (positive) {
		while (c->nb_names)
			tls_cert_drop_name(c, 0);
		for (unsigned i = 0; i < f->n; i++)
			if (f->v[i][0] != '!' && tls_cert_add_name(c, f->v[i], strlen(f->v[i])) < 0)
				return -1;
	}
	for (unsigned i = 0; i < f->n; i++)
		for (unsigned k = 0; f->v[i][0] == '!' && k < c->nb_names; k++)
			if (strcasecmp(c->names[k], f->v[i] + 1) == 0)
				tls_cert_drop_name(c, k--);
	return 0;
}

/* Turns "h2,http/1.1" into ALPN wire format in <out> (<cap> bytes), its
 * length in *<len>. Returns 0, or -1 with <err>. */
static int tls_alpn_wire(unsigned char *out, size_t cap, unsigned *len, const char *list,
			 char *err, size_t errlen)
{
	const char *p = list;

	*len = 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n > 255 || *len + 1 + n > cap) {
			snprintf(err, errlen, "invalid alpn list '%s'", list);
			return -1;
		}
		out[(*len)++] = (unsigned char)n;
		memcpy(out + *len, p, n);
		*len += (unsigned)n;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* Sets up <ctx>, a server context of <tb>, with the protocol settings <p>
 * and what every context of a bind shares. The ALPN callback is set once
 * the certificates are all loaded (tls_bind_new). Returns 0, or -1 with
 * <err>. */
static int tls_ctx_setup(struct tls_bind *tb, SSL_CTX *ctx, const struct tls_proto_opts *p,
			 char *err, size_t errlen)
{
	static const unsigned char sid[] = "sluice";

	if (tls_proto_apply(ctx, p, err, errlen) < 0)
		return -1;
	/* renegotiation would make a read need a write: refused; a client
	 * closing without close_notify is an end, not an error */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
				 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* no record buffer while idle; partial writes and a moving buffer
	 * because callers retry from a ring whose head may have moved. The
	 * chain sent is the one the PEM holds: without NO_AUTO_CHAIN, a PEM
	 * with no chain certificate made OpenSSL build one from the context's
	 * (empty) store at every handshake, a full X509_verify_cert() with a
	 * signature check each time, for nothing to add */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
	tls_ctx_read_ahead(ctx);
	/* the ticket is not sent at the end of the handshake but with the
	 * first answer (tls_sendv): one TCP segment less per connection */
	SSL_CTX_set_num_tickets(ctx, 0);
	(void)SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_app_data(ctx, tb);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb);
	/* OpenSSL runs the ClientHello callback of the current context: after
	 * a switch (HelloRetryRequest), the new one's */
	SSL_CTX_set_client_hello_cb(ctx, tls_hello_cb, tb);
	SSL_CTX_set_tlsext_servername_callback(ctx, tls_sni_ack);
	return 0;
}

/* Creates the context for the PEM <file> (certificate, chain and key) with
 * the settings of <o>, and appends it to <tb>; <f> (NULL: none) are the
 * SNI filters of a crt-list line. <bind> is NULL, or the bind line's
 * settings when <o> are a crt-list entry's own on top of them. Returns 0,
 * or -1 with <err>. */
static int tls_load_pem(struct tls_bind *tb, const struct tls_bind_opts *o, const char *file,
			const struct tls_filters *f, const struct tls_bind_opts *bind,
			char *err, size_t errlen)
{
	struct tls_cert *v = realloc(tb->certs, (tb->nb_certs + 1) * sizeof(*v));
	struct tls_cert *c;
	SSL_CTX *ctx;

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tb->certs = v;
	c = &tb->certs[tb->nb_certs];
	memset(c, 0, sizeof(*c));
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		tls_err(err, errlen, "cannot create a TLS context for", file);
		return -1;
	}
	c->ctx = ctx;
	tb->nb_certs++;  /* freed with the others from here on */
	if (SSL_CTX_use_certificate_chain_file(ctx, file) != 1) {
		tls_err(err, errlen, "cannot load the certificate chain of", file);
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_err(err, errlen, "cannot load a private key matching the certificate of", file);
		return -1;
	}
	if (tls_cert_names(c) < 0 || tls_cert_filter(c, f) < 0) {
		snprintf(err, errlen, "cannot read the names of the certificate of '%s'", file);
		return -1;
	}
	if (tls_alpn_wire(c->alpn, sizeof(c->alpn), &c->alpn_len, o->alpn ? o->alpn : "h2,http/1.1",
			  err, errlen) < 0)
		return -1;
	c->own = bind != NULL;
	/* the groups go on the SSL object only when the entry changed them */
	if (bind && o->p.curves != bind->p.curves && o->p.curves &&
	    !(c->curves = strdup(o->p.curves))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (tls_ctx_setup(tb, ctx, &o->p, err, errlen) < 0)
		return -1;
	if (bind) {
		/* its sessions resume under its own settings only: OpenSSL checks
		 * a TLS 1.2 session's cipher against the client's list, not ours,
		 * so a session issued elsewhere would bring one this entry refuses.
		 * The switch at ClientHello, before the session lookup, carries
		 * this session ID context over to the connection. */
		char sid[SSL_MAX_SID_CTX_LENGTH];
		int n = snprintf(sid, sizeof(sid), "sluice/%u", tb->nb_certs - 1);

		(void)SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned)n);
	}
	return 0;
}

/* Compares directory entries by name (qsort). */
static int tls_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every regular file of directory <dir>, in name order (the first
 * is the default certificate). Returns 0, or -1 with <err>. */
static int tls_load_dir(struct tls_bind *tb, const struct tls_bind_opts *o, const char *dir,
			char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t nb = 0, i;
	int rc = 0;

	if (!d) {
		snprintf(err, errlen, "cannot open certificate directory '%s': %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char **v;

		if (de->d_name[0] == '.')
			continue;
		v = realloc(names, (nb + 1) * sizeof(*v));
		if (!v || !(v[nb] = strdup(de->d_name))) {
			names = v ? v : names;
			rc = -1;
			snprintf(err, errlen, "out of memory");
			break;
		}
		names = v;
		nb++;
	}
	closedir(d);
	if (names)
		qsort(names, nb, sizeof(*names), tls_cmp_names);
	for (i = 0; i < nb && rc == 0; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = tls_load_pem(tb, o, path, NULL, NULL, err, errlen);
	}
	for (i = 0; i < nb; i++)
		free(names[i]);
	free(names);
	if (rc == 0 && !tb->nb_certs) {
		snprintf(err, errlen, "no certificate in directory '%s'", dir);
		rc = -1;
	}
	return rc;
}

/* A crt-list line split in place: its words, and the range [ob, oe) of
 * those between '[' and ']' (the entry's SSL options; ob == 0: no '['). */
struct tls_crt_line {
	char *w[64];
	unsigned n, ob, oe;
};

/* Splits crt-list line <line> in place into <l>, as HAProxy does: blanks
 * separate words; '[' and ']' separate them too and enclose the SSL
 * options, which come right after the certificate path; a word starting
 * with '#' ends the line (a comment). Returns 0, or -1 with <err>. */
static int tls_crt_list_split(char *line, struct tls_crt_line *l, char *err, size_t errlen)
{
	int fresh = 1, closed = 0;

	memset(l, 0, sizeof(*l));
	for (char *p = line; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r') {
			*p = '\0';
			fresh = 1;
		} else if (*p == '[') {
			if (l->ob) {
				snprintf(err, errlen, "more than one '['");
				return -1;
			}
			if (l->n != 1) {
				snprintf(err, errlen, "the SSL options '[...]' must come right after "
					 "the certificate path");
				return -1;
			}
			l->ob = l->n;
			*p = '\0';
			fresh = 1;
		} else if (*p == ']') {
			if (!l->ob || closed) {
				snprintf(err, errlen, "%s", l->ob ? "more than one ']'" : "']' without '['");
				return -1;
			}
			closed = 1;
			l->oe = l->n;
			*p = '\0';
			fresh = 1;
		} else if (fresh) {
			if (*p == '#')
				break;
			if (l->n == sizeof(l->w) / sizeof(l->w[0])) {
				snprintf(err, errlen, "too many words");
				return -1;
			}
			l->w[l->n++] = p;
			fresh = 0;
		}
	}
	if (l->ob && !closed) {
		snprintf(err, errlen, "missing ']'");
		return -1;
	}
	return 0;
}

/* Reads the SSL options words [l->ob, l->oe) of a crt-list line into <t>,
 * which holds the bind line's settings: the same reader as bind lines,
 * limited to the words that HAProxy accepts per certificate and that can
 * differ per SNI here. Returns 0, or -1 with <err>. */
static int tls_crt_list_opts(struct tlsopt_set *t, struct tls_crt_line *l, char *err, size_t errlen)
{
	char words[256];
	int n;

	for (unsigned i = l->ob; i < l->oe; i += (unsigned)n) {
		n = tlsopt_word(t, TLSO_CRT, l->w, (int)l->oe, (int)i, err, errlen);
		if (n < 0)
			return -1;
		if (!n) {
			tlsopt_list(TLSO_CRT, words, sizeof(words));
			snprintf(err, errlen, "unsupported SSL option '%s' in '[...]' (expected %s)",
				 l->w[i], words);
			return -1;
		}
	}
	return 0;
}

/* Loads one line of crt-list <list> (line number <ln>) read by bind line
 * <o>: "PEM [[ssl options]] [filter...]", split in place. Returns 0, or -1
 * with <err>. */
static int tls_crt_list_line(struct tls_bind *tb, const struct tls_bind_opts *o, const char *list,
			     unsigned ln, char *line, char *err, size_t errlen)
{
	struct tls_crt_line l;
	struct tls_filters f;
	struct tlsopt_set t;
	unsigned first;
	char why[400], path[PATH_MAX];
	const char *pem = NULL;
	int rc;

	rc = tls_crt_list_split(line, &l, why, sizeof(why));
	if (rc == 0 && l.n) {
		memset(&t, 0, sizeof(t));
		t.bind = *o;
		rc = tls_crt_list_opts(&t, &l, why, sizeof(why));
	}
	if (rc == 0 && l.n) {
		first = l.ob ? l.oe : 1;  /* the SNI filters follow the options */
		f.v = l.w + first;
		f.n = l.n - first;
		pem = l.w[0];
		if (o->crt_base && pem[0] != '/') {
			pem = path;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", o->crt_base, l.w[0]) >=
			    sizeof(path)) {
				snprintf(why, sizeof(why), "path too long under crt-base '%s'", o->crt_base);
				rc = -1;
			}
		}
	}
	if (rc == 0 && l.n)
		rc = tls_load_pem(tb, &t.bind, pem, f.n ? &f : NULL, l.oe > l.ob ? o : NULL,
				  why, sizeof(why));
	if (rc < 0)
		snprintf(err, errlen, "crt-list '%s' line %u: %s", list, ln, why);
	return rc;
}

/* Loads HAProxy's crt-list file <list>: one certificate per line, with
 * optional SSL options in brackets that apply to it alone, and optional
 * SNI filters ("name", "*.name", "!name"); '#' starts a comment.
 * A relative path is taken from <o>->crt_base (`crt-base`) when set, else
 * from the working directory, as in HAProxy. Returns 0, or -1 with <err>. */
static int tls_load_crt_list(struct tls_bind *tb, const struct tls_bind_opts *o, const char *list,
			     char *err, size_t errlen)
{
	FILE *fp = fopen(list, "r");
	char line[4096];
	unsigned ln = 0, before = tb->nb_certs;
	int rc = 0;

	if (!fp) {
		snprintf(err, errlen, "cannot open crt-list '%s': %s", list, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), fp)) {
		size_t len = strlen(line);

		ln++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(fp)) {
			snprintf(err, errlen, "crt-list '%s' line %u: line too long", list, ln);
			rc = -1;
			break;
		}
		rc = tls_crt_list_line(tb, o, list, ln, line, err, errlen);
	}
	fclose(fp);
	if (rc == 0 && tb->nb_certs == before) {
		snprintf(err, errlen, "no certificate in crt-list '%s'", list);
		rc = -1;
	}
	return rc;
}

/* Turns "h2,http/1.1" into ALPN wire format in <tb>. Returns 0 or -1. */
static int tls_alpn_parse(struct tls_bind *tb, const char *list, char *err, size_t errlen)
{
	return tls_alpn_wire(tb->alpn, sizeof(tb->alpn), &tb->alpn_len, list, err, errlen);
}

struct tls_bind *tls_bind_new(const struct tls_bind_opts *o, char *err, size_t errlen)
{
	struct tls_bind *tb;
	struct stat st;

	tlsmem_init();  /* before OpenSSL's first allocation, see tlsmem.h */
	tb = calloc(1, sizeof(*tb));
	if (!tb) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (RAND_bytes(tb->tk_master, sizeof(tb->tk_master)) != 1) {
		snprintf(err, errlen, "no randomness for session ticket keys");
		goto fail;
	}
	tb->tk_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	if (!tb->tk_cipher) {
		snprintf(err, errlen, "OpenSSL offers no AES-256-CBC for session tickets");
		goto fail;
	}
	if (tls_alpn_parse(tb, o->alpn ? o->alpn : "h2,http/1.1", err, errlen) < 0)
		goto fail;
	if (!o->crt && !o->crt_list) {
		snprintf(err, errlen, "'ssl' needs 'crt FILE|DIR' or 'crt-list FILE'");
		goto fail;
	}
	/* the `crt` certificate comes first: it is the default one */
	if (o->crt) {
		if (stat(o->crt, &st) < 0) {
			snprintf(err, errlen, "cannot open certificate '%s': %s", o->crt, strerror(errno));
			goto fail;
		}
		if ((S_ISDIR(st.st_mode) ? tls_load_dir(tb, o, o->crt, err, errlen)
					 : tls_load_pem(tb, o, o->crt, NULL, NULL, err, errlen)) < 0)
			goto fail;
	}
	if (o->crt_list && tls_load_crt_list(tb, o, o->crt_list, err, errlen) < 0)
		goto fail;
	/* ALPN reads its certificate's list: set now that they moved no more */
	for (unsigned c = 0; c < tb->nb_certs; c++)
		SSL_CTX_set_alpn_select_cb(tb->certs[c].ctx, tls_alpn_cb, &tb->certs[c]);
	tb->base = tb->certs[0].ctx;
	if (tb->certs[0].own) {
		/* the default certificate has options of its own: connections
		 * start from the bind line's settings (see tls_hello_cb) */
		tb->base = SSL_CTX_new(TLS_server_method());
		if (!tb->base) {
			tls_err(err, errlen, "cannot create a TLS context for", "bind");
			goto fail;
		}
		if (tls_ctx_setup(tb, tb->base, &o->p, err, errlen) < 0)
			goto fail;
	}
	return tb;
fail:
	ERR_clear_error();
	tls_bind_free(tb);
	return NULL;
}

void tls_bind_free(struct tls_bind *tb)
{
	if (!tb)
		return;
	if (tb->base && (!tb->nb_certs || tb->base != tb->certs[0].ctx))
		SSL_CTX_free(tb->base);
	for (unsigned c = 0; c < tb->nb_certs; c++) {
		SSL_CTX_free(tb->certs[c].ctx);
		for (unsigned k = 0; k < tb->certs[c].nb_names; k++)
			free(tb->certs[c].names[k]);
		free(tb->certs[c].names);
		free(tb->certs[c].curves);
	}
	free(tb->certs);
	EVP_CIPHER_free(tb->tk_cipher);
	free(tb);
}

/* ---- towards servers ---- */

/* Worker threads a server line keeps a session for: cfg.c's nbthread
 * ceiling. A thread past it (never, while the two agree) only loses
 * resumption, never correctness. */
#define TLS_SRV_SLOTS 256u

/* One slot per worker thread: the last session the server gave that
 * thread, NULL when none (or `no-ssl-reuse`). Only the thread whose index
 * it is reads or writes a slot (a server connection never moves to
 * another thread), so no lock is taken. Neighbouring threads' slots share
 * a cache line: they are written once per new server connection, beside a
 * handshake that costs a thousand times more. */
struct tls_srv {
	SSL_CTX *ctx;
	char *sni;                /* NULL: none sent, no name checked */
	int verify;
	SSL_SESSION **sess;       /* TLS_SRV_SLOTS of them, NULL: no reuse */
};

/* OpenSSL's new-session callback on a server line's context: a session
 * the server gave us, at the end of a TLS 1.2 handshake or in a TLS 1.3
 * NewSessionTicket (which may come with a response, or on an idle
 * connection: always on the connection's own thread). It replaces the
 * slot tls_connect_new() named in the SSL's app data, so the last session
 * wins, and a session the server refused to resume is simply replaced by
 * the new one the full handshake brought.
 * The slot keeps a copy that no connection ever holds: OpenSSL marks the
 * session of a connection as not resumable when the connection resumed
 * it in TLS 1.3 (single use, as RFC 8446 advises) and when it is freed
 * without a close_notify sent (a server that closed first, an error),
 * and either would otherwise kill the slot's session behind our back.
 * A copy that cannot be made leaves the slot as it was. Returns 0, so
 * OpenSSL drops its own reference. */
static int tls_srv_new_sess(SSL *ssl, SSL_SESSION *sess)
{
	SSL_SESSION **slot = SSL_get_app_data(ssl);
	SSL_SESSION *copy = slot ? SSL_SESSION_dup(sess) : NULL;

	if (!copy) {
		ERR_clear_error();
		return 0;
	}
	SSL_SESSION_free(*slot);
	*slot = copy;
	return 0;
}

/* After a failed handshake of <ssl>: when it is a connection to a server
 * that keeps sessions (app data set by tls_connect_new), forgets its
 * thread's session, as HAProxy does, so that a server failing every
 * handshake that offers it (instead of answering with a full one) costs
 * one failure, not all of them. */
static void tls_srv_forget(SSL *ssl)
{
	SSL_SESSION **slot = SSL_is_server(ssl) ? NULL : SSL_get_app_data(ssl);

	if (slot && *slot) {
		SSL_SESSION_free(*slot);
		*slot = NULL;
	}
}

struct tls_srv *tls_srv_new(const struct tls_srv_opts *o, char *err, size_t errlen)
{
	struct tls_srv *ts;
	struct tls_bind alpn;     /* only its ALPN wire buffer is used */

	tlsmem_init();  /* before OpenSSL's first allocation, see tlsmem.h */
	ts = calloc(1, sizeof(*ts));
	if (!ts) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->verify = !o->verify_none;
	if (ts->verify && !o->ca_file) {
		snprintf(err, errlen, "'verify required' (the default) needs 'ca-file FILE', or 'verify none'");
		goto fail;
	}
	if (o->sni && !(ts->sni = strdup(o->sni))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ts->ctx = SSL_CTX_new(TLS_client_method());
	if (!ts->ctx) {
		tls_err(err, errlen, "cannot create a TLS context for", "server");
		goto fail;
	}
	if (tls_proto_apply(ts->ctx, &o->p, err, errlen) < 0)
		goto fail;
	/* our certificate, for servers that ask for one (mutual TLS) */
	if (o->crt && (SSL_CTX_use_certificate_chain_file(ts->ctx, o->crt) != 1 ||
		       SSL_CTX_use_PrivateKey_file(ts->ctx, o->crt, SSL_FILETYPE_PEM) != 1 ||
		       SSL_CTX_check_private_key(ts->ctx) != 1)) {
		tls_err(err, errlen, "cannot load the client certificate and its key from", o->crt);
		goto fail;
	}
	SSL_CTX_set_options(ts->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
				     SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(ts->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
				  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	tls_ctx_read_ahead(ts->ctx);
	if (ts->verify) {
		if (SSL_CTX_load_verify_locations(ts->ctx, o->ca_file, NULL) != 1) {
			tls_err(err, errlen, "cannot load CA file", o->ca_file);
			goto fail;
		}
		SSL_CTX_set_verify(ts->ctx, SSL_VERIFY_PEER, NULL);
	}
	/* Resumption: OpenSSL hands every session to tls_srv_new_sess and
	 * keeps none in its own cache (which would be shared, locked, and
	 * looked up by nobody: a client never looks sessions up). */
	if (o->no_reuse) {
		SSL_CTX_set_session_cache_mode(ts->ctx, SSL_SESS_CACHE_OFF);
	} else {
		ts->sess = calloc(TLS_SRV_SLOTS, sizeof(*ts->sess));
		if (!ts->sess) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		SSL_CTX_set_session_cache_mode(ts->ctx, SSL_SESS_CACHE_CLIENT |
						       SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ts->ctx, tls_srv_new_sess);
	}
	if (o->alpn) {
		memset(&alpn, 0, sizeof(alpn));
		if (tls_alpn_parse(&alpn, o->alpn, err, errlen) < 0)
			goto fail;
		/* 0 means success for this one */
		if (SSL_CTX_set_alpn_protos(ts->ctx, alpn.alpn, alpn.alpn_len) != 0) {
			snprintf(err, errlen, "cannot set alpn '%s'", o->alpn);
			goto fail;
		}
	}
	return ts;
fail:
	ERR_clear_error();
	tls_srv_free(ts);
	return NULL;
}

void tls_srv_free(struct tls_srv *ts)
{
	if (!ts)
		return;
	if (ts->sess)
		for (unsigned k = 0; k < TLS_SRV_SLOTS; k++)
			SSL_SESSION_free(ts->sess[k]);
	free(ts->sess);
	SSL_CTX_free(ts->ctx);
	free(ts->sni);
	free(ts);
}

int tls_srv_reuse(const struct tls_srv *ts)
{
	return ts->sess != NULL;
}

struct ssl_st *tls_connect_new(struct tls_srv *ts, int fd, unsigned tid)
{
	SSL_SESSION **slot = ts->sess && tid < TLS_SRV_SLOTS ? &ts->sess[tid] : NULL;
	SSL *ssl = SSL_new(ts->ctx);

	if (!ssl)
		return NULL;
	if (tls_set_socket(ssl, fd, 0) < 0 ||
	    (ts->sni && SSL_set_tlsext_host_name(ssl, ts->sni) != 1) ||
	    /* with verification, the certificate must name what we asked for */
	    (ts->sni && ts->verify && SSL_set1_host(ssl, ts->sni) != 1)) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	/* Offer the thread's last session. A resumed handshake does not
	 * verify the certificate again: the session vouches for the one
	 * verified when it was made. That is sound only because every session
	 * in a slot came from this server line, whose name (sni), CAs and
	 * verify setting are fixed, so it was verified against the very name
	 * we would check now. A server that refuses it answers with a full
	 * handshake, verified as usual, whose session replaces it.
	 * The connection gets a copy, for the reasons tls_srv_new_sess keeps
	 * one: a server that accepts a ticket without sending a new one
	 * (OpenSSL's servers, ours among them, unless their ticket key
	 * changed) would otherwise leave the slot with a session marked used
	 * up, and every second connection would be full. Like HAProxy, the
	 * last ticket is offered again until the server gives another. */
	if (slot) {
		SSL_set_app_data(ssl, slot);
		if (*slot) {
			SSL_SESSION *copy = SSL_SESSION_dup(*slot);

			/* SSL_set_session takes its own reference: the copy
			 * lives as long as the connection needs it */
			if (!copy || SSL_set_session(ssl, copy) != 1)
				ERR_clear_error();  /* a full handshake then */
			SSL_SESSION_free(copy);
		}
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

int tls_idle_alive(struct ssl_st *ssl)
{
	char byte;
	int rc;

	ERR_clear_error();
	rc = SSL_peek(ssl, &byte, 1);
	if (rc > 0)
		return 0;
	rc = SSL_get_error(ssl, rc);
	ERR_clear_error();
	return rc == SSL_ERROR_WANT_READ;
}

int tls_idle_quiet(struct ssl_st *ssl)
{
	return SSL_pending(ssl) == 0 && !SSL_has_pending(ssl) && !SSL_want_write(ssl);
}

/* ---- connections ---- */

struct ssl_st *tls_accept_new(struct tls_bind *tb, int fd)
{
	SSL *ssl = SSL_new(tb->base);

	if (!ssl)
		return NULL;
	if (tls_set_socket(ssl, fd, TLS_BIO_TICKET | TLS_BIO_GATE) < 0) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

int tls_handshake(struct ssl_st *ssl, int *want_write, enum tls_fail *fail)
{
	int rc, e;
	unsigned long le;

	/* the error queue is per thread: an old entry would be taken for ours */
	ERR_clear_error();
	rc = SSL_do_handshake(ssl);
	if (rc == 1) {
		BIO *rb = SSL_get_rbio(ssl);

		if (rb)
			tls_bio_flag(rb, 0, TLS_BIO_GATE);
		return 1;
	}
	e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want_write = e == SSL_ERROR_WANT_WRITE;
		return 0;
	}
	le = ERR_peek_error();
	if (SSL_get_verify_result(ssl) != X509_V_OK ||
	    (ERR_GET_LIB(le) == ERR_LIB_SSL && ERR_GET_REASON(le) == SSL_R_CERTIFICATE_VERIFY_FAILED))
		*fail = TLS_FAIL_VERIFY;
	else if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ||
	    (ERR_GET_LIB(le) == ERR_LIB_SSL && ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		*fail = TLS_FAIL_CLOSED;
	else if (ERR_GET_LIB(le) == ERR_LIB_SSL && ERR_GET_REASON(le) == SSL_R_HTTP_REQUEST)
		*fail = TLS_FAIL_PLAIN_HTTP;
	else
		*fail = TLS_FAIL_PROTOCOL;
	ERR_clear_error();
	tls_srv_forget(ssl);
	return -1;
}

void tls_hs_readable(struct ssl_st *ssl)
{
	BIO *rb = SSL_get_rbio(ssl);

	if (rb)
		tls_bio_flag(rb, 0, TLS_BIO_DRAINED);
}

int tls_resumed(struct ssl_st *ssl)
{
	return SSL_session_reused(ssl);
}

int tls_alpn_h2(struct ssl_st *ssl)
{
	const unsigned char *p;
	unsigned len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return len == 2 && memcmp(p, "h2", 2) == 0;
}

/* Maps an SSL_read/SSL_write result <rc> that is not a success to the
 * recv()/send() convention: returns 0 at the peer's end (reads only), or
 * -1 with errno set.
 * Both WANT_ codes become EAGAIN, and the caller waits for the direction it
 * was using. That is right only because after the handshake a read never
 * needs a write and a write never needs a read here: TLS 1.2 renegotiation
 * is refused on both contexts (SSL_OP_NO_RENEGOTIATION), and in TLS 1.3 a
 * KeyUpdate or ticket is answered by queueing a record that the next write
 * carries (test_tls's KeyUpdate tests, one in the middle of an 8 MiB
 * answer). Allowing renegotiation would need a cross-direction wait. */
static ssize_t tls_io_error(SSL *ssl, int rc)
{
	int e = SSL_get_error(ssl, rc);

	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		break;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = ECONNRESET;
		break;
	default:
		errno = EPROTO;
		break;
	}
	ERR_clear_error();
	return -1;
}

ssize_t tls_recv(struct ssl_st *ssl, void *buf, size_t len)
{
	int rc;

	if (len > INT32_MAX)
		len = INT32_MAX;
	ERR_clear_error();
	errno = 0;
	rc = SSL_read(ssl, buf, (int)len);
	return rc > 0 ? rc : tls_io_error(ssl, rc);
}

int tls_recv_drained(struct ssl_st *ssl)
{
	BIO *rb = SSL_get_rbio(ssl);

	/* nothing waits inside OpenSSL (a whole or partial record), and the
	 * socket's last read took all it had */
	return rb && (tls_bio_word(rb) & TLS_BIO_DRAINED) && !SSL_has_pending(ssl);
}

/* Sends the TLS 1.3 session ticket that a new server connection owes
 * (none is sent at the end of its handshake) in front of the first bytes
 * <wb> carries: marked "more follows", it leaves in the same TCP segment
 * as the records written right after it. One is owed after a full
 * handshake, and after a resumption whose ticket came from an older
 * period (tls_ticket_cb asked for a renewal), as OpenSSL would have sent
 * at the end of the handshake. A ticket that cannot be written now is
 * left pending in OpenSSL, which writes it before the next record. TLS
 * 1.2 connections got theirs inside the handshake. */
static void tls_send_ticket(SSL *ssl, BIO *wb)
{
	int owed = !SSL_session_reused(ssl) || (tls_bio_word(wb) & TLS_BIO_RENEW);

	tls_bio_flag(wb, TLS_BIO_MORE, TLS_BIO_TICKET);
	if (!owed || SSL_version(ssl) != TLS1_3_VERSION)
		return;
	ERR_clear_error();
	if (SSL_new_session_ticket(ssl) == 1)
		(void)SSL_do_handshake(ssl);
	ERR_clear_error();
}

ssize_t tls_sendv(struct ssl_st *ssl, const struct iovec *iov, int cnt, int more)
{
	BIO *wb = SSL_get_wbio(ssl);
	size_t total = 0, offered = 0;
	int i = 0;
	size_t off = 0;

	for (int k = 0; k < cnt; k++)
		offered += iov[k].iov_len;
	if (!wb) {
		errno = EBADF;
		return -1;
	}
	if (offered && (tls_bio_word(wb) & TLS_BIO_TICKET))
		tls_send_ticket(ssl, wb);
	while (i < cnt) {
		const void *p;
		size_t n;
		int rc;

		if (off == iov[i].iov_len) {
			i++;
			off = 0;
			continue;
		}
		/* after a full record, a short rest is left to the caller, who
		 * offers it again in front of what comes next: an HTTP/2 DATA
		 * frame of 16 KiB plus its 9-byte header would otherwise cost a
		 * record (and a write) of 9 bytes each time */
		if (total && offered - total < TLS_REC_MAX)
			break;
		/* one contiguous piece is written in place; scattered small
		 * pieces are gathered so that a record is not cut at every
		 * boundary (a 9-byte frame header would be a record of its own) */
		n = iov[i].iov_len - off;
		p = (const char *)iov[i].iov_base + off;
		if (n < TLS_REC_MAX && i + 1 < cnt) {
			size_t k = 0;
			int j = i;
			size_t o = off;

			while (j < cnt && k < TLS_REC_MAX) {
				size_t m = iov[j].iov_len - o;

				if (m > TLS_REC_MAX - k)
					m = TLS_REC_MAX - k;
				memcpy(tls_gather + k, (const char *)iov[j].iov_base + o, m);
				k += m;
				o += m;
				if (o == iov[j].iov_len) {
					j++;
					o = 0;
				}
			}
			p = tls_gather;
			n = k;
		}
		if (n > TLS_REC_MAX)
			n = TLS_REC_MAX;
		/* records followed by another full one in this call leave
		 * with it, in segments as large as the path takes; the last
		 * one pushes them all out, unless the caller has more at once */
		tls_bio_flag(wb, more || offered - total - n >= TLS_REC_MAX ? TLS_BIO_MORE : 0,
			     TLS_BIO_MORE);
		ERR_clear_error();
		errno = 0;
		rc = SSL_write(ssl, p, (int)n);
		if (rc <= 0) {
			tls_bio_flag(wb, 0, TLS_BIO_MORE);
			if (total)
				break;
			if (tls_io_error(ssl, rc) == 0)
				errno = EPIPE;
			return -1;
		}
		total += (size_t)rc;
		/* advance the iovec cursor by rc bytes */
		for (size_t left = (size_t)rc; left; ) {
			size_t m = iov[i].iov_len - off;

			if (m > left)
				m = left;
			off += m;
			left -= m;
			if (off == iov[i].iov_len && left) {
				i++;
				off = 0;
			}
		}
	}
	tls_bio_flag(wb, 0, TLS_BIO_MORE);
	return (ssize_t)total;
}

void tls_shutdown(struct ssl_st *ssl)
{
	BIO *b;

	if (!ssl || !SSL_is_init_finished(ssl))
		return;
	/* the caller closes or shuts the socket next: the FIN pushes the
	 * close_notify out with it, one segment instead of two */
	b = SSL_get_wbio(ssl);
	if (b)
		tls_bio_flag(b, TLS_BIO_MORE, 0);
	ERR_clear_error();
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
}

void tls_free(struct ssl_st *ssl)
{
	SSL_free(ssl);
}

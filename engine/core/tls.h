/* tls.h - TLS with OpenSSL 3: contexts built from the configuration, and a
 * non-blocking record transport under connections and the HTTP/2 mux.
 *
 * A bind line with `ssl` owns one struct tls_bind, built while the
 * configuration is parsed (so a bad certificate names its file and line)
 * and shared read-only by every worker thread: one SSL_CTX per certificate,
 * the first being the default; session tickets are encrypted with the
 * default context's keys, so a ticket issued by any thread resumes on any
 * thread. SNI picks the certificate: exact name, then a wildcard one level
 * up, then the default.
 *
 * The transport functions behave like recv()/sendmsg() on a non-blocking
 * socket, so that their callers keep one set of readiness rules: they
 * return -1 with errno EAGAIN when OpenSSL would block (WANT_READ or
 * WANT_WRITE), 0 from tls_recv at the peer's end (close_notify, or a TCP
 * close without one: clients often skip it), and -1 with another errno
 * (EPROTO for a bad record) on failure. Unlike recv(), a short tls_recv
 * does not mean the socket is drained (one call returns at most one
 * record): callers read until EAGAIN, or until tls_recv_drained() says
 * the socket and OpenSSL hold nothing more.
 *
 * OpenSSL reads ahead: one read() takes all the socket holds, several
 * records at once, so bytes may wait inside OpenSSL where no poller sees
 * them. A caller therefore treats a connection whose handshake just ended
 * as readable (the handshake may have read the first request too), and
 * never waits for the poller while tls_recv_drained() is false.
 *
 * Every connection uses SSL_MODE_RELEASE_BUFFERS: OpenSSL frees its record
 * buffers whenever the read one holds no byte (every record read ahead
 * was consumed) and whenever a record was sent, so an idle TLS
 * connection holds only its SSL object (a few KiB), not 2 x 17 KiB.
 *
 * All calls for one SSL object happen on the thread that owns its
 * connection.
 */
#ifndef SLUICE_ENGINE_TLS_H
#define SLUICE_ENGINE_TLS_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct ssl_st;         /* OpenSSL's SSL */
struct tls_bind;

/* Protocol settings shared by both sides (strings are borrowed; NULL: the
 * default). Versions below TLS 1.2 are never enabled, so HAProxy's
 * no-sslv3/no-tlsv10/no-tlsv11 change nothing and only no_v12/no_v13
 * exist here. */
struct tls_proto_opts {
	const char *min_ver;      /* "TLSv1.2" (default) or "TLSv1.3" */
	const char *max_ver;      /* "TLSv1.3" (default) or "TLSv1.2" */
	int no_v12, no_v13;       /* HAProxy's no-tlsv12 / no-tlsv13 */
	int no_tickets;           /* no session tickets (SSL_OP_NO_TICKET) */
	const char *ciphers;      /* TLS <= 1.2 cipher list */
	const char *ciphersuites; /* TLS 1.3 suites */
	const char *curves;       /* key exchange groups, e.g. "X25519:P-256" */
};

/* What a bind line asks for (strings are borrowed). NULL: the default. */
struct tls_bind_opts {
	const char *crt;          /* PEM file (cert, chain, key) or a directory of them */
	const char *crt_list;     /* HAProxy's crt-list: "PEM [[ssl options]] [SNI filter...]" per line */
	const char *crt_base;     /* `crt-base`: directory of the crt-list's relative paths, or NULL */
	const char *alpn;         /* "h2,http/1.1" by default */
	struct tls_proto_opts p;
};

/* Checks that <o> can be applied to a context of either side (<server>:
 * towards servers), so that a `global` default is refused on its own line.
 * Returns 0, or -1 with a message naming the setting and OpenSSL's reason
 * in <err>. */
int tls_proto_check(const struct tls_proto_opts *o, int server, char *err, size_t errlen);

/* Builds the contexts of one bind line. Returns it, or NULL with a
 * message (naming the file that failed) in <err>. */
struct tls_bind *tls_bind_new(const struct tls_bind_opts *o, char *err, size_t errlen);

/* Frees <tb> (NULL allowed). No connection may still use it. */
void tls_bind_free(struct tls_bind *tb);

/* Returns a new server-side SSL object over socket <fd>, or NULL. */
struct ssl_st *tls_accept_new(struct tls_bind *tb, int fd);

/* ---- towards servers ---- */

struct tls_srv;

/* What a server line asks for (strings are borrowed). */
struct tls_srv_opts {
	int verify_none;          /* `verify none`; default `verify required` */
	const char *ca_file;      /* CAs to verify the server with (needed by verify required) */
	const char *sni;          /* server name sent, and checked in the certificate */
	const char *alpn;         /* offered protocols, e.g. "http/1.1"; none by default */
	const char *crt;          /* our client certificate: PEM with certificate and key */
	int no_reuse;             /* `no-ssl-reuse`: never resume a session */
	struct tls_proto_opts p;
};

/* Builds the client context for one server line. Returns it, or NULL
 * with a message in <err>. Shared by all threads: read-only, but for one
 * session slot per worker thread that only that thread touches (unless
 * no_reuse): the last session the server gave the thread, offered by its
 * next connection so that it resumes (an abbreviated handshake), as
 * HAProxy does. */
struct tls_srv *tls_srv_new(const struct tls_srv_opts *o, char *err, size_t errlen);

/* Frees <ts> (NULL allowed) and the sessions it keeps. No thread may
 * still connect with it; connections still open keep their own reference
 * to their session. */
void tls_srv_free(struct tls_srv *ts);

/* Returns non-zero when <ts> keeps sessions to resume (no `no-ssl-reuse`). */
int tls_srv_reuse(const struct tls_srv *ts);

/* Returns a new client-side SSL object over the connected socket <fd>,
 * or NULL, for worker thread <tid>, which must be the only thread to use
 * it: it offers the thread's last session of <ts> (tls_resumed() tells
 * afterwards whether the server took it), and a session the server sends
 * on it replaces that one. */
struct ssl_st *tls_connect_new(struct tls_srv *ts, int fd, unsigned tid);

/* Why a handshake failed (counters and logs). */
enum tls_fail {
	TLS_FAIL_PLAIN_HTTP,  /* the client spoke plain HTTP to the TLS port */
	TLS_FAIL_PROTOCOL,    /* bad record, alert, no shared cipher or version */
	TLS_FAIL_CLOSED,      /* the peer closed or reset mid-handshake */
	TLS_FAIL_VERIFY,      /* the server's certificate failed verification */
};

/* Returns non-zero when the idle connection <ssl> has nothing to read:
 * records that are not application data (a late session ticket) are
 * consumed; application data, a close_notify or an error say no. */
int tls_idle_alive(struct ssl_st *ssl);

/* Returns non-zero when <ssl> holds nothing that a later socket event
 * would be needed to bring out: no decrypted byte not yet read
 * (SSL_pending), no received record bytes not yet processed
 * (SSL_has_pending: records read ahead, or the start of a record whose
 * rest is still in the socket), and no record waiting to be written (a write
 * that would have blocked, e.g. the answer to a KeyUpdate). A connection
 * parked while it is not quiet would wait for an edge-triggered event that
 * may never come. */
int tls_idle_quiet(struct ssl_st *ssl);

/* Advances the handshake of <ssl> without blocking. Returns 1 when it is
 * complete, 0 when it waits for the socket (*want_write set when it waits
 * to write, clear when it waits to read), -1 when it failed (*fail set). */
int tls_handshake(struct ssl_st *ssl, int *want_write, enum tls_fail *fail);

/* Tells the server handshake of <ssl> that the poller reported its socket
 * readable (or closed, or in error) since its last read met EAGAIN: until
 * then, the handshake of a connection from tls_accept_new() does not try
 * the socket again (a system call that could only meet EAGAIN) and
 * tls_handshake() just says it waits to read. A caller that cannot tell
 * calls it at every wake-up. */
void tls_hs_readable(struct ssl_st *ssl);

/* Returns non-zero when the handshake of <ssl> resumed a session (either
 * side). */
int tls_resumed(struct ssl_st *ssl);

/* Returns non-zero when ALPN selected "h2" on <ssl>. */
int tls_alpn_h2(struct ssl_st *ssl);

/* Reads decrypted bytes into <buf> (at most one record's worth). Returns
 * as recv() does (see above). */
ssize_t tls_recv(struct ssl_st *ssl, void *buf, size_t len);

/* Right after a tls_recv on <ssl> that returned bytes: returns non-zero
 * when the socket is known to be drained (its last read returned less
 * than asked, or EAGAIN) and OpenSSL holds no byte of a record, which is
 * what a short recv() tells on a plain socket: the caller may stop reading
 * until the poller reports the socket again, saving a read that would
 * only meet EAGAIN. Zero means: read on. As with recv(), a peer that
 * closed is read on until tls_recv returns 0. */
int tls_recv_drained(struct ssl_st *ssl);

/* Encrypts and sends the bytes of <iov>[0..cnt) in order, as far as the
 * socket takes them, in records of 16 KiB of plaintext; scattered pieces
 * are gathered so that a record is not cut at each boundary. Once a full
 * record went out, a rest shorter than one record is not sent: the count
 * comes back short although the socket may take more, and the caller
 * offers the rest again, with what follows it if anything does by then
 * (a lone rest is sent as one short record). Returns the number of bytes
 * taken, or -1 with errno EAGAIN when none was, or another errno on
 * failure. After EAGAIN, or a short count, the caller must offer the bytes
 * not taken again, first and at least as many of them (a record may
 * already be sealed around them). The first call with bytes on a server
 * connection sends its TLS 1.3 session ticket in front of them, in the
 * same TCP segment; the records of one call leave in as few segments as
 * the path takes (MSG_MORE on all but the last, and on the last too when
 * <more> says the caller writes again, shuts or closes at once). */
ssize_t tls_sendv(struct ssl_st *ssl, const struct iovec *iov, int cnt, int more);

/* Sends a close_notify if the socket takes it now (never waits), so that
 * the peer sees a clean end. The caller closes the socket, or shuts its
 * sending side, right after: the record waits in the socket (MSG_MORE)
 * for the FIN, and leaves in its segment. */
void tls_shutdown(struct ssl_st *ssl);

/* Frees <ssl> (NULL allowed); the socket is the caller's. */
void tls_free(struct ssl_st *ssl);

#endif /* SLUICE_ENGINE_TLS_H */

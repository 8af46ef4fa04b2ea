/* h2_check.c - see h2_check.h. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "mux/h1.h"
#include "tests/fuzz/h2_check.h"

/* Contract in h2_check.h. */
long h2fz_drain(int fd)
{
	char tmp[16384];
	long total = 0;

	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n > 0) {
			total += n;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		/* EAGAIN: nothing more now; ECONNRESET and the like: closed */
		return errno == EAGAIN || errno == EWOULDBLOCK ? total : -1;
	}
}

/* Contract in h2_check.h. */
void h2fz_write(int fd, const uint8_t *data, size_t size, struct fz_rng *rng)
{
	size_t off = 0;
	int spins = 0;

	while (off < size) {
		size_t n = fz_below(rng, 4) ? size - off : fz_below(rng, size - off) + 1;
		/* MSG_NOSIGNAL: the mux may close first, and a SIGPIPE would
		 * end the campaign without a report */
		ssize_t w = send(fd, data + off, n, MSG_NOSIGNAL);

		if (w > 0) {
			off += (size_t)w;
			spins = 0;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return;  /* the peer closed: the rest cannot matter */
		/* the socket is full: the peer must be read for it to go on */
		if (h2fz_drain(fd) < 0)
			return;
		(void)poll(&(struct pollfd){ .fd = fd, .events = POLLOUT }, 1, 10);
		FZ_CHECK(++spins < H2FZ_WAIT_MS / 10, "the mux stopped reading its socket");
	}
}

/* Contract in h2_check.h. */
void h2fz_check_stats(const struct h2c_stats *st, size_t mem_cap)
{
	if (!mem_cap)
		mem_cap = 1u << 20;
	FZ_CHECK(st->streams_reset <= st->frames_in + st->frames_out, "%llu resets in %llu+%llu frames",
	         (unsigned long long)st->streams_reset, (unsigned long long)st->frames_in,
	         (unsigned long long)st->frames_out);
	FZ_CHECK(st->goaway_sent <= st->frames_out, "%llu GOAWAY sent in %llu frames",
	         (unsigned long long)st->goaway_sent, (unsigned long long)st->frames_out);
	FZ_CHECK(st->goaway_recv <= st->frames_in, "%llu GOAWAY received in %llu frames",
	         (unsigned long long)st->goaway_recv, (unsigned long long)st->frames_in);
	FZ_CHECK(st->mem_peak <= mem_cap + mem_cap / 2 + 65536, "memory peak %llu over the hard cap",
	         (unsigned long long)st->mem_peak);
	FZ_CHECK(st->calm_kills <= 1, "%llu ENHANCE_YOUR_CALM endings", (unsigned long long)st->calm_kills);
}

/* Contract in h2_check.h. */
void h2fz_check_h1(const char *msg, size_t len, int is_request, int complete, int req_meth)
{
	struct h1_msg m;
	struct h1_body b;
	size_t off = 0, resume = 0;
	long used;
	int r;

	/* interim heads first, in client role */
	for (;;) {
		if (!h1_head_end(msg + off, len - off, &resume)) {
			FZ_CHECK(!complete, "a finished stream gave no complete head: %.*s", (int)(len - off),
			         msg + off);
			return;
		}
		r = h1_parse_head(msg + off, len - off, is_request, 1u << 20, &m);
		FZ_CHECK(r > 0, "the mux made a head its HTTP/1 parser refuses (%d at %u): %.*s", r,
		         m.err_ofs, (int)(len - off), msg + off);
		off += (size_t)r;
		resume = 0;
		if (is_request || m.status >= 200)
			break;
	}
	FZ_CHECK(h1_body_init(&b, &m, (enum h1_meth)req_meth) == 0, "the mux made a head without framing");
	used = h1_body_scan(&b, msg + off, len - off);
	FZ_CHECK(used == (long)(len - off), "the framing ends the body at %ld of %zu bytes: %.*s", used,
	         len - off, (int)len, msg);
	if (complete)
		FZ_CHECK(b.done || (b.mode == H1_BODY_CLOSE && h1_body_eof(&b) == 0),
		         "a finished stream left its body framing open: %.*s", (int)len, msg);
}

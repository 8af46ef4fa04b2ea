/* test_pipe.c - the pipe cache (engine/core/pipe.c): the cap counts every
 * open pipe, a refusal is immediate and counted, a pipe with data is never
 * cached, and the counters add up. pipe.c and conn_splice.c are compiled in
 * directly, over a hand-made engine and thread context. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "engine/core/conn.h"
#include "engine/core/ctx.h"
#include "engine/core/pipe.h"

static struct cfg cfg;
static struct engine eng;
static struct thr_ctx tc;

static void setup(unsigned limit)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&eng, 0, sizeof(eng));
	memset(&tc, 0, sizeof(tc));
	cfg.g.pipes_limit = limit;
	eng.cfg = &cfg;
	tc.eng = &eng;
}

Test(pipe, cap_refuses_at_once_and_counts)
{
	struct pipe_pair *a, *b;

	setup(1);
	a = pipe_get(&tc);
	cr_assert_not_null(a);
	cr_assert_gt(a->size, 0);
	b = pipe_get(&tc);
	cr_assert_null(b, "a second pipe over a limit of 1");
	cr_assert_eq(tc.cnt.pipes_failed, 1);
	cr_assert_eq(tc.cnt.pipes_in_use, 1);
	cr_assert_eq(tc.cnt.pipes_allocated, 1);
	cr_assert_eq(eng.pipes_open, 1);
	pipe_put(&tc, a);
	cr_assert_eq(tc.cnt.pipes_in_use, 0);
	cr_assert_eq(tc.pipes.count, 1, "an empty pipe is cached");
	/* the cached one is reused, not a new one */
	b = pipe_get(&tc);
	cr_assert_eq(b, a);
	cr_assert_eq(eng.pipes_open, 1);
	pipe_put(&tc, b);
	pipe_cache_flush(&tc);
	cr_assert_eq(eng.pipes_open, 0);
	cr_assert_eq(tc.cnt.pipes_allocated, 0);
}

Test(pipe, pipe_with_data_is_closed_not_cached)
{
	struct pipe_pair *a;
	int fd;

	setup(4);
	a = pipe_get(&tc);
	cr_assert_not_null(a);
	cr_assert_eq(write(a->wr, "abc", 3), 3);
	a->data = 3;
	fd = a->rd;
	pipe_put(&tc, a);
	cr_assert_eq(tc.pipes.count, 0);
	cr_assert_eq(eng.pipes_open, 0);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "its descriptors are closed");
}

Test(pipe, cache_is_bounded)
{
	struct pipe_pair *p[PIPE_CACHE_MAX + 4];

	setup(1000);
	for (int i = 0; i < PIPE_CACHE_MAX + 4; i++)
		cr_assert_not_null(p[i] = pipe_get(&tc));
	for (int i = 0; i < PIPE_CACHE_MAX + 4; i++)
		pipe_put(&tc, p[i]);
	cr_assert_eq(tc.pipes.count, PIPE_CACHE_MAX);
	cr_assert_eq(eng.pipes_open, PIPE_CACHE_MAX);
	pipe_cache_flush(&tc);
	cr_assert_eq(eng.pipes_open, 0);
}

Test(pipe, splice_moves_bytes_between_sockets)
{
	int a[2], b[2];
	struct conn src = { 0 }, dst = { 0 };
	struct pipe_pair *p;
	char out[5000], in[5000];

	setup(2);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)('a' + i % 61);
	cr_assert_eq(write(a[1], out, sizeof(out)), (ssize_t)sizeof(out));
	src.fd = a[0];
	dst.fd = b[0];
	src.ep.flags = CF_RD_READY;
	dst.ep.flags = CF_WR_READY;
	p = pipe_get(&tc);
	cr_assert_not_null(p);
	/* a length limit is never read past */
	cr_assert_eq(conn_splice_in(&src, p, 3000), 3000);
	cr_assert_eq(p->data, 3000);
	cr_assert_eq(conn_splice_out(&dst, p, 1), 3000);
	cr_assert_eq(p->data, 0);
	cr_assert_eq(conn_splice_in(&src, p, 100000), 2000);
	/* dry socket, empty pipe after sending: readiness cleared */
	cr_assert_eq(conn_splice_out(&dst, p, 0), 2000);
	cr_assert_eq(conn_splice_in(&src, p, 100000), 0);
	cr_assert_not(src.ep.flags & CF_RD_READY);
	cr_assert_eq(read(b[1], in, sizeof(in)), (ssize_t)sizeof(in));
	cr_assert_eq(memcmp(in, out, sizeof(in)), 0);
	/* the peer closes: EOF */
	close(a[1]);
	src.ep.flags |= CF_RD_READY;
	cr_assert_eq(conn_splice_in(&src, p, 100000), 0);
	cr_assert(src.ep.flags & CF_RD_EOF);
	pipe_put(&tc, p);
	pipe_cache_flush(&tc);
	close(a[0]);
	close(b[0]);
	close(b[1]);
}

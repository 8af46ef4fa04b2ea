/* pipe.c - the per-thread pipe cache under a global cap (see pipe.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "engine/core/ctx.h"
#include "engine/core/pipe.h"

/* The capacity assumed when the kernel does not say (Linux's default). */
#define PIPE_DEFAULT_SIZE 65536

void pipe_thread_init(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* Takes one unit of the engine's pipe cap. Returns 0, or -1 at the cap. */
static int pipe_take_credit(struct engine *e)
{
	unsigned limit = e->cfg->g.pipes_limit;
	unsigned cur = __atomic_load_n(&e->pipes_open, __ATOMIC_RELAXED);

	do {
		if (cur >= limit)
			return -1;
	} while (!__atomic_compare_exchange_n(&e->pipes_open, &cur, cur + 1, 1,
					      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	return 0;
}

/* Closes <p> and gives its unit of the cap back. */
static void pipe_close(struct thr_ctx *tc, struct pipe_pair *p)
{
	close(p->rd);
	close(p->wr);
	free(p);
	__atomic_sub_fetch(&tc->eng->pipes_open, 1, __ATOMIC_RELAXED);
	CNT_ADD(tc, pipes_allocated, (uint64_t)-1);
}

/* Opens a new pipe within the cap. Returns it, or NULL. */
static struct pipe_pair *pipe_create(struct thr_ctx *tc)
{
	struct pipe_pair *p;
	int fds[2];
	int sz;

	if (pipe_take_credit(tc->eng) < 0)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto fail;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(p);
		goto fail;
	}
	p->rd = fds[0];
	p->wr = fds[1];
	sz = fcntl(p->wr, F_GETPIPE_SZ);
	p->size = sz > 0 ? (size_t)sz : PIPE_DEFAULT_SIZE;
	CNT_INC(tc, pipes_allocated);
	return p;
fail:
	__atomic_sub_fetch(&tc->eng->pipes_open, 1, __ATOMIC_RELAXED);
	return NULL;
}

struct pipe_pair *pipe_get(struct thr_ctx *tc)
{
	struct pipe_pair *p = tc->pipes.head;

	if (p) {
		tc->pipes.head = p->next;
		tc->pipes.count--;
	} else {
		p = pipe_create(tc);
		if (!p) {
			CNT_INC(tc, pipes_failed);
			return NULL;
		}
	}
	p->next = NULL;
	p->data = 0;
	CNT_INC(tc, pipes_in_use);
	return p;
}

void pipe_put(struct thr_ctx *tc, struct pipe_pair *p)
{
	if (!p)
		return;
	CNT_ADD(tc, pipes_in_use, (uint64_t)-1);
	if (p->data || tc->pipes.count >= PIPE_CACHE_MAX) {
		pipe_close(tc, p);
		return;
	}
	p->next = tc->pipes.head;
	tc->pipes.head = p;
	tc->pipes.count++;
}

void pipe_cache_flush(struct thr_ctx *tc)
{
	while (tc->pipes.head) {
		struct pipe_pair *p = tc->pipes.head;

		tc->pipes.head = p->next;
		pipe_close(tc, p);
	}
	tc->pipes.count = 0;
}

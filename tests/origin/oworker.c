/* oworker.c - the origin's per-thread event loop. */
#include "oworker.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "oconn.h"

#define OWORKER_EVENTS       256
/* accept() calls per listener event: the listener is level-triggered, so
 * what is left is reported again after the other events had their turn */
#define OWORKER_ACCEPT_BATCH 64

/* Registers <fd> for level-triggered input with <ev> as its tag. Returns
 * 0 or -1. */
static int oworker_watch(struct oworker *w, int fd, struct oev *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };
	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e);
}

int oworker_init(struct oworker *w, const struct oconfig *cfg, const int *fds, size_t nfds)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->wakefd = -1;
	w->wake_ev.kind = OEV_WAKE;
	w->listeners = calloc(nfds, sizeof(*w->listeners));
	if (!w->listeners) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		w->epfd = -1;
		return -1;
	}
	w->nlisteners = nfds;
	for (size_t i = 0; i < nfds; i++) {
		w->listeners[i].ev.kind = OEV_LISTENER;
		w->listeners[i].fd = fds[i];
	}
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wakefd < 0 || oworker_watch(w, w->wakefd, &w->wake_ev) < 0)
		return -1;
	for (size_t i = 0; i < nfds; i++)
		if (oworker_watch(w, fds[i], &w->listeners[i].ev) < 0)
			return -1;
	return 0;
}

/* Accepts the pending connections of <l>. */
static void oworker_accept(struct oworker *w, struct olistener *l)
{
	for (int i = 0; i < OWORKER_ACCEPT_BATCH; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK && !w->cfg->quiet)
				fprintf(stderr, "origin %s: accept: %s\n", w->cfg->name, strerror(errno));
			return;
		}
		/* answers are written whole; Nagle would only delay the last bytes */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct oconn *c = oconn_new(w, fd);
		if (!c)
			continue;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		atomic_fetch_add_explicit(&w->stats.accepted, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&w->stats.open, 1, memory_order_relaxed);
	}
}

void oworker_set_ready(struct oworker *w, struct oconn *c)
{
	if (c->in_ready)
		return;
	c->in_ready = true;
	c->ready_next = w->ready;
	w->ready = c;
}

void oworker_conn_closed(struct oworker *w, struct oconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->dead_next = w->dead;
	w->dead = c;
	atomic_fetch_sub_explicit(&w->stats.open, 1, memory_order_relaxed);
}

/* Runs the connections that yielded during the last round. Those that
 * yield again go on a fresh list, for the next round. */
static void oworker_run_ready(struct oworker *w)
{
	struct oconn *c = w->ready;

	w->ready = NULL;
	while (c) {
		struct oconn *next = c->ready_next;

		c->in_ready = false;
		c->ready_next = NULL;
		oconn_resume(c);
		c = next;
	}
}

/* Frees the connections released during the last round: no event of the
 * batch can refer to them any more, and the ready list was just emptied of
 * them (a released connection never goes back on it). */
static void oworker_free_dead(struct oworker *w)
{
	while (w->dead) {
		struct oconn *c = w->dead;

		w->dead = c->dead_next;
		oconn_free(c);
	}
}

/* The worker thread: waits for events until woken through wakefd. */
static void *oworker_main(void *arg)
{
	struct oworker *w = arg;
	struct epoll_event evs[OWORKER_EVENTS];
	bool stop = false;

	while (!stop) {
		int n = epoll_wait(w->epfd, evs, OWORKER_EVENTS, w->ready ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "origin %s: epoll_wait: %s\n", w->cfg->name, strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct oev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case OEV_LISTENER:
				oworker_accept(w, OWORKER_CONTAINER_OF(ev, struct olistener, ev));
				break;
			case OEV_WAKE:
				stop = true;
				break;
			case OEV_CONN:
				oconn_on_io(OWORKER_CONTAINER_OF(ev, struct oconn, sock_ev), evs[i].events);
				break;
			case OEV_TIMER:
				oconn_on_timer(OWORKER_CONTAINER_OF(ev, struct oconn, timer_ev));
				break;
			}
		}
		oworker_run_ready(w);
		oworker_free_dead(w);
	}
	return NULL;
}

int oworker_start(struct oworker *w)
{
	int err = pthread_create(&w->thread, NULL, oworker_main, w);
	if (err == 0)
		w->started = true;
	return err;
}

void oworker_stop(struct oworker *w)
{
	uint64_t one = 1;

	if (!w->started)
		return;
	if (write(w->wakefd, &one, sizeof(one)) < 0)
		fprintf(stderr, "origin %s: cannot wake a worker: %s\n", w->cfg->name, strerror(errno));
	pthread_join(w->thread, NULL);
	w->started = false;
}

void oworker_destroy(struct oworker *w)
{
	while (w->conns) {
		struct oconn *c = w->conns;

		w->conns = c->next;
		c->in_ready = false;
		oconn_free(c);
	}
	w->ready = NULL;
	while (w->dead) {
		struct oconn *c = w->dead;

		w->dead = c->dead_next;
		oconn_free(c);
	}
	for (size_t i = 0; i < w->nlisteners; i++)
		close(w->listeners[i].fd);
	free(w->listeners);
	w->listeners = NULL;
	w->nlisteners = 0;
	if (w->wakefd >= 0)
		close(w->wakefd);
	if (w->epfd >= 0)
		close(w->epfd);
	w->wakefd = w->epfd = -1;
}

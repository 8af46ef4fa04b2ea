/* backend.c - server slots, load balancing and queues (see backend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "engine/server/backend.h"

/* Appends <q> to <sq>. */
static void squeue_push(struct squeue *sq, struct qent *q)
{
	q->next = NULL;
	q->prev = sq->last;
	if (sq->last)
		sq->last->next = q;
	else
		sq->first = q;
	sq->last = q;
	sq->len++;
}

/* Unlinks <q> from <sq>. */
static void squeue_del(struct squeue *sq, struct qent *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		sq->first = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		sq->last = q->prev;
	q->next = q->prev = NULL;
	sq->len--;
}

struct backend *be_new(const struct cfg_backend *cfg, unsigned nbthread)
{
	struct backend *be = calloc(1, sizeof(*be));

	if (!be)
		return NULL;
	be->cfg = cfg;
	be->nbthread = nbthread;
	be->nb_srv = cfg->nb_servers;
	be->srv = calloc(cfg->nb_servers ? cfg->nb_servers : 1, sizeof(*be->srv));
	if (!be->srv)
		goto fail;
	for (unsigned i = 0; i < be->nb_srv; i++) {
		struct server *s = &be->srv[i];

		s->cfg = &cfg->servers[i];
		s->be = be;
		s->maxconn = s->cfg->maxconn;
		s->maxqueue = s->cfg->maxqueue;
		s->uweight = s->cfg->weight;
		s->weight = s->cfg->weight ? s->cfg->weight : 1;
		s->down = s->cfg->disabled;
		s->idle = aligned_alloc(64, sizeof(*s->idle) * nbthread);
		if (!s->idle)
			goto fail;
		for (unsigned t = 0; t < nbthread; t++) {
			s->idle[t] = (struct srv_idle){ .count = 0 };
			eng_list_init(&s->idle[t].list);
		}
	}
	if (pthread_spin_init(&be->lock, PTHREAD_PROCESS_PRIVATE) != 0)
		goto fail;
	return be;
fail:
	be_free(be);
	return NULL;
}

void be_free(struct backend *be)
{
	if (!be)
		return;
	if (be->srv) {
		for (unsigned i = 0; i < be->nb_srv; i++)
			free(be->srv[i].idle);
		free(be->srv);
	}
	pthread_spin_destroy(&be->lock);
	free(be);
}

void qent_init(struct qent *q, qent_notify_fn notify, void *ctx)
{
	*q = (struct qent){ .notify = notify, .ctx = ctx };
}

/* Returns non-zero when <s> may take one more stream now. */
static int srv_has_slot(const struct server *s)
{
	return !s->maxconn || s->cur < s->maxconn;
}

/* Returns non-zero when <s> may be chosen at all. */
static int srv_usable(const struct server *s)
{
	return !__atomic_load_n(&s->down, __ATOMIC_RELAXED) && s->uweight != 0 &&
	       __atomic_load_n(&s->admin, __ATOMIC_RELAXED) == SRV_ADMIN_READY;
}

/* Picks a server with a free slot by smooth weighted round robin, skipping
 * <avoid> if possible. Returns it or NULL. Lock held. */
static struct server *lb_roundrobin(struct backend *be, struct server *avoid)
{
	struct server *best = NULL;
	int total = 0;

	for (unsigned i = 0; i < be->nb_srv; i++) {
		struct server *s = &be->srv[i];

		if (!srv_usable(s) || !srv_has_slot(s) || (s == avoid && be->nb_srv > 1))
			continue;
		s->swrr += (int)s->weight;
		total += (int)s->weight;
		if (!best || s->swrr > best->swrr)
			best = s;
	}
	if (best)
		best->swrr -= total;
	return best;
}

/* Picks the server with the fewest streams per weight that has a free
 * slot, skipping <avoid> if possible. Returns it or NULL. Lock held. */
static struct server *lb_leastconn(struct backend *be, struct server *avoid)
{
	struct server *best = NULL;
	unsigned best_i = 0;

	/* start after the last pick, so that ties rotate */
	for (unsigned k = 0; k < be->nb_srv; k++) {
		unsigned i = (be->lc_next + k) % be->nb_srv;
		struct server *s = &be->srv[i];

		if (!srv_usable(s) || !srv_has_slot(s) || (s == avoid && be->nb_srv > 1))
			continue;
		/* compare cur/weight without division */
		if (!best || (uint64_t)s->cur * best->weight < (uint64_t)best->cur * s->weight) {
			best = s;
			best_i = i;
		}
	}
	if (best)
		be->lc_next = best_i + 1;
	return best;
}

/* Returns non-zero when at least one server of <be> could ever serve. */
static int be_has_usable(const struct backend *be)
{
	for (unsigned i = 0; i < be->nb_srv; i++)
		if (srv_usable(&be->srv[i]))
			return 1;
	return 0;
}

/* Returns non-zero when a queue of <len> entries limited to <max> (0: no
 * limit) may take no more. */
static int queue_full(unsigned len, unsigned max)
{
	return max && len >= max;
}

/* Picks a server with a free slot by the backend's algorithm, skipping
 * <avoid> when possible. Returns it or NULL. Lock held. */
static struct server *lb_pick(struct backend *be, struct server *avoid)
{
	return be->cfg->balance == CFG_BALANCE_LC ? lb_leastconn(be, avoid) : lb_roundrobin(be, avoid);
}

/* Puts <q> at the end of <sq>, the queue of <pinned> or of the backend
 * when <pinned> is NULL. Lock held. */
static void qent_enqueue(struct qent *q, struct squeue *sq, struct server *pinned, uint64_t now_ms)
{
	q->srv = NULL;
	q->since_ms = now_ms;
	q->qsrv = pinned;
	q->state = QE_QUEUED;
	squeue_push(sq, q);
}

int be_assign(struct backend *be, struct qent *q, struct server *pinned,
	      struct server *avoid, uint64_t now_ms)
{
	struct server *s = NULL;
	int ret, full;

	q->be = be;
	pthread_spin_lock(&be->lock);
	if (pinned) {
		if (!srv_usable(pinned)) {
			ret = BE_NOSRV;
			goto out;
		}
		if (srv_has_slot(pinned) && !pinned->queue.len) {
			s = pinned;
			goto assigned;
		}
		if (!queue_full(pinned->queue.len, pinned->maxqueue)) {
			qent_enqueue(q, &pinned->queue, pinned, now_ms);
			ret = BE_QUEUED;
			goto out;
		}
		/* its queue is full: rather than wait without end, the stream
		 * goes to any other server, as a redispatch would send it */
		__atomic_fetch_add(&pinned->queue_full, 1, __ATOMIC_RELAXED);
		avoid = pinned;
	}
	full = queue_full(be->queue.len, be->cfg->maxqueue);
	/* no barging past queued streams, unless the queue turns the stream
	 * away anyway: then a free slot (rare while streams queue) is its
	 * last chance */
	if (!be->queue.len || full)
		s = lb_pick(be, avoid);
	if (s)
		goto assigned;
	if (!be_has_usable(be)) {
		ret = BE_NOSRV;
	} else if (full) {
		__atomic_fetch_add(&be->queue_full, 1, __ATOMIC_RELAXED);
		q->srv = NULL;
		q->state = QE_IDLE;
		ret = BE_FULL;
	} else {
		qent_enqueue(q, &be->queue, NULL, now_ms);
		ret = BE_QUEUED;
	}
	goto out;
assigned:
	s->cur++;
	q->srv = s;
	q->state = QE_IDLE;
	ret = BE_ASSIGNED;
out:
	pthread_spin_unlock(&be->lock);
	if (ret == BE_ASSIGNED)
		__atomic_fetch_add(&s->total, 1, __ATOMIC_RELAXED);
	return ret;
}

/* Hands the slot of <srv> to the first eligible queued entry. Returns 1 if
 * one took it. Lock held. */
static int srv_pass_slot(struct server *srv)
{
	struct backend *be = srv->be;
	struct squeue *sq = srv->queue.len ? &srv->queue : &be->queue;
	struct qent *q = sq->first;

	if (!q || !srv_usable(srv))
		return 0;
	squeue_del(sq, q);
	q->srv = srv;
	q->state = QE_SERVED;
	q->notify(q);
	return 1;
}

void be_release_slot(struct server *srv)
{
	struct backend *be = srv->be;
	int passed;

	pthread_spin_lock(&be->lock);
	passed = srv_pass_slot(srv);
	if (!passed)
		srv->cur--;
	pthread_spin_unlock(&be->lock);
	if (passed)
		__atomic_fetch_add(&srv->total, 1, __ATOMIC_RELAXED);
}

void be_server_up(struct server *srv)
{
	struct backend *be = srv->be;
	unsigned served = 0;

	pthread_spin_lock(&be->lock);
	/* the queues only moved on releases, and this server had none */
	while (srv_has_slot(srv) && srv_pass_slot(srv)) {
		srv->cur++;
		served++;
	}
	pthread_spin_unlock(&be->lock);
	if (served)
		__atomic_fetch_add(&srv->total, served, __ATOMIC_RELAXED);
}

void be_server_set_admin(struct server *srv, enum srv_admin a)
{
	__atomic_store_n(&srv->admin, (int)a, __ATOMIC_RELEASE);
	if (a == SRV_ADMIN_READY)
		be_server_up(srv);
}

void be_server_set_weight(struct server *srv, unsigned w)
{
	pthread_spin_lock(&srv->be->lock);
	srv->uweight = w;
	srv->weight = w ? w : 1;
	pthread_spin_unlock(&srv->be->lock);
	if (w)
		be_server_up(srv);
}

struct server *be_find_server(struct backend *be, const char *name)
{
	for (unsigned i = 0; i < be->nb_srv; i++)
		if (strcmp(be->srv[i].cfg->name, name) == 0)
			return &be->srv[i];
	return NULL;
}

int qent_cancel(struct qent *q)
{
	int held = 0;

	if (!q->be)
		return 0;
	pthread_spin_lock(&q->be->lock);
	if (q->state == QE_QUEUED) {
		squeue_del(q->qsrv ? &q->qsrv->queue : &q->be->queue, q);
	} else if (q->state == QE_SERVED) {
		held = 1;
	}
	q->state = QE_IDLE;
	pthread_spin_unlock(&q->be->lock);
	return held;
}

struct server *qent_take(struct qent *q)
{
	struct server *s = NULL;

	if (!q->be)
		return NULL;
	pthread_spin_lock(&q->be->lock);
	if (q->state == QE_SERVED) {
		s = q->srv;
		q->state = QE_IDLE;
	}
	pthread_spin_unlock(&q->be->lock);
	return s;
}

unsigned be_queued(struct backend *be)
{
	unsigned n;

	pthread_spin_lock(&be->lock);
	n = be->queue.len;
	for (unsigned i = 0; i < be->nb_srv; i++)
		n += be->srv[i].queue.len;
	pthread_spin_unlock(&be->lock);
	return n;
}

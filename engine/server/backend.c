/* backend.c - server slots, load balancing and queues (see backend.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
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

/* Makes server <sc> of <be>, not yet published. Returns it or NULL. */
static struct server *srv_new(struct backend *be, const struct cfg_server *sc)
{
	struct server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = sc;
	s->be = be;
	s->maxconn = sc->maxconn;
	s->maxqueue = sc->maxqueue;
	s->uweight = sc->weight;
	s->weight = sc->weight ? sc->weight : 1;
	s->down = sc->disabled;
	s->idle = aligned_alloc(64, sizeof(*s->idle) * be->nbthread);
	if (!s->idle) {
		free(s);
		return NULL;
	}
	for (unsigned t = 0; t < be->nbthread; t++) {
		s->idle[t] = (struct srv_idle){ .count = 0 };
		eng_list_init(&s->idle[t].list);
	}
	return s;
}

static void srv_free(struct server *s)
{
	if (!s)
		return;
	free(s->idle);
	if (s->own_cfg) {
		free(s->own_cfg->name);
		free(s->own_cfg);
	}
	free(s);
}

struct backend *be_new(const struct cfg_backend *cfg, unsigned nbthread)
{
	struct backend *be = calloc(1, sizeof(*be));

	if (!be)
		return NULL;
	be->cfg = cfg;
	be->nbthread = nbthread;
	be->cap_srv = cfg->nb_servers + BE_SRV_ADDED;
	be->srv = calloc(be->cap_srv, sizeof(*be->srv));
	if (!be->srv)
		goto fail;
	for (unsigned i = 0; i < cfg->nb_servers; i++) {
		if (!(be->srv[i] = srv_new(be, &cfg->servers[i])))
			goto fail;
		be->nb_srv = i + 1;
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
			srv_free(be->srv[i]);
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
	       !__atomic_load_n(&s->gone, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&s->admin, __ATOMIC_RELAXED) == SRV_ADMIN_READY;
}

/* Picks a server with a free slot by smooth weighted round robin, skipping
 * <avoid> if possible. Returns it or NULL. Lock held. */
static struct server *lb_roundrobin(struct backend *be, struct server *avoid)
{
	struct server *best = NULL;
	int total = 0;

	for (unsigned i = 0; i < be->nb_srv; i++) {
		struct server *s = be->srv[i];

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
		struct server *s = be->srv[i];

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
		if (srv_usable(be->srv[i]))
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

enum be_assign_res be_assign(struct backend *be, struct qent *q, struct server *pinned,
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
	unsigned n = be_nb_srv(be);

	for (unsigned i = 0; i < n; i++) {
		struct server *s = __atomic_load_n(&be->srv[i], __ATOMIC_ACQUIRE);

		if (!be_server_gone(s) && strcmp(s->cfg->name, name) == 0)
			return s;
	}
	return NULL;
}

const char *be_srv_strerror(int err)
{
	switch (err) {
	case BE_SRV_OK:       return "done";
	case BE_SRV_EXISTS:   return "a server of that name already exists in the backend";
	case BE_SRV_NOROOM:   return "the backend cannot take more added servers";
	case BE_SRV_NOMEM:    return "out of memory";
	case BE_SRV_BADADDR:  return "invalid address (expected IPv4:PORT or [IPv6]:PORT)";
	case BE_SRV_NOTMAINT: return "only a server in maintenance can be removed";
	case BE_SRV_BUSY:     return "the server still holds or queues streams";
	case BE_SRV_CHECKED:  return "the server has a health check running";
	case BE_SRV_BADARG:   return "invalid name or weight (0..256)";
	}
	return "unknown error";
}

/* Parses "IPv4:PORT" or "[IPv6]:PORT" into <ss>. Returns 0, or -1. */
static int parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *h = text;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	colon = strrchr(text, ':');
	if (!colon || colon == text)
		return -1;
	hl = (size_t)(colon - text);
	if (text[0] == '[') {
		if (colon[-1] != ']')
			return -1;
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port == 0 || port > 65535)
		return -1;
	if (text[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
	}
	return 0;
}

struct backend *be_by_name(struct backend *const *bes, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(bes[i]->cfg->name, name))
			return bes[i];
	return NULL;
}

enum be_srv_err be_server_add(struct backend *be, const char *name, const char *addr, unsigned weight,
                  unsigned maxconn, enum srv_admin admin)
{
	struct cfg_server *sc;
	struct server *s;
	int ret = BE_SRV_OK;

	if (!name || !*name || strlen(name) > 64 || strpbrk(name, "/ \t\r\n") || weight > 256)
		return BE_SRV_BADARG;
	if (!(sc = calloc(1, sizeof(*sc))))
		return BE_SRV_NOMEM;
	if (parse_addr(addr ? addr : "", &sc->addr, &sc->addrlen) < 0) {
		free(sc);
		return BE_SRV_BADADDR;
	}
	sc->weight = weight;
	sc->maxconn = maxconn;
	sc->inter_ms = CFG_SRV_DEFAULT_INTER_MS;
	sc->rise = CFG_SRV_DEFAULT_RISE;
	sc->fall = CFG_SRV_DEFAULT_FALL;
	if (!(sc->name = strdup(name)) || !(s = srv_new(be, sc))) {
		free(sc->name);
		free(sc);
		return BE_SRV_NOMEM;
	}
	s->own_cfg = sc;
	s->admin = (int)admin;
	pthread_spin_lock(&be->lock);
	for (unsigned i = 0; i < be->nb_srv; i++)
		if (!be_server_gone(be->srv[i]) && !strcmp(be->srv[i]->cfg->name, name)) {
			ret = BE_SRV_EXISTS;
			break;
		}
	if (!ret && be->nb_srv == be->cap_srv)
		ret = BE_SRV_NOROOM;
	if (!ret) {
		/* the server is complete before it can be seen: the count
		 * is published last, with release order */
		__atomic_store_n(&be->srv[be->nb_srv], s, __ATOMIC_RELEASE);
		__atomic_store_n(&be->nb_srv, be->nb_srv + 1, __ATOMIC_RELEASE);
	}
	pthread_spin_unlock(&be->lock);
	if (ret) {
		srv_free(s);
		return ret;
	}
	/* streams may be queued on the backend: the new slots are theirs */
	be_server_up(s);
	return BE_SRV_OK;
}

enum be_srv_err be_server_del(struct server *srv)
{
	struct backend *be = srv->be;
	int ret = BE_SRV_OK;

	/* cfg->check too: before the engine starts, the check exists only
	 * in the configuration, and starting would give it one */
	if (srv->cfg->check || __atomic_load_n(&srv->check, __ATOMIC_ACQUIRE))
		return BE_SRV_CHECKED;
	pthread_spin_lock(&be->lock);
	if (be_server_gone(srv))
		ret = BE_SRV_OK;
	else if (__atomic_load_n(&srv->admin, __ATOMIC_ACQUIRE) != SRV_ADMIN_MAINT)
		ret = BE_SRV_NOTMAINT;
	else if (srv->cur || srv->queue.len)
		ret = BE_SRV_BUSY;
	else {
		/* under the lock: no picker runs meanwhile, and none will
		 * choose it again (srv_usable) */
		__atomic_store_n(&srv->down, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&srv->gone, 1, __ATOMIC_RELEASE);
	}
	pthread_spin_unlock(&be->lock);
	return ret;
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
		n += be->srv[i]->queue.len;
	pthread_spin_unlock(&be->lock);
	return n;
}

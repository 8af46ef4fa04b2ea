/* statshist.c - the stats page's history (see statshist.h).
 *
 * Two rings written by one sampler task on worker thread 0 and read by
 * snapshots on any thread, under one mutex: the sampler holds it for one
 * copy per second, a reader for one copy per page, so neither ever waits
 * long; nothing on the request path touches it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "engine/client/statshist.h"

struct stats_hist {
	pthread_mutex_t lock;            /* guards both rings */
	const struct engine *e;
	struct task task;                /* the sampler, on its thread */
	uint64_t period_ms;
	uint64_t next_ms;                /* when the task samples next */
	int running;
	/* full samples, newest at rate[(rate_head + KEEP - 1) % KEEP] */
	unsigned rate_nb, rate_head;
	struct statspage_sample rate[SP_HIST_RATE_KEEP];
	/* chart points, oldest at pts[(head + cap - nb) % cap] */
	unsigned cap, nb, head;
	struct statspage_point pts[];
};

struct stats_hist *stats_hist_new(const struct engine *e, unsigned points, unsigned period_ms)
{
	struct stats_hist *h;

	if (!points || !period_ms)
		return NULL;
	h = calloc(1, sizeof(*h) + (size_t)points * sizeof(h->pts[0]));
	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL) != 0) {
		free(h);
		return NULL;
	}
	h->e = e;
	h->cap = points;
	h->period_ms = period_ms;
	return h;
}

void stats_hist_free(struct stats_hist *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void stats_hist_sample(struct stats_hist *h)
{
	struct statspage_sample smp;
	struct statspage_point pt;

	/* summed outside the lock: readers never wait for the threads' sums */
	smp.t_ms = sched_clock_ms();
	sluice_stats(h->e->owner, &smp.st);
	pool_stats(h->e->pool, -1u, &smp.pool);
	pt = (struct statspage_point){
		.t_ms = smp.t_ms,
		.in_use = smp.st.pool_in_use,
		.allocated = smp.pool.allocated,
		.handoffs = smp.pool.handoffs,
		.failed = smp.pool.failed,
	};
	memcpy(pt.waiting, smp.pool.waiting_by_crit, sizeof(pt.waiting));

	pthread_mutex_lock(&h->lock);
	h->rate[h->rate_head] = smp;
	h->rate_head = (h->rate_head + 1) % SP_HIST_RATE_KEEP;
	if (h->rate_nb < SP_HIST_RATE_KEEP)
		h->rate_nb++;
	h->pts[h->head] = pt;
	h->head = (h->head + 1) % h->cap;
	if (h->nb < h->cap)
		h->nb++;
	pthread_mutex_unlock(&h->lock);
}

/* The sampler task: one sample per period, on a fixed grid so that a late
 * run does not shift the next ones (a run later than a whole period
 * starts a new grid rather than sampling twice). */
static void stats_hist_cb(struct tasklet *t, unsigned reasons)
{
	struct stats_hist *h = t->ctx;
	uint64_t now = sched_now_ms(t->home);

	(void)reasons;
	if (!h->running)
		return;
	stats_hist_sample(h);
	h->next_ms += h->period_ms;
	if (h->next_ms <= now)
		h->next_ms = now + h->period_ms;
	task_schedule(&h->task, h->next_ms);
}

void stats_hist_start(struct stats_hist *h, struct sched_thread *thr)
{
	task_init(&h->task, thr, stats_hist_cb, h);
	h->running = 1;
	stats_hist_sample(h);
	h->next_ms = sched_now_ms(thr) + h->period_ms;
	task_schedule(&h->task, h->next_ms);
}

void stats_hist_stop(struct stats_hist *h)
{
	if (!h || !h->running)
		return;
	h->running = 0;
	task_kill(&h->task, 0);
}

/* Returns the index of the full sample <back> steps before the newest
 * (clamped to the oldest kept). Lock held, rate_nb > 0. */
static unsigned stats_hist_back(const struct stats_hist *h, unsigned back)
{
	if (back > h->rate_nb - 1)
		back = h->rate_nb - 1;
	return (h->rate_head + 2 * SP_HIST_RATE_KEEP - 1 - back) % SP_HIST_RATE_KEEP;
}

void stats_hist_read(struct stats_hist *h, struct statspage_data *d, int with_points)
{
	static const unsigned steps[SP_RATE_COUNT] = { 0, 1, 10 };
	struct statspage_point *pts = NULL;
	unsigned want = 0;

	d->nb_rate = 0;
	d->pts = NULL;
	d->nb_pts = 0;
	if (!h)
		return;
	if (with_points) {
		/* allocated outside the lock, for as many points as there are
		 * now: the ring only grows, so the copy below fits */
		pthread_mutex_lock(&h->lock);
		want = h->nb;
		pthread_mutex_unlock(&h->lock);
		pts = want ? malloc(want * sizeof(*pts)) : NULL;
	}
	pthread_mutex_lock(&h->lock);
	d->hist_span_ms = (uint64_t)h->cap * h->period_ms;
	if (h->rate_nb) {
		for (unsigned k = 0; k < SP_RATE_COUNT; k++)
			d->rate[k] = h->rate[stats_hist_back(h, steps[k])];
		d->nb_rate = SP_RATE_COUNT;
	}
	if (pts) {
		/* the newest <want> points, oldest first */
		unsigned first = (h->head + h->cap - want) % h->cap;

		for (unsigned i = 0; i < want; i++)
			pts[i] = h->pts[(first + i) % h->cap];
		d->pts = pts;
		d->nb_pts = want;
	}
	pthread_mutex_unlock(&h->lock);
}

/* handoff_stress.c - the multi-threaded stress test of the foundation:
 * scheduler threads, tasks, timers and the buffer pool's hand-off together.
 *
 * Several hundred tasks spread over the threads each loop: allocate a
 * buffer at a random criticality; on failure subscribe a wait entry whose
 * notify wakes the task with SCHED_R_BUFFER, and arm a random timeout;
 * hold the buffer a little (a short timer) with an owner mark written in
 * it; check the mark and release. A timeout cancels the wait (which passes
 * on a buffer served in the meantime). A chaos task per thread cancels
 * random waiting tasks for good.
 *
 * Checked at the end, within a bounded wall time (a hang is a deadlock):
 * - every task finished its iterations, timed out cleanly or was cancelled;
 * - the pool has nothing in use and nobody waiting;
 * - no buffer was ever held by two owners (a global table of held areas)
 *   and owner marks survived every hold;
 * - BUFFER wake-ups received == notify calls == pool hand-offs (exactly
 *   one wake-up per hand-off), and takes + passes_on == hand-offs;
 * - waiting tasks with a very short timeout did time out while waiting
 *   (a wait never blocks a timer), and no timeout fired very late.
 *
 * Usage: handoff_stress [limit|faults|credits]   (default: all three)
 *   limit:   limit 8, reserve 2, 300 tasks on 16 threads: heavy shortage;
 *   faults:  no limit, 20% of allocations fail by fault injection, 16
 *            threads;
 *   credits: 16 threads, limit 40, reserve 4, per-thread credit batches
 *            of 2: shortage with credits moving between threads.
 * Every variant runs 16 scheduler threads: on a 2-core machine most are
 * preempted at random points, hand-offs cross threads nearly always, and
 * each thread's chaos task cancels waiters served from elsewhere.
 * A plain program so that it also runs under TSan; exit 1 on failure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pool/pool.h"
#include "sched/sched.h"
#include "tests/sched/testutil.h"

#define NTHR_MAX     16
#define NTASKS       300
/* Iterations per task; sanitizer builds run half (several times slower,
 * and CI runs them on 2 cores with the rest of the suite). */
#ifdef SLUICE_SANITIZE
#define ITERS        15
#else
#define ITERS        30
#endif
#define BUFSIZE      256
#define MARK_OFS     64      /* pool free lists may use the first bytes */
#define DEADLINE_MS  20000
#define MAX_LATE_MS  500     /* a timeout this late means timers were blocked */

static unsigned NTHR = 3;  /* threads of the variant running */

enum wstate { W_ALLOC, W_WAITING, W_HOLDING, W_BACKOFF, W_DONE };

struct mark {
	uint32_t magic;
	uint32_t worker;
	uint32_t iter;
	uint32_t check;
};
#define MARK_MAGIC 0x5a1ce0ddu

struct worker {
	struct task      task;
	struct pool_wait wait;
	struct buf       buf;
	enum wstate      state;
	unsigned         id, tid;
	unsigned         iter;
	unsigned         short_timeout;  /* waits time out after 1 ms */
	uint64_t         rng;
	uint64_t         deadline;       /* of the current wait */
	/* counters, written by the home thread only */
	uint64_t         buffer_wakeups;
	uint64_t         waits, timeouts, takes, holds, late_max;
	uint64_t         waiting_timeouts; /* timeouts while WAITING, short ones */
	int              cancelled;
	int              finished;
};

struct run {
	struct pool   *pool;
	struct sched  *sched;
	struct worker *workers;
	struct task    chaos[NTHR_MAX];
	uint64_t       chaos_rng[NTHR_MAX];
	int            done_count;       /* atomic */
	uint64_t       notifies;         /* atomic */
	int            errors;           /* atomic */
	int            stopping;         /* atomic: chaos stops */
	pthread_mutex_t held_lock;       /* the held-areas table */
	char         **held;
	unsigned       held_n, held_max, held_cap;
	int            limited;
};

static struct run R;

static void worker_notify(struct pool_wait *pw);

/* Returns a pseudo-random number (xorshift64). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void fail(const char *what, const struct worker *w)
{
	if (w)
		fprintf(stderr, "FAIL: %s (worker %u, iter %u)\n", what, w->id, w->iter);
	else
		fprintf(stderr, "FAIL: %s\n", what);
	__atomic_fetch_add(&R.errors, 1, __ATOMIC_RELAXED);
}

/* Records that <area> is now held; fails if it already was. */
static void held_add(const struct worker *w, char *area)
{
	unsigned i;

	pthread_mutex_lock(&R.held_lock);
	for (i = 0; i < R.held_n; i++)
		if (R.held[i] == area)
			fail("buffer handed to two owners", w);
	if (R.held_n < R.held_cap)
		R.held[R.held_n++] = area;
	if (R.held_n > R.held_max)
		R.held_max = R.held_n;
	pthread_mutex_unlock(&R.held_lock);
}

/* Records that <area> is no longer held. */
static void held_del(const struct worker *w, char *area)
{
	unsigned i;

	pthread_mutex_lock(&R.held_lock);
	for (i = 0; i < R.held_n && R.held[i] != area; i++)
		;
	if (i == R.held_n)
		fail("released a buffer nobody held", w);
	else
		R.held[i] = R.held[--R.held_n];
	pthread_mutex_unlock(&R.held_lock);
}

static void worker_finish(struct worker *w)
{
	w->state = W_DONE;
	w->finished = 1;
	task_schedule(&w->task, 0);
	__atomic_fetch_add(&R.done_count, 1, __ATOMIC_RELEASE);
}

/* Starts holding the buffer in w->buf for a short random time. */
static void worker_hold(struct worker *w)
{
	struct mark m = { MARK_MAGIC, w->id, w->iter, w->id ^ w->iter ^ MARK_MAGIC };

	held_add(w, w->buf.area);
	memcpy(w->buf.area + MARK_OFS, &m, sizeof(m));
	w->holds++;
	w->state = W_HOLDING;
	task_schedule(&w->task, sched_now_ms(w->task.tl.home) + rng_next(&w->rng) % 3);
}

/* Checks the owner mark and gives the buffer back. */
static void worker_release(struct worker *w)
{
	struct mark m;

	memcpy(&m, w->buf.area + MARK_OFS, sizeof(m));
	if (m.magic != MARK_MAGIC || m.worker != w->id || m.iter != w->iter ||
	    m.check != (w->id ^ w->iter ^ MARK_MAGIC))
		fail("owner mark overwritten while held", w);
	held_del(w, w->buf.area);
	pool_release(R.pool, w->tid, &w->buf);
	if (!b_is_null(&w->buf))
		fail("pool_release did not null the buffer", w);
}

/* Tries to allocate; on failure subscribes and arms the wait timeout. */
static void worker_alloc(struct worker *w)
{
	enum pool_crit crit = (enum pool_crit)(rng_next(&w->rng) % POOL_CRIT_COUNT);
	unsigned timeout;

	if (w->iter == ITERS) {
		worker_finish(w);
		return;
	}
	if (pool_alloc(R.pool, w->tid, crit, &w->buf) == 0) {
		worker_hold(w);
		return;
	}
	pool_wait_init(&w->wait, w->tid, crit, worker_notify, w);
	if (pool_wait_subscribe(R.pool, &w->wait) < 0) {
		fail("pool_wait_subscribe refused an idle entry", w);
		worker_finish(w);
		return;
	}
	w->waits++;
	w->state = W_WAITING;
	timeout = w->short_timeout ? 1 : 5 + (unsigned)(rng_next(&w->rng) % 40);
	w->deadline = sched_now_ms(w->task.tl.home) + timeout;
	task_schedule(&w->task, w->deadline);
}

static void worker_cb(struct tasklet *t, unsigned reasons)
{
	struct worker *w = t->ctx;

	if (sched_self() != t->home)
		fail("callback off its home thread", w);
	if (reasons & SCHED_R_BUFFER)
		w->buffer_wakeups++;

	switch (w->state) {
	case W_WAITING:
		if (pool_wait_take(R.pool, &w->wait, &w->buf)) {
			w->takes++;
			task_schedule(&w->task, 0);
			worker_hold(w);
			break;
		}
		if (!(reasons & SCHED_R_TIMER))
			break;   /* a stale wake-up: keep waiting */
		{
			uint64_t late = sched_clock_ms() - w->deadline;

			if (late > w->late_max)
				w->late_max = late;
		}
		/* Timed out: give up the place; a buffer served meanwhile
		 * goes to the next waiter. The attempt counts as done. */
		pool_wait_cancel(R.pool, &w->wait);
		if (pool_wait_state(&w->wait) != POOL_WAIT_IDLE)
			fail("entry not idle after cancel", w);
		w->timeouts++;
		if (w->short_timeout)
			w->waiting_timeouts++;
		w->iter++;
		w->state = W_BACKOFF;
		task_schedule(&w->task, sched_now_ms(t->home) + 1);
		break;
	case W_HOLDING:
		if (!(reasons & SCHED_R_TIMER))
			break;
		worker_release(w);
		w->iter++;
		w->state = W_ALLOC;
		worker_alloc(w);
		break;
	case W_BACKOFF:
		if (!(reasons & SCHED_R_TIMER))
			break;   /* e.g. the BUFFER wake-up of a wait just cancelled */
		w->state = W_ALLOC;
		worker_alloc(w);
		break;
	case W_ALLOC:
		worker_alloc(w);
		break;
	case W_DONE:
		break;   /* stale wake-ups after the end are only counted */
	}
}

/* The pool's notify: runs on the releasing thread under the queue lock;
 * it only posts a wake-up to the owner. */
static void worker_notify(struct pool_wait *pw)
{
	struct worker *w = pw->ctx;

	__atomic_fetch_add(&R.notifies, 1, __ATOMIC_RELAXED);
	task_wakeup(&w->task, SCHED_R_BUFFER);
}

/* Chaos task of one thread: every few ms, cancels a random waiting worker
 * of its thread for good. */
static void chaos_cb(struct tasklet *t, unsigned reasons)
{
	unsigned tid = sched_thread_id(t->home);
	struct worker *w;

	if (__atomic_load_n(&R.stopping, __ATOMIC_ACQUIRE))
		return;
	w = &R.workers[(rng_next(&R.chaos_rng[tid]) % (NTASKS / NTHR)) * NTHR + tid];
	if (w->state == W_WAITING && !w->short_timeout && (rng_next(&R.chaos_rng[tid]) % 4) == 0) {
		pool_wait_cancel(R.pool, &w->wait);
		w->cancelled = 1;
		worker_finish(w);
	}
	task_schedule(&R.chaos[tid], sched_now_ms(t->home) + 3);
}

static void idle_hook(struct sched_thread *thr, void *arg)
{
	pool_thread_idle(R.pool, sched_thread_id(thr), sched_now_ms(thr));
}

/* Kills every worker and chaos task of the calling thread. */
static void kill_thread_tasks(void *arg)
{
	unsigned tid = sched_thread_id(sched_self()), i;

	for (i = tid; i < NTASKS; i += NTHR)
		task_kill(&R.workers[i].task, 0);
	task_kill(&R.chaos[tid], 0);
}

static uint64_t buffer_wakeups_total(void)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < NTASKS; i++)
		sum += __atomic_load_n(&R.workers[i].buffer_wakeups, __ATOMIC_RELAXED);
	return sum;
}

/* Runs one variant. Returns 0 when every check passed. */
static int run_variant(const char *name, unsigned nthr, uint64_t limit, uint64_t reserve,
		       uint32_t fail_ppm, unsigned credit_batch)
{
	struct pool_config cfg = {
		.bufsize = BUFSIZE, .nbthread = nthr, .limit = limit, .reserve = reserve,
		.fail_ppm = fail_ppm, .fail_seed = 42, .cache_max = 4, .trim_ms = 50,
		.credit_batch = credit_batch,
	};
	uint64_t start = tu_now_ns(), bw = 0, timeouts = 0, waits = 0, takes = 0, holds = 0;
	uint64_t short_waiting_timeouts = 0, late_max = 0;
	unsigned i, finished_all = 0, cancelled = 0, timed_out_tasks = 0;
	struct pool_stats ps;
	struct sched_stats ss;

	NTHR = nthr;
	memset(&R, 0, sizeof(R));
	R.limited = limit != 0;
	pthread_mutex_init(&R.held_lock, NULL);
	R.held_cap = NTASKS + 1;
	R.held = calloc(R.held_cap, sizeof(*R.held));
	R.workers = calloc(NTASKS, sizeof(*R.workers));
	R.pool = pool_create(&cfg);
	R.sched = sched_create(NTHR);
	if (!R.held || !R.workers || !R.pool || !R.sched) {
		perror("setup");
		return 1;
	}
	sched_set_hooks(R.sched, NULL, idle_hook, NULL, NULL);
	for (i = 0; i < NTASKS; i++) {
		struct worker *w = &R.workers[i];

		w->id = i;
		w->tid = i % NTHR;
		w->rng = 0x2545f4914f6cdd1dull * (i + 1);
		w->short_timeout = (i % 10) == 3;
		task_init(&w->task, sched_thread_get(R.sched, w->tid), worker_cb, w);
		pool_wait_init(&w->wait, w->tid, POOL_CRIT_REQUEST, worker_notify, w);
		w->state = W_ALLOC;
		task_wakeup(&w->task, SCHED_R_WAKE);
	}
	for (i = 0; i < NTHR; i++) {
		R.chaos_rng[i] = 0x9e3779b97f4a7c15ull * (i + 7);
		task_init(&R.chaos[i], sched_thread_get(R.sched, i), chaos_cb, NULL);
		task_wakeup(&R.chaos[i], SCHED_R_WAKE);
	}
	if (sched_start(R.sched) < 0) {
		perror("sched_start");
		return 1;
	}

	/* Every worker ends; then the stale BUFFER wake-ups of cancelled
	 * waits arrive, until each notify has been received. */
	while (__atomic_load_n(&R.done_count, __ATOMIC_ACQUIRE) < NTASKS) {
		if ((tu_now_ns() - start) / 1000000u > DEADLINE_MS) {
			fprintf(stderr, "FAIL [%s]: only %d of %d tasks ended within %d ms: deadlock?\n",
				name, __atomic_load_n(&R.done_count, __ATOMIC_ACQUIRE), NTASKS, DEADLINE_MS);
			pool_stats(R.pool, -1u, &ps);
			fprintf(stderr, "  pool: in_use %lld waiting %llu handoffs %llu notifies %llu\n",
				(long long)ps.in_use, (unsigned long long)ps.waiting,
				(unsigned long long)ps.handoffs, (unsigned long long)ps.notifies);
			return 1;
		}
		tu_sleep_us(2000);
	}
	__atomic_store_n(&R.stopping, 1, __ATOMIC_RELEASE);
	while (buffer_wakeups_total() < __atomic_load_n(&R.notifies, __ATOMIC_RELAXED) &&
	       (tu_now_ns() - start) / 1000000u < DEADLINE_MS)
		tu_sleep_us(1000);
	tu_sleep_us(10000);  /* a wake-up too many would show up now */

	pool_stats(R.pool, -1u, &ps);
	for (i = 0; i < NTHR; i++)
		if (tu_run_on(sched_thread_get(R.sched, i), kill_thread_tasks, NULL, 5000) < 0) {
			fprintf(stderr, "FAIL [%s]: thread %u does not answer\n", name, i);
			return 1;
		}
	sched_stats(R.sched, -1u, &ss);
	sched_stop(R.sched);
	if (sched_join(R.sched) != 0)
		fail("sched_join", NULL);

	for (i = 0; i < NTASKS; i++) {
		struct worker *w = &R.workers[i];

		bw += w->buffer_wakeups;
		timeouts += w->timeouts;
		waits += w->waits;
		takes += w->takes;
		holds += w->holds;
		short_waiting_timeouts += w->waiting_timeouts;
		if (w->late_max > late_max)
			late_max = w->late_max;
		cancelled += w->cancelled;
		timed_out_tasks += w->timeouts != 0;
		finished_all += !w->cancelled && w->iter == ITERS;
		if (!w->finished)
			fail("a worker did not end", w);
		if (!w->cancelled && w->iter != ITERS)
			fail("a worker ended early", w);
		if (!b_is_null(&w->buf))
			fail("a worker still holds a buffer", w);
	}

	printf("[%s] %.0f ms: %u tasks on %u threads, %u completed all %u iterations, %u cancelled, "
	       "%u saw timeouts\n", name, (double)(tu_now_ns() - start) / 1e6, NTASKS, NTHR,
	       finished_all, ITERS, cancelled, timed_out_tasks);
	printf("[%s] holds %llu (by alloc %llu, by hand-off %llu), waits %llu, timeouts %llu "
	       "(%llu by 1-ms waiters, latest %llu ms late), max held at once %u\n", name,
	       (unsigned long long)holds, (unsigned long long)(holds - takes),
	       (unsigned long long)takes, (unsigned long long)waits,
	       (unsigned long long)timeouts, (unsigned long long)short_waiting_timeouts,
	       (unsigned long long)late_max, R.held_max);
	printf("[%s] pool: allocs %llu failed %llu (injected %llu) handoffs %llu "
	       "(at subscribe %llu) notifies %llu takes %llu passes_on %llu cancels %llu "
	       "peak_in_use %llu in_use %lld waiting %llu allocated %llu cached %llu global_free %llu\n", name,
	       (unsigned long long)ps.allocs, (unsigned long long)ps.failed,
	       (unsigned long long)ps.injected, (unsigned long long)ps.handoffs,
	       (unsigned long long)ps.served_at_subscribe, (unsigned long long)ps.notifies,
	       (unsigned long long)ps.takes, (unsigned long long)ps.passes_on,
	       (unsigned long long)ps.cancels, (unsigned long long)ps.peak_in_use,
	       (long long)ps.in_use, (unsigned long long)ps.waiting, (unsigned long long)ps.allocated,
	       (unsigned long long)ps.cached, (unsigned long long)ps.global_free);
	printf("[%s] BUFFER wake-ups received %llu, notify calls %llu: %.3f wake-ups per hand-off; "
	       "sched: tasks run %llu, remote wake-ups %llu, kicks %llu, timers fired %llu\n", name,
	       (unsigned long long)bw, (unsigned long long)R.notifies,
	       ps.handoffs ? (double)bw / (double)ps.handoffs : 0.0,
	       (unsigned long long)ss.tasks_run, (unsigned long long)ss.remote_wakeups,
	       (unsigned long long)ss.kicks, (unsigned long long)ss.timers_fired);

	if (ps.in_use != 0)
		fail("pool in_use != 0 at the end", NULL);
	if (limit && ps.allocated + ps.credits_cached + ps.credits_free != limit)
		fail("pool allocated + bare credits + free credits != limit", NULL);
	if ((int64_t)ps.allocated != ps.in_use + (int64_t)ps.cached + (int64_t)ps.global_free)
		fail("pool allocated != in_use + cached + global_free", NULL);
	if (ps.waiting != 0)
		fail("pool waiting != 0 at the end", NULL);
	if (ps.handoffs != ps.notifies)
		fail("pool handoffs != notifies", NULL);
	if (R.notifies != ps.notifies)
		fail("notify calls seen != pool notifies", NULL);
	if (bw != ps.handoffs)
		fail("BUFFER wake-ups received != hand-offs", NULL);
	if (ps.takes + ps.passes_on != ps.handoffs)
		fail("takes + passes_on != handoffs", NULL);
	if (ps.takes != takes)
		fail("pool takes != takes seen by workers", NULL);
	if (R.held_n != 0)
		fail("held table not empty", NULL);
	if (limit && R.held_max > limit)
		fail("more buffers held at once than the limit", NULL);
	if (limit && ps.peak_in_use > limit)
		fail("peak_in_use above the limit", NULL);
	if (late_max > MAX_LATE_MS)
		fail("a wait timeout fired very late: timers blocked while waiting?", NULL);
	if (limit) {
		if (ps.handoffs == 0 || waits == 0)
			fail("no hand-off under a shortage: the test tests nothing", NULL);
		if (short_waiting_timeouts == 0)
			fail("no 1-ms waiter ever timed out while waiting", NULL);
	}
	if (fail_ppm && ps.injected == 0)
		fail("fault injection never fired", NULL);
	/* Without a limit, only injected failures (and the odd one racing
	 * with a subscription) may refuse: anything more means waiters are
	 * left queued, and no-barging then fails everyone behind them. */
	if (!limit && ps.failed - ps.injected > (ps.allocs + ps.failed) / 50)
		fail("without a limit the pool refused many allocations it did not inject "
		     "(waiters left queued: a convoy fed only by releases)", NULL);

	for (i = 0; i < NTASKS; i++)
		if (!b_is_null(&R.workers[i].buf))
			pool_release(R.pool, 0, &R.workers[i].buf);
	sched_destroy(R.sched);
	pool_destroy(R.pool);
	free(R.workers);
	free(R.held);
	pthread_mutex_destroy(&R.held_lock);
	return __atomic_load_n(&R.errors, __ATOMIC_RELAXED) != 0;
}

int main(int argc, char **argv)
{
	const char *which = argc > 1 ? argv[1] : "both";
	int failed = 0;

	if (!strcmp(which, "limit") || !strcmp(which, "both"))
		failed |= run_variant("limit 8 reserve 2, 16 threads", 16, 8, 2, 0, 0);
	if (!strcmp(which, "faults") || !strcmp(which, "both"))
		failed |= run_variant("faults 20%, no limit, 16 threads", 16, 0, 0, 200000, 0);
	/* 16 threads, per-thread credit under a limit below demand: credits
	 * move between threads, through the free count and, while tasks
	 * wait, back through the locked path */
	if (!strcmp(which, "credits") || !strcmp(which, "both"))
		failed |= run_variant("credits, 16 threads, limit 40 reserve 4", 16, 40, 4, 0, 2);
	printf(failed ? "FAIL\n" : "PASS\n");
	return failed;
}

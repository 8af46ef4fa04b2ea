/* xthread_wake.c - stress: many threads wake tasklets homed elsewhere.
 *
 * Scheduler threads each own target tasklets and a poster task; outside
 * threads post too. Every post first adds one to the target's <pending>
 * counter, then wakes it; the target's callback moves <pending> into its
 * <observed> count. When all posters are done, observed must equal the
 * number of posts (no lost wake-up, including those racing with a target
 * going to sleep), every callback must have run on its home thread with
 * the MSG reason, and the whole run must finish in bounded time.
 *
 * A second phase plays ping-pong between two threads: each side wakes the
 * other and goes back to sleep at once, so most wake-ups land while their
 * target is on its way into epoll_wait, the window a lost wake-up needs.
 * With no other activity, one lost wake-up stalls the game for good.
 *
 * A plain program (not Criterion) so that it also runs under TSan.
 * Returns 0 on success, 1 on failure or timeout.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sched/sched.h"
#include "tests/sched/testutil.h"

/* 16 scheduler threads: on CI's 2 cores most of them sleep and wake all
 * the time, so wake-ups race with their targets going to sleep. The work
 * is about what 3 threads did before (3 x 300 poster rounds), a quarter of
 * it in sanitizer builds, which run several times slower. */
#define NTHR          16     /* scheduler threads */
#define NTGT          8      /* targets per scheduler thread */
#ifdef SLUICE_SANITIZE
#define POSTER_ROUNDS 14     /* rounds of each poster task */
#define EXT_POSTS     15000  /* posts per outside thread */
#else
#define POSTER_ROUNDS 56
#define EXT_POSTS     60000
#endif
#define POSTER_BATCH  64     /* posts per round */
#define NEXT          2      /* outside posting threads */
#define DEADLINE_MS   20000
#define PINGPONG      20000  /* rounds of the second phase */
#define PINGPONG_MS   10000

struct target {
	struct tasklet tl;
	unsigned       pending;     /* atomic: posted, not yet observed */
	uint64_t       observed;    /* written by the home thread only */
	uint64_t       runs;        /* written by the home thread only */
	unsigned       bad;         /* written by the home thread only */
};

struct poster {
	struct task    task;
	struct target *targets;     /* all targets: NTHR * NTGT */
	unsigned       tid;         /* -1u for an outside thread */
	unsigned       rounds;
	uint64_t       posts;       /* written by the poster only */
	uint64_t       rng;
	int            done;        /* atomic */
};

static struct target targets[NTHR * NTGT];

/* Returns a pseudo-random number (xorshift64). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void target_cb(struct tasklet *t, unsigned reasons)
{
	struct target *tg = t->ctx;
	unsigned got;

	if (sched_self() != t->home || !(reasons & SCHED_R_MSG) || (reasons & ~SCHED_R_MSG))
		__atomic_store_n(&tg->bad, tg->bad + 1, __ATOMIC_RELAXED);
	got = __atomic_exchange_n(&tg->pending, 0, __ATOMIC_ACQ_REL);
	__atomic_store_n(&tg->observed, tg->observed + got, __ATOMIC_RELAXED);
	__atomic_store_n(&tg->runs, tg->runs + 1, __ATOMIC_RELAXED);
}

/* Posts one wake-up to a random target not homed on thread <skip_tid>. */
static void post_one(struct poster *p, unsigned skip_tid)
{
	struct target *tg;

	do {
		tg = &p->targets[rng_next(&p->rng) % (NTHR * NTGT)];
	} while (sched_thread_id(tg->tl.home) == skip_tid);
	__atomic_fetch_add(&tg->pending, 1, __ATOMIC_RELEASE);
	tasklet_wakeup(&tg->tl, SCHED_R_MSG);
	__atomic_store_n(&p->posts, p->posts + 1, __ATOMIC_RELAXED);
}

/* Poster task on a scheduler thread: one batch per run, then either runs
 * again at once or after a 1 ms timer so that targets sleep sometimes. */
static void poster_cb(struct tasklet *t, unsigned reasons)
{
	struct poster *p = t->ctx;
	unsigned i;

	for (i = 0; i < POSTER_BATCH; i++)
		post_one(p, p->tid);
	if (++p->rounds == POSTER_ROUNDS) {
		__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
		return;
	}
	if (rng_next(&p->rng) & 1)
		tasklet_wakeup(t, SCHED_R_WAKE);
	else
		task_schedule(&p->task, sched_now_ms(t->home) + 1);
}

/* Outside thread: posts everywhere, pausing now and then. */
static void *outside_main(void *arg)
{
	struct poster *p = arg;
	unsigned i;

	for (i = 0; i < EXT_POSTS; i++) {
		post_one(p, -1u);
		if ((i & 255) == 255)
			tu_sleep_us((unsigned)(rng_next(&p->rng) % 300));
	}
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

struct pinger {
	struct tasklet  tl;
	struct pinger  *peer;
	unsigned       *count;      /* shared, passed along with the ball */
	int            *done;       /* atomic */
	unsigned        bad;
};

/* Counts the round, then hands the ball to the other thread. */
static void pinger_cb(struct tasklet *t, unsigned reasons)
{
	struct pinger *p = t->ctx;
	unsigned n = __atomic_load_n(p->count, __ATOMIC_RELAXED) + 1;

	if (sched_self() != t->home || reasons != SCHED_R_MSG)
		p->bad++;
	__atomic_store_n(p->count, n, __ATOMIC_RELAXED);
	if (n >= PINGPONG) {
		__atomic_store_n(p->done, 1, __ATOMIC_RELEASE);
		return;
	}
	tasklet_wakeup(&p->peer->tl, SCHED_R_MSG);
}

/* Plays the ping-pong phase on <s>. Returns 0 or 1 on failure. */
static int pingpong(struct sched *s)
{
	static struct pinger p[2];
	static unsigned count;
	static int done;
	uint64_t start = tu_now_ns();
	unsigned i;

	for (i = 0; i < 2; i++) {
		tasklet_init(&p[i].tl, sched_thread_get(s, i), pinger_cb, &p[i]);
		p[i].peer = &p[!i];
		p[i].count = &count;
		p[i].done = &done;
	}
	tasklet_wakeup(&p[0].tl, SCHED_R_MSG);
	if (tu_wait_flag(&done, PINGPONG_MS) < 0) {
		fprintf(stderr, "FAIL: ping-pong stalled at round %u of %u: lost wake-up\n",
			__atomic_load_n(&count, __ATOMIC_RELAXED), PINGPONG);
		return 1;
	}
	printf("ping-pong: %u rounds in %.0f ms\n", PINGPONG, (double)(tu_now_ns() - start) / 1e6);
	if (p[0].bad || p[1].bad) {
		fprintf(stderr, "FAIL: ping-pong callbacks off their home thread or with a wrong mask\n");
		return 1;
	}
	return 0;
}

/* Returns the sum of observed posts. */
static uint64_t observed_total(void)
{
	uint64_t sum = 0;
	unsigned i;

	for (i = 0; i < NTHR * NTGT; i++)
		sum += __atomic_load_n(&targets[i].observed, __ATOMIC_RELAXED);
	return sum;
}

int main(void)
{
	static struct poster posters[NTHR + NEXT];
	pthread_t ext[NEXT];
	struct sched *s = sched_create(NTHR);
	struct sched_stats st;
	uint64_t start = tu_now_ns(), posted = 0, seen = 0, runs = 0;
	unsigned i, bad = 0;
	int failed = 0;

	if (!s) {
		perror("sched_create");
		return 1;
	}
	for (i = 0; i < NTHR * NTGT; i++)
		tasklet_init(&targets[i].tl, sched_thread_get(s, i / NTGT), target_cb, &targets[i]);
	for (i = 0; i < NTHR + NEXT; i++) {
		posters[i].targets = targets;
		posters[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
		posters[i].tid = i < NTHR ? i : -1u;
	}
	for (i = 0; i < NTHR; i++) {
		task_init(&posters[i].task, sched_thread_get(s, i), poster_cb, &posters[i]);
		task_wakeup(&posters[i].task, SCHED_R_WAKE);
	}
	if (sched_start(s) < 0) {
		perror("sched_start");
		return 1;
	}
	for (i = 0; i < NEXT; i++)
		if (pthread_create(&ext[i], NULL, outside_main, &posters[NTHR + i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (i = 0; i < NEXT; i++)
		pthread_join(ext[i], NULL);
	for (i = 0; i < NTHR + NEXT; i++) {
		uint64_t left = DEADLINE_MS - (tu_now_ns() - start) / 1000000u;

		if ((tu_now_ns() - start) / 1000000u >= DEADLINE_MS ||
		    tu_wait_flag(&posters[i].done, (unsigned)left) < 0) {
			fprintf(stderr, "FAIL: poster %u not done within %u ms\n", i, DEADLINE_MS);
			return 1;
		}
		posted += __atomic_load_n(&posters[i].posts, __ATOMIC_RELAXED);
	}
	while ((seen = observed_total()) != posted && (tu_now_ns() - start) / 1000000u < DEADLINE_MS)
		tu_sleep_us(1000);
	/* Let any stray extra run show up before checking the counts. */
	tu_sleep_us(20000);
	sched_stats(s, -1u, &st); /* before sched_stop(), which kicks too */
	failed |= pingpong(s);
	sched_stop(s);
	if (sched_join(s) != 0) {
		fprintf(stderr, "FAIL: sched_join\n");
		failed = 1;
	}
	seen = observed_total();
	for (i = 0; i < NTHR * NTGT; i++) {
		bad += targets[i].bad;
		runs += targets[i].runs;
		if (targets[i].pending) {
			fprintf(stderr, "FAIL: target %u still has %u pending\n", i, targets[i].pending);
			failed = 1;
		}
	}
	printf("posted %llu, observed %llu, callback runs %llu (%.2f posts/run), remote wake-ups %llu, kicks %llu, polls %llu, %.0f ms\n",
	       (unsigned long long)posted, (unsigned long long)seen, (unsigned long long)runs,
	       runs ? (double)posted / (double)runs : 0.0,
	       (unsigned long long)st.remote_wakeups, (unsigned long long)st.kicks,
	       (unsigned long long)st.polls, (double)(tu_now_ns() - start) / 1e6);
	if (seen != posted) {
		fprintf(stderr, "FAIL: %llu wake-ups posted, %llu observed (lost wake-up or timeout)\n",
			(unsigned long long)posted, (unsigned long long)seen);
		failed = 1;
	}
	if (bad) {
		fprintf(stderr, "FAIL: %u callbacks ran off their home thread or with a wrong mask\n", bad);
		failed = 1;
	}
	if (posted != (uint64_t)NTHR * POSTER_ROUNDS * POSTER_BATCH + (uint64_t)NEXT * EXT_POSTS) {
		fprintf(stderr, "FAIL: posters posted %llu\n", (unsigned long long)posted);
		failed = 1;
	}
	if (st.remote_wakeups == 0 || st.remote_wakeups > posted || st.kicks == 0) {
		fprintf(stderr, "FAIL: implausible stats (remote %llu, kicks %llu)\n",
			(unsigned long long)st.remote_wakeups, (unsigned long long)st.kicks);
		failed = 1;
	}
	if (st.tasklets_run != runs) {
		fprintf(stderr, "FAIL: stats count %llu tasklet runs, callbacks %llu\n",
			(unsigned long long)st.tasklets_run, (unsigned long long)runs);
		failed = 1;
	}
	sched_destroy(s);
	if (!failed)
		printf("PASS\n");
	return failed;
}

/* testutil.h - small helpers shared by the scheduler tests and benchmark.
 *
 * run_on() runs a function on a scheduler thread (posted as a tasklet) and
 * waits for it, bounded in time; wait_flag() waits for a flag set from a
 * scheduler thread. Both return 0 on success and -1 on timeout, so a test
 * can fail instead of hanging.
 */
#ifndef SLUICE_TESTS_SCHED_TESTUTIL_H
#define SLUICE_TESTS_SCHED_TESTUTIL_H

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>
#include "sched/sched.h"

/* Returns a monotonic clock in nanoseconds. */
static inline uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps <us> microseconds. */
static inline void tu_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits until *<flag> is non-zero or <timeout_ms> passed. Returns 0 when
 * the flag was seen set, -1 on timeout. */
static inline int tu_wait_flag(const int *flag, unsigned timeout_ms)
{
	uint64_t end = tu_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (tu_now_ns() > end)
			return -1;
		tu_sleep_us(200);
	}
	return 0;
}

struct tu_call {
	struct tasklet tl;
	void         (*fn)(void *arg);
	void          *arg;
	sem_t          done;
};

/* Tasklet body of tu_run_on(): runs the function, then signals. */
static inline void tu_call_cb(struct tasklet *t, unsigned reasons)
{
	struct tu_call *c = t->ctx;

	(void)reasons;
	c->fn(c->arg);
	sem_post(&c->done);
}

/* Runs <fn>(<arg>) on scheduler thread <thr> and waits up to <timeout_ms>
 * for it to return. Returns 0, or -1 on timeout (the call may still run
 * later: the caller should then fail and exit). */
static inline int tu_run_on(struct sched_thread *thr, void (*fn)(void *), void *arg,
			    unsigned timeout_ms)
{
	static _Thread_local struct tu_call call; /* must outlive a timed-out wait */
	struct timespec end;
	int ret;

	call.fn = fn;
	call.arg = arg;
	sem_init(&call.done, 0, 0);
	tasklet_init(&call.tl, thr, tu_call_cb, &call);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += timeout_ms / 1000u;
	end.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	tasklet_wakeup(&call.tl, SCHED_R_WAKE);
	while ((ret = sem_timedwait(&call.done, &end)) < 0 && errno == EINTR)
		;
	if (ret < 0)
		return -1;
	sem_destroy(&call.done);
	return 0;
}

#endif /* SLUICE_TESTS_SCHED_TESTUTIL_H */

/* test_sched.c - unit tests of the per-thread schedulers (Criterion).
 *
 * Each test starts its own scheduler set, drives it from the test thread
 * with tu_run_on() (code that must run on a home thread) and checks what
 * the callbacks recorded. Waits are bounded; timing checks allow for a
 * shared, noisy machine.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "sched/sched.h"
#include "tests/sched/testutil.h"

#define WAIT_MS   5000   /* bound of every wait in this file */
/* How late a timer may fire: a loaded 2-core CI machine (TSan, another
 * test beside) has held a thread off its CPU for 60 ms. Timers that must
 * be told apart are 150 ms apart, more than this, so a scheduler that
 * slept to the wrong timer still fails. */
#define LATE_MS   140

static struct sched *start_set(unsigned nbthread)
{
	struct sched *s = sched_create(nbthread);

	cr_assert_not_null(s, "sched_create: %s", strerror(errno));
	cr_assert_eq(sched_start(s), 0, "sched_start: %s", strerror(errno));
	return s;
}

static void stop_set(struct sched *s)
{
	sched_stop(s);
	cr_assert_eq(sched_join(s), 0);
	sched_destroy(s);
}

/* ---- timers ---- */

#define NTIMERS 6

struct timer_rec {
	struct task task[NTIMERS];
	uint64_t    expire[NTIMERS];
	uint64_t    fired_at[NTIMERS];
	unsigned    reasons[NTIMERS];
	uint64_t    expire_after[NTIMERS]; /* expire_ms seen in the callback */
	int         order[NTIMERS];
	int         nfired;
	int         runs[NTIMERS];
	int         done;                  /* atomic */
	int         expect;                /* how many must fire */
	struct sched_thread *thr;
	struct sched_thread *ran_on[NTIMERS];
};

static void timer_cb(struct tasklet *t, unsigned reasons)
{
	struct timer_rec *r = t->ctx;
	int i = (int)((struct task *)t - r->task);

	r->fired_at[i] = sched_clock_ms();
	r->reasons[i] = reasons;
	r->expire_after[i] = r->task[i].expire_ms;
	r->ran_on[i] = sched_self();
	r->runs[i]++;
	r->order[r->nfired++] = i;
	if (r->nfired == r->expect)
		__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
}

static void timers_arm_shuffled(void *arg)
{
	static const unsigned delay[NTIMERS] = { 610, 160, 460, 310, 760, 10 };
	struct timer_rec *r = arg;
	uint64_t now = sched_now_ms(r->thr);
	int i;

	for (i = 0; i < NTIMERS; i++) {
		task_init(&r->task[i], r->thr, timer_cb, r);
		r->expire[i] = now + delay[i];
		task_schedule(&r->task[i], r->expire[i]);
	}
}

Test(sched, timers_fire_in_order_and_on_time, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct timer_rec *r = calloc(1, sizeof(*r));
	int k;

	r->thr = sched_thread_get(s, 0);
	r->expect = NTIMERS;
	cr_assert_eq(tu_run_on(r->thr, timers_arm_shuffled, r, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&r->done, WAIT_MS), 0, "timers did not all fire");
	stop_set(s);
	for (k = 0; k < NTIMERS; k++) {
		int i = r->order[k];

		if (k > 0)
			cr_assert_geq(r->expire[i], r->expire[r->order[k - 1]], "fired out of order");
		cr_assert_geq(r->fired_at[i], r->expire[i], "timer %d fired early", i);
		cr_assert_lt(r->fired_at[i], r->expire[i] + LATE_MS, "timer %d fired %llu ms late", i,
			     (unsigned long long)(r->fired_at[i] - r->expire[i]));
		cr_assert_eq(r->reasons[i], SCHED_R_TIMER);
		cr_assert_eq(r->expire_after[i], 0, "a fired timer must be disarmed");
		cr_assert_eq(r->runs[i], 1);
		cr_assert_eq(r->ran_on[i], r->thr);
	}
	free(r);
}

/* Task 0 is armed then cleared, task 1 armed late then moved earlier,
 * task 2 armed early then moved later, task 3 armed and killed, task 4
 * re-armed after the others as the end marker. */
static void timers_arm_and_change(void *arg)
{
	struct timer_rec *r = arg;
	uint64_t now = sched_now_ms(r->thr);
	int i;

	for (i = 0; i < 5; i++)
		task_init(&r->task[i], r->thr, timer_cb, r);
	r->expire[0] = now + 10;
	task_schedule(&r->task[0], r->expire[0]);
	task_schedule(&r->task[0], 0);
	r->expire[1] = now + 30;
	task_schedule(&r->task[1], now + 2000);
	task_schedule(&r->task[1], r->expire[1]);
	r->expire[2] = now + 90;
	task_schedule(&r->task[2], now + 10);
	task_schedule(&r->task[2], r->expire[2]);
	task_schedule(&r->task[3], now + 20);
	task_kill(&r->task[3], 0);
	r->expire[4] = now + 150;
	task_schedule(&r->task[4], r->expire[4]);
}

Test(sched, rescheduled_or_cleared_timers, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct timer_rec *r = calloc(1, sizeof(*r));

	r->thr = sched_thread_get(s, 0);
	r->expect = 3;
	cr_assert_eq(tu_run_on(r->thr, timers_arm_and_change, r, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&r->done, WAIT_MS), 0, "timers did not fire");
	tu_sleep_us(30000);
	stop_set(s);
	cr_assert_eq(r->runs[0], 0, "a cleared timer fired");
	cr_assert_eq(r->runs[3], 0, "a killed task fired");
	cr_assert_eq(r->runs[1], 1);
	cr_assert_eq(r->runs[2], 1);
	cr_assert_eq(r->runs[4], 1);
	cr_assert_eq(r->order[0], 1);
	cr_assert_eq(r->order[1], 2);
	cr_assert_eq(r->order[2], 4);
	cr_assert_geq(r->fired_at[1], r->expire[1]);
	cr_assert_lt(r->fired_at[1], r->expire[1] + LATE_MS, "moved-earlier timer fired late");
	cr_assert_geq(r->fired_at[2], r->expire[2], "moved-later timer fired at its old time");
	free(r);
}

/* Many timers with pseudo-random expiries, some cleared: checks the heap
 * under churn (every survivor fires once, in expiry order). */
#define NCHURN 400

struct churn {
	struct task task[NCHURN];
	uint64_t    expire[NCHURN];
	uint64_t    last_expire;
	int         disorder;
	int         runs[NCHURN];
	int         cleared[NCHURN];
	int         fired;
	int         expect;
	int         done;
	struct sched_thread *thr;
};

static void churn_cb(struct tasklet *t, unsigned reasons)
{
	struct churn *c = t->ctx;
	int i = (int)((struct task *)t - c->task);

	if (c->expire[i] < c->last_expire)
		c->disorder++;
	c->last_expire = c->expire[i];
	c->runs[i]++;
	if (++c->fired == c->expect)
		__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
}

static void churn_arm(void *arg)
{
	struct churn *c = arg;
	uint64_t now = sched_now_ms(c->thr);
	unsigned seed = 12345;
	int i;

	for (i = 0; i < NCHURN; i++) {
		task_init(&c->task[i], c->thr, churn_cb, c);
		seed = seed * 1103515245u + 12345u;
		c->expire[i] = now + 20 + (seed >> 16) % 200;
		task_schedule(&c->task[i], c->expire[i]);
	}
	for (i = 0; i < NCHURN; i++) {
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 3 == 0) {
			task_schedule(&c->task[i], 0);
			c->cleared[i] = 1;
		} else if ((seed >> 16) % 3 == 1) {
			c->expire[i] = now + 20 + (seed >> 8) % 200;
			task_schedule(&c->task[i], c->expire[i]);
		}
	}
	c->expect = 0;
	for (i = 0; i < NCHURN; i++)
		c->expect += !c->cleared[i];
}

Test(sched, timer_heap_churn, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct churn *c = calloc(1, sizeof(*c));
	int i;

	c->thr = sched_thread_get(s, 0);
	cr_assert_eq(tu_run_on(c->thr, churn_arm, c, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&c->done, WAIT_MS), 0, "not every timer fired");
	tu_sleep_us(20000);
	stop_set(s);
	for (i = 0; i < NCHURN; i++)
		cr_assert_eq(c->runs[i], !c->cleared[i], "task %d ran %d times", i, c->runs[i]);
	cr_assert_eq(c->disorder, 0, "%d timers fired before an earlier one", c->disorder);
	free(c);
}

/* ---- run queue order, coalescing, home thread ---- */

#define NFIFO 16

struct fifo {
	struct tasklet tl[NFIFO];
	int            order[2 * NFIFO];
	unsigned       reasons[NFIFO];
	int            runs[NFIFO];
	int            n;
	int            wrong_thread;
	int            done;
	int            expect;
};

static void fifo_cb(struct tasklet *t, unsigned reasons)
{
	struct fifo *f = t->ctx;
	int i = (int)(t - f->tl);

	if (sched_self() != t->home)
		f->wrong_thread++;
	f->reasons[i] |= reasons;
	f->runs[i]++;
	f->order[f->n++] = i;
	if (f->n == f->expect)
		__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
}

static void fifo_wake_local(void *arg)
{
	struct fifo *f = arg;
	int i;

	for (i = 0; i < NFIFO; i++)
		tasklet_wakeup(&f->tl[i], SCHED_R_WAKE);
}

Test(sched, local_wakeups_run_in_fifo_order, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct fifo *f = calloc(1, sizeof(*f));
	int i;

	for (i = 0; i < NFIFO; i++)
		tasklet_init(&f->tl[i], sched_thread_get(s, 0), fifo_cb, f);
	f->expect = NFIFO;
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fifo_wake_local, f, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&f->done, WAIT_MS), 0);
	stop_set(s);
	for (i = 0; i < NFIFO; i++)
		cr_assert_eq(f->order[i], i, "position %d ran tasklet %d", i, f->order[i]);
	cr_assert_eq(f->wrong_thread, 0);
	free(f);
}

Test(sched, remote_wakeups_run_in_fifo_order_on_home, .timeout = 20)
{
	struct sched *s = start_set(2);
	struct fifo *f = calloc(1, sizeof(*f));
	int i;

	for (i = 0; i < NFIFO; i++)
		tasklet_init(&f->tl[i], sched_thread_get(s, 1), fifo_cb, f);
	f->expect = NFIFO;
	/* From thread 0, then from the test thread: both are remote. */
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fifo_wake_local, f, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&f->done, WAIT_MS), 0);
	__atomic_store_n(&f->done, 0, __ATOMIC_RELAXED);
	f->n = 0;
	f->expect = NFIFO;
	fifo_wake_local(f);
	cr_assert_eq(tu_wait_flag(&f->done, WAIT_MS), 0);
	stop_set(s);
	for (i = 0; i < NFIFO; i++)
		cr_assert_eq(f->order[i], i, "position %d ran tasklet %d", i, f->order[i]);
	cr_assert_eq(f->wrong_thread, 0, "a callback ran away from its home thread");
	for (i = 0; i < NFIFO; i++)
		cr_assert_eq(f->runs[i], 2);
}

static void wake_many_reasons(void *arg)
{
	struct fifo *f = arg;
	int k;

	for (k = 0; k < 100; k++) {
		tasklet_wakeup(&f->tl[0], SCHED_R_WAKE);
		tasklet_wakeup(&f->tl[0], SCHED_R_MSG);
	}
	tasklet_wakeup(&f->tl[0], SCHED_R_BUFFER);
	tasklet_wakeup(&f->tl[1], SCHED_R_READ);
}

Test(sched, wakeups_coalesce_into_one_run, .timeout = 20)
{
	struct sched *s = sched_create(1);
	struct fifo *f = calloc(1, sizeof(*f));
	struct sched_stats st;

	cr_assert_not_null(s);
	tasklet_init(&f->tl[0], sched_thread_get(s, 0), fifo_cb, f);
	tasklet_init(&f->tl[1], sched_thread_get(s, 0), fifo_cb, f);
	tasklet_init(&f->tl[2], sched_thread_get(s, 0), fifo_cb, f);
	/* Before the thread runs: remote wake-ups pile up in the inbox. */
	tasklet_wakeup(&f->tl[2], SCHED_R_WAKE);
	tasklet_wakeup(&f->tl[2], SCHED_R_TIMER);
	tasklet_wakeup(&f->tl[2], SCHED_R_HUP);
	f->expect = 1;
	cr_assert_eq(sched_start(s), 0);
	cr_assert_eq(tu_wait_flag(&f->done, WAIT_MS), 0);
	cr_assert_eq(f->reasons[2], SCHED_R_WAKE | SCHED_R_TIMER | SCHED_R_HUP);
	cr_assert_eq(f->runs[2], 1);

	/* On the home thread: many wake-ups inside one callback. */
	__atomic_store_n(&f->done, 0, __ATOMIC_RELAXED);
	f->expect = 3;
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), wake_many_reasons, f, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&f->done, WAIT_MS), 0);
	tu_sleep_us(20000);
	sched_stop(s);
	cr_assert_eq(sched_join(s), 0);
	cr_assert_eq(f->runs[0], 1, "woken 201 times, ran %d times", f->runs[0]);
	cr_assert_eq(f->reasons[0], SCHED_R_WAKE | SCHED_R_MSG | SCHED_R_BUFFER);
	cr_assert_eq(f->runs[1], 1);
	cr_assert_eq(f->reasons[1], SCHED_R_READ);
	cr_assert_eq(f->order[1], 0, "tasklet 0 was woken first");
	cr_assert_eq(f->order[2], 1);
	sched_stats(s, -1u, &st);
	cr_assert_eq(st.tasklets_run, 4, "3 test tasklets and 1 helper call");
	cr_assert_geq(st.remote_wakeups, 2);
	cr_assert_eq(st.wakeups_by_reason[5], 1, "one run saw BUFFER");
	sched_destroy(s);
	free(f);
}

/* ---- file descriptors ---- */

struct fdt {
	struct tasklet tl;
	int            fd;
	unsigned       seen;     /* atomic: OR of all reasons */
	int            runs;     /* atomic */
	int            added;
	struct sched_thread *ran_on;
};

static void fd_cb(struct tasklet *t, unsigned reasons)
{
	struct fdt *f = t->ctx;
	char buf[64];

	f->ran_on = sched_self();
	if (reasons & SCHED_R_READ)
		while (read(f->fd, buf, sizeof(buf)) > 0)
			;
	__atomic_fetch_or(&f->seen, reasons, __ATOMIC_RELEASE);
	__atomic_fetch_add(&f->runs, 1, __ATOMIC_RELEASE);
}

static void fd_register(void *arg)
{
	struct fdt *f = arg;

	f->added = sched_fd_add(&f->tl, f->fd) == 0;
}

static void fd_unregister(void *arg)
{
	struct fdt *f = arg;

	f->added = !(sched_fd_del(f->tl.home, f->fd) == 0);
}

/* Waits until the OR of reasons seen has <mask>. Returns 0 or -1. */
static int fd_wait_reason(struct fdt *f, unsigned mask)
{
	uint64_t end = tu_now_ns() + (uint64_t)WAIT_MS * 1000000u;

	while ((__atomic_load_n(&f->seen, __ATOMIC_ACQUIRE) & mask) != mask) {
		if (tu_now_ns() > end)
			return -1;
		tu_sleep_us(200);
	}
	return 0;
}

Test(sched, fd_readiness_wakes_with_read_write_hup, .timeout = 20)
{
	struct sched *s = start_set(2);
	struct fdt *f = calloc(1, sizeof(*f));
	int sv[2];
	int runs;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->fd = sv[0];
	tasklet_init(&f->tl, sched_thread_get(s, 1), fd_cb, f);
	cr_assert_eq(tu_run_on(sched_thread_get(s, 1), fd_register, f, WAIT_MS), 0);
	cr_assert(f->added, "sched_fd_add failed");
	cr_assert_eq(fd_wait_reason(f, SCHED_R_WRITE), 0, "no WRITE on a fresh socket");
	cr_assert_eq(__atomic_load_n(&f->seen, __ATOMIC_ACQUIRE) & SCHED_R_READ, 0, "READ with nothing to read");
	cr_assert_eq(write(sv[1], "ping", 4), 4);
	cr_assert_eq(fd_wait_reason(f, SCHED_R_READ), 0, "no READ after a write");
	cr_assert_eq(f->ran_on, sched_thread_get(s, 1));
	runs = __atomic_load_n(&f->runs, __ATOMIC_ACQUIRE);
	close(sv[1]);
	cr_assert_eq(fd_wait_reason(f, SCHED_R_READ), 0);
	{
		uint64_t end = tu_now_ns() + (uint64_t)WAIT_MS * 1000000u;

		while (__atomic_load_n(&f->runs, __ATOMIC_ACQUIRE) == runs && tu_now_ns() < end)
			tu_sleep_us(200);
		cr_assert_gt(__atomic_load_n(&f->runs, __ATOMIC_ACQUIRE), runs, "no wake-up on peer close");
	}
	cr_assert_eq(tu_run_on(sched_thread_get(s, 1), fd_unregister, f, WAIT_MS), 0);
	cr_assert_eq(f->added, 0, "sched_fd_del failed");
	close(sv[0]);
	stop_set(s);
	free(f);
}

static void fd_register_in(void *arg)
{
	struct fdt *f = arg;

	f->added = sched_fd_add_in(&f->tl, f->fd) == 0;
}

static void fd_want_out(void *arg)
{
	struct fdt *f = arg;

	f->added = sched_fd_want_out(&f->tl, f->fd) == 0;
}

/* Registered for input only, a fresh (writable) socket wakes nobody; data
 * wakes with READ alone; asking for output then brings WRITE at once. */
Test(sched, fd_input_only_until_output_wanted, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct fdt *f = calloc(1, sizeof(*f));
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	f->fd = sv[0];
	tasklet_init(&f->tl, sched_thread_get(s, 0), fd_cb, f);
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_register_in, f, WAIT_MS), 0);
	cr_assert(f->added, "sched_fd_add_in failed");
	tu_sleep_us(100000);
	cr_assert_eq(__atomic_load_n(&f->runs, __ATOMIC_ACQUIRE), 0, "woken with nothing to read");
	cr_assert_eq(write(sv[1], "ping", 4), 4);
	cr_assert_eq(fd_wait_reason(f, SCHED_R_READ), 0, "no READ after a write");
	cr_assert_eq(__atomic_load_n(&f->seen, __ATOMIC_ACQUIRE) & SCHED_R_WRITE, 0,
		     "WRITE although output was not asked for");
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_want_out, f, WAIT_MS), 0);
	cr_assert(f->added, "sched_fd_want_out failed");
	cr_assert_eq(fd_wait_reason(f, SCHED_R_WRITE), 0, "no WRITE once output is wanted");
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_unregister, f, WAIT_MS), 0);
	close(sv[0]);
	close(sv[1]);
	stop_set(s);
	free(f);
}

Test(sched, fd_readiness_on_a_pipe, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct fdt *f = calloc(1, sizeof(*f));
	int p[2];

	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	f->fd = p[0];
	tasklet_init(&f->tl, sched_thread_get(s, 0), fd_cb, f);
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_register, f, WAIT_MS), 0);
	cr_assert(f->added);
	tu_sleep_us(20000);
	cr_assert_eq(__atomic_load_n(&f->runs, __ATOMIC_ACQUIRE), 0, "an empty pipe woke its reader");
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(fd_wait_reason(f, SCHED_R_READ), 0);
	close(p[1]);
	cr_assert_eq(fd_wait_reason(f, SCHED_R_HUP), 0, "no HUP when the writer closed");
	close(p[0]);
	stop_set(s);
	free(f);
}

/* sched_polls() and tasklet_pending(): what the engine relies on to spare
 * a peek on an idle server connection. Two sockets made readable by one
 * tasklet are reported by one poll; whichever of their tasklets runs first
 * must find the other's READ pending (or already handled), and the poll
 * count moved on. */
struct pollt {
	struct fdt *f[2];
	int         peer[2];
	uint64_t    polls_at_write;
	uint64_t    polls_at_run[2];
	unsigned    other_pending[2]; /* the other's pending reasons, or its seen */
};

static struct pollt *pollt_cur;

static void poll_order_cb(struct tasklet *t, unsigned reasons)
{
	struct pollt *p = pollt_cur;
	struct fdt *f = t->ctx;
	int me = f == p->f[1], other = !me;

	if (reasons & SCHED_R_READ) {
		p->polls_at_run[me] = sched_polls(sched_self());
		p->other_pending[me] = tasklet_pending(&p->f[other]->tl) |
				       __atomic_load_n(&p->f[other]->seen, __ATOMIC_ACQUIRE);
	}
	fd_cb(t, reasons);
}

static void poll_order_write(void *arg)
{
	struct pollt *p = arg;

	p->polls_at_write = sched_polls(sched_self());
	cr_assert_eq(write(p->peer[0], "a", 1), 1);
	cr_assert_eq(write(p->peer[1], "b", 1), 1);
}

Test(sched, one_poll_turns_every_event_into_a_pending_wakeup_first, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct pollt p = { 0 };

	pollt_cur = &p;
	for (int i = 0; i < 2; i++) {
		int sv[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
		p.f[i] = calloc(1, sizeof(*p.f[i]));
		p.f[i]->fd = sv[0];
		p.peer[i] = sv[1];
		tasklet_init(&p.f[i]->tl, sched_thread_get(s, 0), poll_order_cb, p.f[i]);
		cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_register, p.f[i], WAIT_MS), 0);
		cr_assert_eq(fd_wait_reason(p.f[i], SCHED_R_WRITE), 0);
	}
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), poll_order_write, &p, WAIT_MS), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(fd_wait_reason(p.f[i], SCHED_R_READ), 0);
	for (int i = 0; i < 2; i++) {
		cr_expect_gt(p.polls_at_run[i], p.polls_at_write, "the count moved with the poll");
		cr_expect(p.other_pending[i] & SCHED_R_READ,
			  "tasklet %d ran while the other's READ was neither pending nor seen", i);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(tu_run_on(sched_thread_get(s, 0), fd_unregister, p.f[i], WAIT_MS), 0);
		close(p.f[i]->fd);
		close(p.peer[i]);
	}
	stop_set(s);
	for (int i = 0; i < 2; i++)
		free(p.f[i]);
}

/* ---- kill ---- */

struct killt {
	struct tasklet *victim;
	struct tasklet *runner;
	int             victim_runs;  /* atomic */
	int             runner_runs;  /* atomic */
};

static void kill_victim_cb(struct tasklet *t, unsigned reasons)
{
	struct killt *k = t->ctx;

	__atomic_fetch_add(&k->victim_runs, 1, __ATOMIC_RELEASE);
}

static void kill_runner_cb(struct tasklet *t, unsigned reasons)
{
	struct killt *k = t->ctx;

	__atomic_fetch_add(&k->runner_runs, 1, __ATOMIC_RELEASE);
}

/* Queues the victim then kills it: it must be freed by the loop. */
static void kill_queued_local(void *arg)
{
	struct killt *k = arg;

	tasklet_wakeup(k->victim, SCHED_R_WAKE);
	tasklet_kill(k->victim, 1);
	tasklet_wakeup(k->runner, SCHED_R_WAKE);
}

Test(sched, kill_of_a_locally_queued_tasklet_frees_it_unrun, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct killt k = { 0 };

	k.victim = malloc(sizeof(*k.victim));
	k.runner = malloc(sizeof(*k.runner));
	tasklet_init(k.victim, sched_thread_get(s, 0), kill_victim_cb, &k);
	tasklet_init(k.runner, sched_thread_get(s, 0), kill_runner_cb, &k);
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), kill_queued_local, &k, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&k.runner_runs, WAIT_MS), 0);
	stop_set(s);
	cr_assert_eq(k.victim_runs, 0, "a killed tasklet ran");
	free(k.runner); /* the victim was freed by the loop (LeakSanitizer checks) */
}

static int kill_in_start_hook(struct sched_thread *thr, void *arg)
{
	struct killt *k = arg;

	tasklet_kill(k->victim, 1);
	tasklet_wakeup(k->runner, SCHED_R_WAKE);
	return 0;
}

Test(sched, kill_of_a_remotely_queued_task_frees_it_unrun, .timeout = 20)
{
	struct sched *s = sched_create(1);
	struct killt k = { 0 };
	struct task *victim = malloc(sizeof(*victim));
	struct sched_stats st;

	cr_assert_not_null(s);
	k.victim = &victim->tl;
	k.runner = malloc(sizeof(*k.runner));
	task_init(victim, sched_thread_get(s, 0), kill_victim_cb, &k);
	tasklet_init(k.runner, sched_thread_get(s, 0), kill_runner_cb, &k);
	tasklet_wakeup(k.victim, SCHED_R_MSG); /* sits in the inbox */
	sched_set_hooks(s, kill_in_start_hook, NULL, NULL, &k);
	cr_assert_eq(sched_start(s), 0);
	cr_assert_eq(tu_wait_flag(&k.runner_runs, WAIT_MS), 0);
	sched_stop(s);
	cr_assert_eq(sched_join(s), 0);
	sched_stats(s, 0, &st);
	cr_assert_eq(st.tasks_run, 0);
	cr_assert_eq(st.tasklets_run, 1);
	cr_assert_eq(st.remote_wakeups, 1);
	sched_destroy(s);
	cr_assert_eq(k.victim_runs, 0, "a killed task ran");
	free(k.runner);
}

static void kill_idle_and_wake(void *arg)
{
	struct killt *k = arg;

	tasklet_kill(k->victim, 0);        /* not queued, not freed */
	tasklet_wakeup(k->victim, SCHED_R_WAKE); /* ignored: it is dead */
	tasklet_wakeup(k->runner, SCHED_R_WAKE);
}

Test(sched, killed_tasklet_ignores_later_wakeups, .timeout = 20)
{
	struct sched *s = start_set(1);
	struct killt k = { 0 };
	struct tasklet victim, runner;

	k.victim = &victim;
	k.runner = &runner;
	tasklet_init(&victim, sched_thread_get(s, 0), kill_victim_cb, &k);
	tasklet_init(&runner, sched_thread_get(s, 0), kill_runner_cb, &k);
	cr_assert_eq(tu_run_on(sched_thread_get(s, 0), kill_idle_and_wake, &k, WAIT_MS), 0);
	cr_assert_eq(tu_wait_flag(&k.runner_runs, WAIT_MS), 0);
	tu_sleep_us(10000);
	stop_set(s);
	cr_assert_eq(k.victim_runs, 0);
}

/* ---- start, stop, join, hooks ---- */

struct hooks {
	int started;   /* atomic counts */
	int stopped;
	int idle;
	int fail_tid;  /* thread whose start hook fails, or -1 */
	struct sched_thread *self_ok[4];
};

static int hook_start(struct sched_thread *thr, void *arg)
{
	struct hooks *h = arg;

	if (sched_self() == thr)
		h->self_ok[sched_thread_id(thr)] = thr;
	__atomic_fetch_add(&h->started, 1, __ATOMIC_RELEASE);
	return (int)sched_thread_id(thr) == h->fail_tid ? 42 : 0;
}

static int hook_stop(struct sched_thread *thr, void *arg)
{
	struct hooks *h = arg;

	__atomic_fetch_add(&h->stopped, 1, __ATOMIC_RELEASE);
	return 0;
}

static void hook_idle(struct sched_thread *thr, void *arg)
{
	struct hooks *h = arg;

	__atomic_store_n(&h->idle, 1, __ATOMIC_RELEASE);
}

Test(sched, stop_and_join_terminate_and_run_hooks, .timeout = 20)
{
	struct sched *s = sched_create(3);
	struct hooks h = { .fail_tid = -1 };
	unsigned i;

	cr_assert_not_null(s);
	cr_assert_eq(sched_nbthread(s), 3);
	cr_assert_null(sched_self());
	sched_set_hooks(s, hook_start, hook_idle, hook_stop, &h);
	cr_assert_eq(sched_start(s), 0);
	cr_assert_eq(tu_wait_flag(&h.idle, WAIT_MS), 0, "idle hook never ran");
	tu_sleep_us(20000);
	sched_stop(s);
	cr_assert_eq(sched_join(s), 0);
	cr_assert_eq(h.started, 3);
	cr_assert_eq(h.stopped, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(h.self_ok[i], sched_thread_get(s, i));
		cr_assert_eq(sched_thread_id(sched_thread_get(s, i)), i);
		cr_assert_eq(sched_thread_set(sched_thread_get(s, i)), s);
	}
	cr_assert_null(sched_thread_get(s, 3));
	sched_destroy(s);
}

Test(sched, failing_start_hook_stops_the_set, .timeout = 20)
{
	struct sched *s = sched_create(2);
	struct hooks h = { .fail_tid = 1 };

	cr_assert_not_null(s);
	sched_set_hooks(s, hook_start, NULL, hook_stop, &h);
	cr_assert_eq(sched_start(s), 0);
	/* No sched_stop(): the failing hook stops the set by itself. */
	cr_assert_eq(sched_join(s), 42);
	cr_assert_eq(h.started, 2);
	cr_assert_eq(h.stopped, 1, "only the thread that started well runs on_stop");
	sched_destroy(s);
}

Test(sched, create_rejects_zero_threads)
{
	errno = 0;
	cr_assert_null(sched_create(0));
	cr_assert_eq(errno, EINVAL);
}

Test(sched, clock_advances_and_cached_clock_follows, .timeout = 20)
{
	struct sched *s = start_set(1);
	uint64_t a = sched_clock_ms(), b;

	tu_sleep_us(30000);
	b = sched_clock_ms();
	cr_assert_geq(b - a, 29);
	cr_assert_leq(sched_now_ms(sched_thread_get(s, 0)), b);
	stop_set(s);
}

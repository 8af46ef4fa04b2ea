/* sched.c - per-thread schedulers: run queue, inbox, timers, epoll.
 *
 * Each thread owns everything in its struct sched_thread except three
 * things other threads touch: the inbox (a liburcu wait-free queue that any
 * thread enqueues to and only the owner dequeues from), the <sleeping> flag
 * and the <kicks> counter. Wake-up reasons and the queued/killed state live
 * in the tasklet itself and are changed with atomic RMW operations, so a
 * tasklet is queued at most once whoever wakes it.
 *
 * Lost wake-ups are avoided with a Dekker pair: a sleeping thread first
 * publishes sleeping=1 (full barrier), then looks at its inbox one last
 * time; a remote waker first enqueues (full barrier inside the queue), then
 * looks at sleeping. At least one of them sees the other's write, so either
 * the sleeper finds the tasklet or the waker kicks the eventfd.
 *
 * liburcu is not built with TSan, so the ordering its queue provides is
 * invisible to TSan: each hand-off through the inbox is annotated with
 * __tsan_release (before enqueue) and __tsan_acquire (after dequeue).
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <urcu/compiler.h>
#include <urcu/wfcqueue.h>
#ifdef SLUICE_TSAN
#include <sanitizer/tsan_interface.h>
#endif
#include "sched/sched.h"
#include "sched/timers.h"

/* Bits of tasklet->state. */
enum {
	TL_QUEUED  = 1u << 0, /* in the run queue or the inbox */
	TL_KILLED  = 1u << 1, /* must never run again */
	TL_FREE    = 1u << 2, /* killed while queued: free() it when dequeued */
	TL_IS_TASK = 1u << 3, /* embedded in a struct task */
};

#define SCHED_RUN_BUDGET   256  /* tasklets run per loop turn before polling */
#define SCHED_MAX_EVENTS   64   /* epoll events taken per call */
#define SCHED_TIMERS_CAP   256  /* initial timer heap size per thread */
/* Two lines, not one: the adjacent-line prefetcher moves 64-byte lines in
 * pairs, so a line one thread writes (its counters, run queue) next to a
 * line another thread writes (a neighbour's inbox tail) would still bounce
 * between their cores. Same choice as the pool's POOL_LINE. */
#define SCHED_CACHELINE    128

struct sched_thread {
	/* Owner-only part. */
	struct tasklet      *runq_head;     /* FIFO through tasklet->run_next */
	struct tasklet      *runq_tail;
	struct sched_timers  timers;
	uint64_t             now_ms;        /* atomic: written by the owner, read by anyone */
	int                  epfd;
	int                  inbox_busy;    /* a node was caught mid-enqueue: poll, do not sleep */
	unsigned             id;
	int                  start_ret;     /* what on_start returned */
	int                  loop_errno;    /* non-zero when the loop died on a syscall */
	struct sched        *set;
	pthread_t            pthread;
	struct sched_stats   stats;         /* relaxed load+store by the owner only */

	/* Written by the owner (dequeue) and by the first enqueuer of an empty queue. */
	_Alignas(SCHED_CACHELINE) struct __cds_wfcq_head inbox_head;

	/* Written by every remote waker. */
	_Alignas(SCHED_CACHELINE) struct cds_wfcq_tail inbox_tail;
	int                  sleeping;      /* atomic: owner is (about to be) in epoll_wait */
	int                  evfd;          /* eventfd kicked to wake the owner */
	uint64_t             kicks;         /* atomic RMW: remote threads add to it */
};

/* Each thread's part starts a 128-byte pair of its own, so neighbours in
 * the thr[] array never share one. */
_Static_assert(_Alignof(struct sched_thread) == SCHED_CACHELINE &&
	       sizeof(struct sched_thread) % SCHED_CACHELINE == 0,
	       "struct sched_thread must fill whole 128-byte line pairs");

struct sched {
	struct sched_thread *thr;           /* nbthread entries, cache-line aligned */
	unsigned             nbthread;
	int                  stop;          /* atomic */
	int                  started;
	sched_thread_hook    on_start;
	sched_idle_hook      on_idle;
	sched_thread_hook    on_stop;
	void                *hook_arg;
};

static _Thread_local struct sched_thread *sched_cur;

/* Adds <n> to a counter that only its thread writes: a relaxed load and
 * store (no RMW) keeps readers on other threads race-free and cheap. */
static inline void stat_add(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Returns the monotonic clock in milliseconds. */
uint64_t sched_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t sched_polls(const struct sched_thread *thr)
{
	return __atomic_load_n(&thr->stats.polls, __ATOMIC_RELAXED);
}

/* Returns the owner's cached clock. */
uint64_t sched_now_ms(const struct sched_thread *thr)
{
	return __atomic_load_n(&thr->now_ms, __ATOMIC_RELAXED);
}

/* Refreshes the cached clock of <thr> and returns it. */
static uint64_t sched_update_now(struct sched_thread *thr)
{
	uint64_t now = sched_clock_ms();

	__atomic_store_n(&thr->now_ms, now, __ATOMIC_RELAXED);
	return now;
}

/* Returns the scheduler thread of the caller, or NULL. */
struct sched_thread *sched_self(void)
{
	return sched_cur;
}

/* Returns the number of threads of <s>. */
unsigned sched_nbthread(const struct sched *s)
{
	return s->nbthread;
}

/* Returns thread <tid> of <s>, or NULL if out of range. */
struct sched_thread *sched_thread_get(struct sched *s, unsigned tid)
{
	return tid < s->nbthread ? &s->thr[tid] : NULL;
}

/* Returns the index of <thr> in its set. */
unsigned sched_thread_id(const struct sched_thread *thr)
{
	return thr->id;
}

/* Returns the set <thr> belongs to. */
struct sched *sched_thread_set(struct sched_thread *thr)
{
	return thr->set;
}

/* ---- run queue (owner only) ---- */

/* Appends <t> to the run queue of <thr>. */
static inline void runq_append(struct sched_thread *thr, struct tasklet *t)
{
	t->run_next = NULL;
	if (thr->runq_tail)
		thr->runq_tail->run_next = t;
	else
		thr->runq_head = t;
	thr->runq_tail = t;
}

/* Removes and returns the first tasklet of the run queue, or NULL. */
static inline struct tasklet *runq_pop(struct sched_thread *thr)
{
	struct tasklet *t = thr->runq_head;

	if (t) {
		thr->runq_head = t->run_next;
		if (!thr->runq_head)
			thr->runq_tail = NULL;
	}
	return t;
}

/* ---- wake-ups ---- */

/* Writes the eventfd of <thr> so that its epoll_wait returns. */
static void sched_kick(struct sched_thread *thr)
{
	uint64_t one = 1;

	__atomic_fetch_add(&thr->kicks, 1, __ATOMIC_RELAXED);
	/* EAGAIN means the counter is saturated: a kick is pending anyway. */
	while (write(thr->evfd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Posts <t> to the inbox of its home <home> and kicks <home> if it sleeps.
 * <t> may run, and be freed, as soon as the enqueue is done. */
static void sched_post_remote(struct sched_thread *home, struct tasklet *t)
{
	cds_wfcq_node_init(&t->inbox_node);
#ifdef SLUICE_TSAN
	__tsan_release(t);
#endif
	/* The enqueue is a full barrier (uatomic_xchg): the load of
	 * <sleeping> below cannot move before it (Dekker, see top). */
	cds_wfcq_enqueue(&home->inbox_head, &home->inbox_tail, &t->inbox_node);
	/* Only the waker that turns sleeping from 1 to 0 kicks, so a burst of
	 * remote wake-ups costs one write(). */
	if (__atomic_load_n(&home->sleeping, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&home->sleeping, 0, __ATOMIC_SEQ_CST))
		sched_kick(home);
}

/* Wakes <t> (see sched.h). A zero mask counts as SCHED_R_WAKE so that the
 * callback never sees an empty mask. */
void tasklet_wakeup(struct tasklet *t, unsigned reasons)
{
	struct sched_thread *home = t->home;
	unsigned prev;

	if (!reasons)
		reasons = SCHED_R_WAKE;
	/* Reasons first: whoever later clears QUEUED and collects the mask
	 * (acquire on the state) is then sure to see them. */
	__atomic_fetch_or(&t->reasons, reasons, __ATOMIC_RELEASE);
	prev = __atomic_fetch_or(&t->state, TL_QUEUED, __ATOMIC_ACQ_REL);
	if (prev & (TL_QUEUED | TL_KILLED))
		return;
	if (sched_cur == home)
		runq_append(home, t);
	else
		sched_post_remote(home, t);
}

/* Sets up <t> on <home>. */
void tasklet_init(struct tasklet *t, struct sched_thread *home, tasklet_fn fn, void *ctx)
{
	memset(t, 0, sizeof(*t));
	cds_wfcq_node_init(&t->inbox_node);
	t->fn = fn;
	t->ctx = ctx;
	t->home = home;
}

/* Kills <t> (see sched.h). A queued tasklet stays in its queue, flagged,
 * and the loop drops (and frees if asked) it when it comes out; so with
 * <free_it> == 0 its memory must stay valid until then. */
void tasklet_kill(struct tasklet *t, int free_it)
{
	unsigned prev;

	prev = __atomic_fetch_or(&t->state, TL_KILLED | (free_it ? TL_FREE : 0), __ATOMIC_ACQ_REL);
	if (!(prev & TL_QUEUED) && free_it)
		free(t);
}

/* Sets up <t> on <home> as a task with no timer. */
void task_init(struct task *t, struct sched_thread *home, tasklet_fn fn, void *ctx)
{
	tasklet_init(&t->tl, home, fn, ctx);
	t->tl.state = TL_IS_TASK;
	t->expire_ms = 0;
	t->heap_idx = 0;
}

/* Sets or clears the expiry of <t> (see sched.h). Running out of memory
 * while growing the timer heap is fatal: a task that silently never times
 * out would be worse. */
void task_schedule(struct task *t, uint64_t expire_ms)
{
	struct sched_thread *home = t->tl.home;

	if (!expire_ms) {
		timers_remove(&home->timers, t);
		t->expire_ms = 0;
		return;
	}
	t->expire_ms = expire_ms;
	if (timers_set(&home->timers, t) < 0) {
		fprintf(stderr, "sluice: sched: cannot grow the timer heap: %s\n", strerror(errno));
		abort();
	}
}

/* Clears the timer of <t> and kills it. */
void task_kill(struct task *t, int free_it)
{
	timers_remove(&t->tl.home->timers, t);
	t->expire_ms = 0;
	tasklet_kill(&t->tl, free_it);
}

/* ---- file descriptors ---- */

/* Registers (<op> EPOLL_CTL_ADD) or re-registers (EPOLL_CTL_MOD) <fd> for
 * <t>, edge-triggered, for input and hang-ups, and for output when <out>.
 * Returns 0 or -1 with errno set. */
static int sched_fd_ctl(struct tasklet *t, int fd, int op, int out)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (out ? EPOLLOUT : 0),
		.data.ptr = t,
	};

	return epoll_ctl(t->home->epfd, op, fd, &ev);
}

int sched_fd_add(struct tasklet *t, int fd)
{
	return sched_fd_ctl(t, fd, EPOLL_CTL_ADD, 1);
}

int sched_fd_add_in(struct tasklet *t, int fd)
{
	return sched_fd_ctl(t, fd, EPOLL_CTL_ADD, 0);
}

int sched_fd_want_out(struct tasklet *t, int fd)
{
	return sched_fd_ctl(t, fd, EPOLL_CTL_MOD, 1);
}

/* Unregisters <fd> from <thr>. Returns 0 or -1 with errno set. */
int sched_fd_del(struct sched_thread *thr, int fd)
{
	struct epoll_event ev = { 0 };

	return epoll_ctl(thr->epfd, EPOLL_CTL_DEL, fd, &ev);
}

/* Returns the wake-up reasons matching epoll event mask <events>. */
static unsigned sched_io_reasons(uint32_t events)
{
	unsigned reasons = 0;

	if (events & (EPOLLIN | EPOLLRDHUP))
		reasons |= SCHED_R_READ;
	/* told apart so that a reader who drains the data with a short read
	 * still knows an EOF follows: edge-triggered, it will not be said twice */
	if (events & EPOLLRDHUP)
		reasons |= SCHED_R_RDHUP;
	if (events & EPOLLOUT)
		reasons |= SCHED_R_WRITE;
	if (events & (EPOLLERR | EPOLLHUP))
		reasons |= SCHED_R_HUP | SCHED_R_READ | SCHED_R_WRITE;
	return reasons;
}

/* ---- the loop ---- */

/* Wakes every task whose expiry is not after the cached clock. */
static void sched_fire_timers(struct sched_thread *thr, uint64_t now)
{
	struct task *t;
	uint64_t fired = 0;

	while ((t = timers_first(&thr->timers)) && t->expire_ms <= now) {
		timers_remove(&thr->timers, t);
		t->expire_ms = 0;
		tasklet_wakeup(&t->tl, SCHED_R_TIMER);
		fired++;
	}
	if (fired)
		stat_add(&thr->stats.timers_fired, fired);
}

/* Moves what other threads posted into the run queue. Stops at a node that
 * is still being enqueued (its successor link is not written yet) rather
 * than wait for it, and notes that the next poll must not sleep. */
static void sched_drain_inbox(struct sched_thread *thr)
{
	struct cds_wfcq_node *node;
	uint64_t n = 0;

	thr->inbox_busy = 0;
	for (;;) {
		struct tasklet *t;

		node = __cds_wfcq_dequeue_nonblocking(&thr->inbox_head, &thr->inbox_tail);
		if (!node)
			break;
		if (node == CDS_WFCQ_WOULDBLOCK) {
			thr->inbox_busy = 1;
			break;
		}
		t = caa_container_of(node, struct tasklet, inbox_node);
#ifdef SLUICE_TSAN
		__tsan_acquire(t);
#endif
		runq_append(thr, t);
		n++;
	}
	if (n)
		stat_add(&thr->stats.remote_wakeups, n);
}

/* Counts one run of <t> with <reasons> in the stats of <thr>. */
static void sched_count_run(struct sched_thread *thr, unsigned state, unsigned reasons)
{
	unsigned bit;

	stat_add(state & TL_IS_TASK ? &thr->stats.tasks_run : &thr->stats.tasklets_run, 1);
	for (bit = 0; bit < SCHED_R_COUNT; bit++)
		if (reasons & (1u << bit))
			stat_add(&thr->stats.wakeups_by_reason[bit], 1);
}

/* Runs up to SCHED_RUN_BUDGET queued tasklets, in order. */
static void sched_run_queue(struct sched_thread *thr)
{
	unsigned budget;

	for (budget = SCHED_RUN_BUDGET; budget; budget--) {
		struct tasklet *t = runq_pop(thr);
		unsigned state, reasons;

		if (!t)
			break;
		/* QUEUED is cleared before the mask is collected: a wake-up
		 * arriving in between queues it again, and that later run
		 * finds an empty mask and is skipped. The reverse order would
		 * lose that wake-up. */
		state = __atomic_fetch_and(&t->state, ~TL_QUEUED, __ATOMIC_ACQ_REL);
		if (state & TL_KILLED) {
			if (state & TL_FREE)
				free(t);
			continue;
		}
		reasons = __atomic_exchange_n(&t->reasons, 0, __ATOMIC_ACQ_REL);
		if (!reasons)
			continue;
		sched_count_run(thr, state, reasons);
		t->fn(t, reasons);
	}
}

/* Publishes that <thr> is going to sleep and returns how long it may:
 * 0 when work is already waiting, -1 for no timer, else the milliseconds
 * to the next expiry. */
static int sched_sleep_timeout(struct sched_thread *thr)
{
	struct task *first;
	uint64_t now;

	/* A seq_cst RMW is a full barrier: the inbox check below cannot be
	 * done before the flag is visible (Dekker, see top). */
	__atomic_exchange_n(&thr->sleeping, 1, __ATOMIC_SEQ_CST);
	if (thr->runq_head || thr->inbox_busy ||
	    !cds_wfcq_empty(&thr->inbox_head, &thr->inbox_tail) ||
	    __atomic_load_n(&thr->set->stop, __ATOMIC_ACQUIRE))
		return 0;
	first = timers_first(&thr->timers);
	if (!first)
		return -1;
	now = sched_clock_ms();
	if (first->expire_ms <= now)
		return 0;
	if (first->expire_ms - now > INT_MAX)
		return INT_MAX;
	return (int)(first->expire_ms - now);
}

/* Consumes pending kicks of the eventfd of <thr>. */
static void sched_ack_kicks(struct sched_thread *thr)
{
	uint64_t count;

	/* Non-blocking: EAGAIN when another read got there first. */
	while (read(thr->evfd, &count, sizeof(count)) < 0 && errno == EINTR)
		;
}

/* Polls the fds of <thr>, sleeping when <may_sleep> and nothing is pending,
 * and turns every event into a wake-up before anything runs, so a tasklet
 * killed by another in the same batch is seen killed, never run. Returns 0,
 * or -1 with errno set when epoll_wait fails for another reason than a
 * signal. */
static int sched_poll(struct sched_thread *thr, int may_sleep)
{
	struct epoll_event ev[SCHED_MAX_EVENTS];
	int timeout = 0, n, i;

	if (may_sleep)
		timeout = sched_sleep_timeout(thr);
	n = epoll_wait(thr->epfd, ev, SCHED_MAX_EVENTS, timeout);
	if (may_sleep)
		__atomic_store_n(&thr->sleeping, 0, __ATOMIC_RELAXED);
	/* a call that fetched nothing (EINTR) is not a look: sched_polls()
	 * moving tells callers that every event up to now became a wake-up */
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	stat_add(&thr->stats.polls, 1);
	stat_add(&thr->stats.io_events, (uint64_t)n);
	for (i = 0; i < n; i++) {
		if (ev[i].data.ptr == &thr->evfd) {
			sched_ack_kicks(thr);
			continue;
		}
		tasklet_wakeup(ev[i].data.ptr, sched_io_reasons(ev[i].events));
	}
	return 0;
}

int sched_poll_now(struct sched_thread *thr)
{
	return sched_poll(thr, 0);
}

/* Runs the loop of <thr> until the set is stopped or epoll fails. */
static void sched_loop(struct sched_thread *thr)
{
	struct sched *s = thr->set;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		int may_sleep;

		stat_add(&thr->stats.loops, 1);
		sched_fire_timers(thr, sched_update_now(thr));
		sched_drain_inbox(thr);
		sched_run_queue(thr);
		may_sleep = !thr->runq_head;
		if (may_sleep && s->on_idle)
			s->on_idle(thr, s->hook_arg);
		if (sched_poll(thr, may_sleep) < 0) {
			thr->loop_errno = errno;
			fprintf(stderr, "sluice: sched: thread %u: epoll_wait: %s\n",
				thr->id, strerror(errno));
			sched_stop(s);
			break;
		}
	}
}

/* After the loop and the stop hook: tasklets killed while queued would
 * otherwise never be freed, since only the loop frees them. Live ones are
 * simply dropped: their owners are gone with the loop. */
static void sched_release_queued(struct sched_thread *thr)
{
	struct tasklet *t;

	sched_drain_inbox(thr);
	while ((t = runq_pop(thr))) {
		unsigned state = __atomic_fetch_and(&t->state, ~TL_QUEUED, __ATOMIC_ACQ_REL);

		if ((state & TL_KILLED) && (state & TL_FREE))
			free(t);
	}
}

/* Body of every scheduler thread. */
static void *sched_thread_main(void *arg)
{
	struct sched_thread *thr = arg;
	struct sched *s = thr->set;
	char name[16];

	sched_cur = thr;
	snprintf(name, sizeof(name), "sluice/%u", thr->id);
	pthread_setname_np(pthread_self(), name);
	sched_update_now(thr);
	if (s->on_start) {
		thr->start_ret = s->on_start(thr, s->hook_arg);
		if (thr->start_ret) {
			/* Its own start failed: it cleaned up after itself, so
			 * no on_stop; the others stop at their next turn. */
			sched_stop(s);
			sched_cur = NULL;
			return NULL;
		}
	}
	sched_loop(thr);
	if (s->on_stop)
		s->on_stop(thr, s->hook_arg);
	sched_release_queued(thr);
	sched_cur = NULL;
	return NULL;
}

/* ---- the set ---- */

/* Sets up thread slot <thr>. Returns 0 or -1 with errno set. */
static int sched_thread_setup(struct sched_thread *thr, struct sched *s, unsigned id)
{
	struct epoll_event ev = { .events = EPOLLIN };

	memset(thr, 0, sizeof(*thr));
	thr->id = id;
	thr->set = s;
	thr->epfd = thr->evfd = -1;
	thr->now_ms = sched_clock_ms();
	__cds_wfcq_init(&thr->inbox_head, &thr->inbox_tail);
	if (timers_init(&thr->timers, SCHED_TIMERS_CAP) < 0)
		return -1;
	thr->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (thr->epfd < 0)
		return -1;
	thr->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (thr->evfd < 0)
		return -1;
	/* The eventfd is recognised by its data pointer, which no tasklet
	 * can have. */
	ev.data.ptr = &thr->evfd;
	return epoll_ctl(thr->epfd, EPOLL_CTL_ADD, thr->evfd, &ev);
}

/* Releases what sched_thread_setup() acquired. */
static void sched_thread_cleanup(struct sched_thread *thr)
{
	if (thr->evfd >= 0)
		close(thr->evfd);
	if (thr->epfd >= 0)
		close(thr->epfd);
	timers_free(&thr->timers);
}

/* Creates a set of <nbthread> threads, not started. Returns NULL with errno
 * set on failure. */
struct sched *sched_create(unsigned nbthread)
{
	struct sched *s;
	unsigned i;
	int err;

	if (!nbthread) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->thr = aligned_alloc(SCHED_CACHELINE, (size_t)nbthread * sizeof(*s->thr));
	if (!s->thr) {
		free(s);
		return NULL;
	}
	for (i = 0; i < nbthread; i++) {
		if (sched_thread_setup(&s->thr[i], s, i) < 0) {
			err = errno;
			s->nbthread = i + 1;
			sched_destroy(s);
			errno = err;
			return NULL;
		}
	}
	s->nbthread = nbthread;
	return s;
}

/* Stores the hooks of <s>. */
void sched_set_hooks(struct sched *s, sched_thread_hook on_start,
		     sched_idle_hook on_idle, sched_thread_hook on_stop, void *arg)
{
	s->on_start = on_start;
	s->on_idle = on_idle;
	s->on_stop = on_stop;
	s->hook_arg = arg;
}

/* Starts the threads. Returns 0, or -1 with errno set after stopping and
 * joining those already started. Worker threads start with asynchronous
 * signals blocked: signals are the main thread's business. */
int sched_start(struct sched *s)
{
	sigset_t all, old;
	unsigned i;
	int err = 0;

	if (s->started) {
		errno = EALREADY;
		return -1;
	}
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < s->nbthread; i++) {
		err = pthread_create(&s->thr[i].pthread, NULL, sched_thread_main, &s->thr[i]);
		if (err)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	s->started = i;
	if (!err)
		return 0;
	sched_stop(s);
	sched_join(s);
	errno = err;
	return -1;
}

/* Asks every loop to end and kicks every thread. */
void sched_stop(struct sched *s)
{
	unsigned i;

	__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < s->nbthread; i++)
		sched_kick(&s->thr[i]);
}

/* Joins the started threads. Returns 0, the first non-zero start hook
 * value, or -1 with errno set when a loop died on a failed epoll_wait. */
int sched_join(struct sched *s)
{
	unsigned i, started = (unsigned)s->started;
	int ret = 0, loop_err = 0;

	for (i = 0; i < started; i++)
		pthread_join(s->thr[i].pthread, NULL);
	s->started = 0;
	for (i = 0; i < started; i++) {
		if (!ret && s->thr[i].start_ret)
			ret = s->thr[i].start_ret;
		if (!loop_err && s->thr[i].loop_errno)
			loop_err = s->thr[i].loop_errno;
	}
	if (!ret && loop_err) {
		errno = loop_err;
		ret = -1;
	}
	return ret;
}

/* Frees <s>, which must be stopped and joined. Queued tasklets belong to
 * their owners and are not touched. */
void sched_destroy(struct sched *s)
{
	unsigned i;

	if (!s)
		return;
	for (i = 0; i < s->nbthread; i++)
		sched_thread_cleanup(&s->thr[i]);
	free(s->thr);
	free(s);
}

/* Sums the counters of one thread of <s> into <out>. */
static void sched_stats_add(const struct sched_thread *thr, struct sched_stats *out)
{
	const struct sched_stats *st = &thr->stats;
	unsigned i;

	out->loops          += __atomic_load_n(&st->loops, __ATOMIC_RELAXED);
	out->tasklets_run   += __atomic_load_n(&st->tasklets_run, __ATOMIC_RELAXED);
	out->tasks_run      += __atomic_load_n(&st->tasks_run, __ATOMIC_RELAXED);
	for (i = 0; i < SCHED_R_COUNT; i++)
		out->wakeups_by_reason[i] += __atomic_load_n(&st->wakeups_by_reason[i], __ATOMIC_RELAXED);
	out->remote_wakeups += __atomic_load_n(&st->remote_wakeups, __ATOMIC_RELAXED);
	out->kicks          += __atomic_load_n(&thr->kicks, __ATOMIC_RELAXED);
	out->timers_fired   += __atomic_load_n(&st->timers_fired, __ATOMIC_RELAXED);
	out->polls          += __atomic_load_n(&st->polls, __ATOMIC_RELAXED);
	out->io_events      += __atomic_load_n(&st->io_events, __ATOMIC_RELAXED);
}

/* Copies thread <tid>'s counters, or the sum over threads with -1u; an
 * unknown <tid> gives zeros. */
void sched_stats(const struct sched *s, unsigned tid, struct sched_stats *out)
{
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (tid == -1u) {
		for (i = 0; i < s->nbthread; i++)
			sched_stats_add(&s->thr[i], out);
	} else if (tid < s->nbthread) {
		sched_stats_add(&s->thr[tid], out);
	}
}

/* sched.h - one scheduler per worker thread: run queue, timers, poller.
 *
 * Contract
 * --------
 * A scheduler set (struct sched) owns <nbthread> threads. Each thread runs a
 * loop: fire due timers, take what other threads posted to its inbox, run
 * queued tasklets in order, run idle hooks, then sleep in epoll_wait until
 * the next timer, an I/O event or a kick from another thread.
 *
 * A tasklet is a callback bound to one thread (its home). Waking it from
 * its home thread appends it to the local run queue; waking it from any
 * other thread goes through the home thread's lock-free inbox (liburcu's
 * wait-free concurrent queue) and an eventfd kick if that thread sleeps.
 * Its callback always runs on its home thread. A tasklet is queued at most
 * once however many times it is woken; wake-up reasons accumulate in a mask
 * that the callback receives and that is cleared before it runs.
 *
 * A task is a tasklet with a timer: task_schedule() sets its expiry, and
 * when it passes the task is woken with SCHED_R_TIMER.
 *
 * File descriptors are registered edge-triggered with a tasklet: readiness
 * wakes the tasklet with SCHED_R_READ / SCHED_R_WRITE / SCHED_R_HUP.
 *
 * Lifetime: a tasklet is killed only by code on its home thread. The caller
 * must make sure no other thread can still wake it (the pool's wait queue
 * guarantees this once its entry is cancelled). A killed tasklet that is
 * still queued is freed by the loop when it comes out of the queue, never
 * run.
 */
#ifndef SLUICE_SCHED_SCHED_H
#define SLUICE_SCHED_SCHED_H

#include <stdint.h>
#include <urcu/wfcqueue.h>

/* Wake-up reasons, accumulated in a mask. */
enum {
	SCHED_R_WAKE   = 1u << 0, /* explicit wake-up */
	SCHED_R_TIMER  = 1u << 1, /* the task's expiry passed */
	SCHED_R_READ   = 1u << 2, /* fd readable */
	SCHED_R_WRITE  = 1u << 3, /* fd writable */
	SCHED_R_HUP    = 1u << 4, /* fd hung up or in error */
	SCHED_R_BUFFER = 1u << 5, /* a wait entry was handed a buffer */
	SCHED_R_MSG    = 1u << 6, /* another component posted something */
	SCHED_R_STOP   = 1u << 7, /* the engine is stopping */
	SCHED_R_RDHUP  = 1u << 8, /* the peer shut its sending side (comes with READ) */
	SCHED_R_COUNT  = 9
};

struct sched;
struct sched_thread;
struct tasklet;

/* A tasklet's callback: <reasons> is the mask accumulated since it last ran. */
typedef void (*tasklet_fn)(struct tasklet *t, unsigned reasons);

struct tasklet {
	struct cds_wfcq_node inbox_node; /* link in the home inbox */
	struct tasklet      *run_next;   /* link in the home run queue */
	tasklet_fn           fn;
	void                *ctx;        /* owner's context */
	struct sched_thread *home;
	unsigned             state;      /* atomic: queued / killed / task flags */
	unsigned             reasons;    /* atomic: pending reason mask */
};

struct task {
	struct tasklet tl;
	uint64_t       expire_ms;  /* 0 = no timer */
	uint32_t       heap_idx;   /* position in the home timer heap + 1, 0 = none */
};

/* Per-thread counters, written by their thread only. */
struct sched_stats {
	uint64_t loops;            /* loop iterations */
	uint64_t tasklets_run;     /* tasklet callbacks run (tasks excluded) */
	uint64_t tasks_run;        /* task callbacks run */
	uint64_t wakeups_by_reason[SCHED_R_COUNT];
	uint64_t remote_wakeups;   /* wake-ups posted from another thread */
	uint64_t kicks;            /* eventfd kicks sent to this thread */
	uint64_t timers_fired;
	uint64_t polls;            /* epoll_wait returns (interrupted calls excluded) */
	uint64_t io_events;        /* events returned by epoll_wait */
};

/* Called once per thread when it starts (before its loop) and when it
 * stops (after its loop), on that thread. Return non-zero from start to
 * abort the whole set. */
typedef int  (*sched_thread_hook)(struct sched_thread *thr, void *arg);
/* Called on each thread when its run queue is empty, before it sleeps. */
typedef void (*sched_idle_hook)(struct sched_thread *thr, void *arg);

/* Creates a scheduler set of <nbthread> threads (not started). Returns NULL
 * with errno set on failure. */
struct sched *sched_create(unsigned nbthread);

/* Sets hooks; call before sched_start(). Any may be NULL. */
void sched_set_hooks(struct sched *s, sched_thread_hook on_start,
		     sched_idle_hook on_idle, sched_thread_hook on_stop, void *arg);

/* Starts the threads. Returns 0, or -1 with errno set (no thread left
 * running). */
int sched_start(struct sched *s);

/* Asks every loop to end after its current iteration; any thread may call
 * it, and signal handlers must not. Returns at once. */
void sched_stop(struct sched *s);

/* Waits for every thread to end. Returns 0, or the first non-zero value a
 * start hook returned. */
int sched_join(struct sched *s);

/* Frees a stopped, joined scheduler set. */
void sched_destroy(struct sched *s);

/* Returns the number of threads, and thread number <tid>. */
unsigned sched_nbthread(const struct sched *s);
struct sched_thread *sched_thread_get(struct sched *s, unsigned tid);

/* Returns the index of <thr>, and the set it belongs to. */
unsigned sched_thread_id(const struct sched_thread *thr);
struct sched *sched_thread_set(struct sched_thread *thr);

/* Returns the scheduler thread the caller runs on, or NULL outside them. */
struct sched_thread *sched_self(void);

/* Returns the home thread's monotonic clock in ms, as of its last loop
 * turn (cheap); sched_clock_ms() reads the real clock. */
uint64_t sched_now_ms(const struct sched_thread *thr);
uint64_t sched_clock_ms(void);

/* Returns how many times <thr> has returned from epoll_wait. Home thread
 * only. Every event an epoll_wait returns has become a wake-up of its
 * tasklet before the count moves on, so a caller that saw the count move
 * since it last looked at an fd, and finds no read or hang-up reason
 * pending on that fd's tasklet (tasklet_pending()), knows that the fd
 * reported nothing new up to the last return. */
uint64_t sched_polls(const struct sched_thread *thr);

/* Polls <thr>'s fds now, without sleeping, from a callback running on
 * <thr>: every event found becomes a wake-up queued behind the running
 * callback, and sched_polls() moves on, exactly as at the end of a loop
 * turn. One system call tells of every fd of the thread, where asking
 * sockets one by one costs a call each. Returns 0, or -1 with errno set;
 * an interrupted call returns 0 too. In both cases nothing was queued and
 * sched_polls() did not move. */
int sched_poll_now(struct sched_thread *thr);

/* Returns the reasons of the wake-ups of <t> not yet handed to its
 * callback (0 if none). Home thread only: others may add reasons at any
 * time. */
static inline unsigned tasklet_pending(const struct tasklet *t)
{
	return __atomic_load_n(&t->reasons, __ATOMIC_RELAXED);
}

/* Sets up <t> on home thread <home>. */
void tasklet_init(struct tasklet *t, struct sched_thread *home, tasklet_fn fn, void *ctx);

/* Wakes <t> with <reasons>, from any thread. */
void tasklet_wakeup(struct tasklet *t, unsigned reasons);

/* Kills <t> (home thread only): it will not run again; if it is queued it
 * is freed later with free(<t>) when <free_it>, else simply dropped. When
 * not queued and <free_it>, it is freed at once. */
void tasklet_kill(struct tasklet *t, int free_it);

/* Sets up <t> on <home>: a tasklet that can also time out. */
void task_init(struct task *t, struct sched_thread *home, tasklet_fn fn, void *ctx);

/* Sets (or clears, with 0) the absolute expiry of <t>, in sched_now_ms()
 * units. Home thread only. A timer fires once: when it does, expire_ms is
 * reset to 0 before the task is woken. */
void task_schedule(struct task *t, uint64_t expire_ms);

/* Wakes <t> with <reasons>, from any thread. */
static inline void task_wakeup(struct task *t, unsigned reasons) { tasklet_wakeup(&t->tl, reasons); }

/* Clears the timer and kills the task, as tasklet_kill(). Home thread only. */
void task_kill(struct task *t, int free_it);

/* Registers <fd> with the home poller of <t>, edge-triggered for input and
 * output. Returns 0 or -1 with errno set. Home thread only. */
int sched_fd_add(struct tasklet *t, int fd);

/* Registers <fd> like sched_fd_add(), for input and hang-ups only: an
 * edge-triggered poller reports a fresh socket's write readiness at once,
 * a wake-up for nothing to a tasklet that only waits to read (a TLS
 * handshake that sent its flight). sched_fd_want_out() adds output when
 * it is needed after all. Returns 0 or -1 with errno set. Home thread
 * only. */
int sched_fd_add_in(struct tasklet *t, int fd);

/* Makes <fd>, registered for <t> by sched_fd_add_in(), report output
 * readiness too, as sched_fd_add() would have: at once if it is writable
 * now. Returns 0 or -1 with errno set. Home thread only. */
int sched_fd_want_out(struct tasklet *t, int fd);

/* Unregisters <fd> from <thr>'s poller. Returns 0 or -1 with errno set. */
int sched_fd_del(struct sched_thread *thr, int fd);

/* Copies thread <tid>'s counters, or their sum with tid == -1u. */
void sched_stats(const struct sched *s, unsigned tid, struct sched_stats *out);

#endif /* SLUICE_SCHED_SCHED_H */

/* timers.h - the timer heap of one scheduler thread (internal to sched/).
 *
 * A binary min-heap of tasks ordered by expire_ms, stored as an array. Each
 * task keeps its own position (heap_idx, offset by one so that 0 means "not
 * in a heap"), which makes removal and re-keying O(log n) without a search.
 * Only the owning thread touches a heap, so there is no locking here.
 */
#ifndef SLUICE_SCHED_TIMERS_H
#define SLUICE_SCHED_TIMERS_H

#include <stdint.h>
#include "sched/sched.h"

struct sched_timers {
	struct task **heap;
	uint32_t      len;
	uint32_t      cap;
};

/* Sets up an empty heap with room for <cap> tasks. Returns 0, or -1 with
 * errno set when the array cannot be allocated. */
int timers_init(struct sched_timers *h, uint32_t cap);

/* Frees the array (the tasks are not touched). */
void timers_free(struct sched_timers *h);

/* Returns the earliest task, or NULL when the heap is empty. */
static inline struct task *timers_first(const struct sched_timers *h)
{
	return h->len ? h->heap[0] : NULL;
}

/* Inserts <t> or moves it to match its (already updated) expire_ms.
 * Returns 0, or -1 with errno set if the heap had to grow and could not;
 * the heap is unchanged then. */
int timers_set(struct sched_timers *h, struct task *t);

/* Removes <t> if it is in the heap; a no-op otherwise. */
void timers_remove(struct sched_timers *h, struct task *t);

#endif /* SLUICE_SCHED_TIMERS_H */

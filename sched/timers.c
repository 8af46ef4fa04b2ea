/* timers.c - binary min-heap of tasks keyed on expire_ms. */
#include <errno.h>
#include <stdlib.h>
#include "sched/timers.h"

/* Stores <t> at array slot <i> and records the slot in the task. */
static inline void timers_put(struct sched_timers *h, uint32_t i, struct task *t)
{
	h->heap[i] = t;
	t->heap_idx = i + 1;
}

/* Moves the task at slot <i> towards the root while it expires before its
 * parent. Returns its final slot. */
static uint32_t timers_sift_up(struct sched_timers *h, uint32_t i)
{
	struct task *t = h->heap[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->heap[parent]->expire_ms <= t->expire_ms)
			break;
		timers_put(h, i, h->heap[parent]);
		i = parent;
	}
	timers_put(h, i, t);
	return i;
}

/* Moves the task at slot <i> towards the leaves while a child expires
 * before it. */
static void timers_sift_down(struct sched_timers *h, uint32_t i)
{
	struct task *t = h->heap[i];

	for (;;) {
		uint32_t child = 2 * i + 1;

		if (child >= h->len)
			break;
		if (child + 1 < h->len && h->heap[child + 1]->expire_ms < h->heap[child]->expire_ms)
			child++;
		if (t->expire_ms <= h->heap[child]->expire_ms)
			break;
		timers_put(h, i, h->heap[child]);
		i = child;
	}
	timers_put(h, i, t);
}

/* Restores the heap order around slot <i> after its key changed. */
static void timers_fix(struct sched_timers *h, uint32_t i)
{
	if (timers_sift_up(h, i) == i)
		timers_sift_down(h, i);
}

/* Doubles the array. Returns 0, or -1 with errno set. */
static int timers_grow(struct sched_timers *h)
{
	uint32_t cap = h->cap ? h->cap * 2 : 64;
	struct task **heap;

	if (cap <= h->cap) {
		errno = ENOMEM;
		return -1;
	}
	heap = realloc(h->heap, (size_t)cap * sizeof(*heap));
	if (!heap)
		return -1;
	h->heap = heap;
	h->cap = cap;
	return 0;
}

/* Returns 0, or -1 with errno set (see timers.h). */
int timers_init(struct sched_timers *h, uint32_t cap)
{
	h->len = 0;
	h->cap = cap;
	h->heap = cap ? malloc((size_t)cap * sizeof(*h->heap)) : NULL;
	if (cap && !h->heap)
		return -1;
	return 0;
}

/* Frees the array only. */
void timers_free(struct sched_timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->len = h->cap = 0;
}

/* Returns 0, or -1 with errno set when growing failed (see timers.h). */
int timers_set(struct sched_timers *h, struct task *t)
{
	if (t->heap_idx) {
		timers_fix(h, t->heap_idx - 1);
		return 0;
	}
	if (h->len == h->cap && timers_grow(h) < 0)
		return -1;
	h->heap[h->len] = t;
	timers_sift_up(h, h->len++);
	return 0;
}

/* Removes <t> from the heap when it is there (see timers.h). */
void timers_remove(struct sched_timers *h, struct task *t)
{
	uint32_t i = t->heap_idx;
	struct task *last;

	if (!i)
		return;
	i--;
	t->heap_idx = 0;
	last = h->heap[--h->len];
	if (i == h->len)
		return;
	timers_put(h, i, last);
	timers_fix(h, i);
}

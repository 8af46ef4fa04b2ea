/* list.h - intrusive doubly linked lists: the streams and HTTP/2
 * connections of a thread, the idle connections of a server.
 *
 * A head is an element of its own list; an element not in a list points to
 * itself (eng_list_init), so deleting twice is harmless. Not thread-safe:
 * every list is touched only by the thread that owns it.
 */
#ifndef SLUICE_ENGINE_CORE_LIST_H
#define SLUICE_ENGINE_CORE_LIST_H

#include <stddef.h>

struct eng_list {
	struct eng_list *next, *prev;
};

/* Returns the struct of type <type> whose member <m> is the list element <l>. */
#define eng_list_entry(l, type, m) ((type *)((char *)(l) - offsetof(type, m)))

static inline void eng_list_init(struct eng_list *l) { l->next = l->prev = l; }
static inline int eng_list_empty(const struct eng_list *l) { return l->next == l; }

/* Inserts <e> at the end of <head>. */
static inline void eng_list_append(struct eng_list *head, struct eng_list *e)
{
	e->prev = head->prev;
	e->next = head;
	head->prev->next = e;
	head->prev = e;
}

/* Inserts <e> at the front of <head>. */
static inline void eng_list_push(struct eng_list *head, struct eng_list *e)
{
	eng_list_append(head->next, e);
}

/* Unlinks <e> and leaves it pointing to itself. */
static inline void eng_list_del(struct eng_list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = e;
}

#endif /* SLUICE_ENGINE_CORE_LIST_H */

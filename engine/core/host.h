/* host.h - what the embedding program registered with the engine: its
 * request hook, its completion hook and its named services (sluice.h,
 * "The host API"). Filled before the engine starts and only read after,
 * so the workers read it without locks.
 */
#ifndef SLUICE_ENGINE_CORE_HOST_H
#define SLUICE_ENGINE_CORE_HOST_H

#include <string.h>
#include "engine/sluice.h"

/* Longest service name, NUL included. */
#define HOST_SVC_NAME_MAX 64

/* A named service. */
struct host_service {
	char name[HOST_SVC_NAME_MAX];
	const struct sluice_service_ops *ops;
	void *arg;
};

struct eng_host {
	sluice_request_fn req_fn;      /* NULL: no request hook */
	void *req_arg;
	sluice_complete_fn done_fn;    /* NULL: no completion hook */
	void *done_arg;
	struct host_service *svcs;     /* nb_svcs of them, malloc'ed */
	unsigned nb_svcs;
};

/* Returns the index of the service named name[0..len) in <h>, or -1. */
static inline int host_service_find(const struct eng_host *h, const char *name, size_t len)
{
	for (unsigned i = 0; i < h->nb_svcs; i++)
		if (strlen(h->svcs[i].name) == len && !memcmp(h->svcs[i].name, name, len))
			return (int)i;
	return -1;
}

#endif /* SLUICE_ENGINE_CORE_HOST_H */

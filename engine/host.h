/* host.h - the engine's side of the host API's registrations (host.c):
 * set up with the engine, freed with it.
 */
#ifndef SLUICE_ENGINE_HOST_H
#define SLUICE_ENGINE_HOST_H

#include "engine/core/ctx.h"

/* Registers the engine's own services (prometheus-exporter) in a new
 * engine. Returns 0, or -1 without memory. */
int eng_host_init(struct engine *e);

/* Frees what the registrations hold. */
void eng_host_free(struct engine *e);

#endif /* SLUICE_ENGINE_HOST_H */

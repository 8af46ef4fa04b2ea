/* host.h - the engine's side of the host API's registrations (host.c):
 * kept by the engine handle (they outlive reloads), set up and freed with
 * it, copied into each generation when it starts.
 */
#ifndef SLUICE_ENGINE_HOST_H
#define SLUICE_ENGINE_HOST_H

#include "engine/core/ctx.h"

/* Registers the engine's own services (prometheus-exporter) with a new
 * engine handle. Returns 0, or -1 without memory. */
int eng_host_init(struct sluice *h);

/* Frees what the handle's registrations hold. */
void eng_host_free(struct sluice *h);

/* Ties every `use-service` of generation <e>'s configuration to a service
 * of <host> (sets the rules' service index). Returns 0, or -1 with *err
 * set ("file:line: 'http-request use-service' unknown service ..."). A
 * reload runs it on the new configuration before starting it. */
int eng_host_check(struct engine *e, const struct eng_host *host, char **err);

#endif /* SLUICE_ENGINE_HOST_H */

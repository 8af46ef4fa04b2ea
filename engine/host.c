/* host.c - what the embedding program registers with an engine before it
 * starts: the request hook, the completion hook, its services (sluice.h),
 * and the check that ties `use-service` lines to registered services.
 *
 * Everything is written into the handle before sluice_start() and copied
 * into each generation when it starts, before its threads exist: the
 * thread creation orders the writes before every read, so no lock is
 * needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/client/hostapi.h"
#include "engine/host.h"

/* Returns the registrations of the public handle: they outlive reloads,
 * each generation gets a copy when it starts. */
static inline struct eng_host *host_of(struct sluice *se) { return &se->host; }

enum sluice_result sluice_set_request_hook(struct sluice *se, sluice_request_fn fn, void *arg)
{
	if (!se || se->started || se->stopping)
		return SLUICE_E_STATE;
	host_of(se)->req_fn = fn;
	host_of(se)->req_arg = arg;
	return SLUICE_OK;
}

enum sluice_result sluice_set_completion_hook(struct sluice *se, sluice_complete_fn fn, void *arg)
{
	if (!se || se->started || se->stopping)
		return SLUICE_E_STATE;
	host_of(se)->done_fn = fn;
	host_of(se)->done_arg = arg;
	return SLUICE_OK;
}

/* Returns non-zero when <name> may name a service: 1..63 bytes of
 * [A-Za-z0-9._-], what a configuration word holds without quoting. */
static int host_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n >= HOST_SVC_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || strchr("._-", name[i])))
			return 0;
	return 1;
}

enum sluice_result sluice_register_service(struct sluice *se, const char *name,
					   const struct sluice_service_ops *ops, void *arg)
{
	struct eng_host *host = se ? host_of(se) : NULL;
	struct host_service *arr;

	if (!se || se->started || se->stopping)
		return SLUICE_E_STATE;
	if (!host_name_ok(name) || !ops || !ops->start || !ops->resume)
		return SLUICE_E_INVALID;
	if (host_service_find(host, name, strlen(name)) >= 0)
		return SLUICE_E_STATE;
	arr = realloc(host->svcs, (host->nb_svcs + 1) * sizeof(*arr));
	if (!arr)
		return SLUICE_E_NOMEM;
	host->svcs = arr;
	arr += host->nb_svcs++;
	snprintf(arr->name, sizeof(arr->name), "%s", name);
	arr->ops = ops;
	arr->arg = arg;
	return SLUICE_OK;
}

int eng_host_check(struct engine *e, const struct eng_host *host, char **err)
{
	*err = NULL;
	for (unsigned f = 0; f < e->cfg->nb_frontends; f++) {
		struct cfg_rules *rs = e->cfg->frontends[f].rules;

		for (unsigned i = 0; rs && i < rs->nb_req; i++) {
			struct cfg_http_rule *r = &rs->req[i];

			if (r->act != HA_USE_SERVICE)
				continue;
			r->svc_idx = host_service_find(host, r->name, r->name_len);
			if (r->svc_idx >= 0)
				continue;
			if (asprintf(err, "%s:%d: 'http-request use-service' unknown service '%s' "
			             "(the program registers its services; this one knows %u)",
			             e->cfg->file, r->line, r->name, host->nb_svcs) < 0)
				*err = NULL;
			return -1;
		}
	}
	return 0;
}

int sluice_check(struct sluice *se, char **err)
{
	return eng_host_check(se->live, &se->host, err);
}

int eng_host_init(struct sluice *h)
{
	return sluice_register_service(h, "prometheus-exporter", &svc_prom_ops, NULL) == SLUICE_OK ? 0 : -1;
}

void eng_host_free(struct sluice *h)
{
	free(h->host.svcs);
	h->host.svcs = NULL;
	h->host.nb_svcs = 0;
}

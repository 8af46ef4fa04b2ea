/* srvctl.c - servers from the host: the public calls of sluice.h's
 * "Servers from the host" section, over server/backend.c, which does the
 * work (and guards it) for the command socket as well.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "engine/sluice.h"
#include "engine/core/ctx.h"
#include "engine/server/backend.h"

/* The public states are the backend's, value for value. */
_Static_assert((int)SLUICE_SERVER_READY == (int)SRV_ADMIN_READY &&
               (int)SLUICE_SERVER_DRAIN == (int)SRV_ADMIN_DRAIN &&
               (int)SLUICE_SERVER_MAINT == (int)SRV_ADMIN_MAINT, "server states differ");

/* Sets *err (when asked for) to a new message. Returns -1. */
static int srvctl_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int srvctl_fail(char **err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) < 0)
		*err = NULL;
	va_end(ap);
	return -1;
}

/* Returns the live generation of <se>: servers added or changed here live
 * in its backends (a reload starts the servers of the new file afresh). */
static struct engine *srvctl_live(struct sluice *se)
{
	struct engine *e;

	pthread_mutex_lock(&se->stats_lock);
	e = se->live;
	pthread_mutex_unlock(&se->stats_lock);
	return e;
}

/* Finds backend <name> of <se>, or fails with a message. */
static struct backend *srvctl_backend(struct sluice *se, const char *name, char **err)
{
	struct engine *e = srvctl_live(se);
	struct backend *be = name ? be_by_name(e->bes, e->nb_bes, name) : NULL;

	if (!be)
		srvctl_fail(err, "no such backend '%s'", name ? name : "(null)");
	return be;
}

/* Finds server <name> of backend <bname>, or fails with a message. */
static struct server *srvctl_server(struct sluice *se, const char *bname, const char *name, char **err)
{
	struct backend *be = srvctl_backend(se, bname, err);
	struct server *s;

	if (!be)
		return NULL;
	if (!(s = be_find_server(be, name ? name : "")))
		srvctl_fail(err, "no such server '%s/%s'", bname, name ? name : "(null)");
	return s;
}

int sluice_server_add(struct sluice *se, const char *backend, const char *name, const char *addr,
                      unsigned weight, unsigned maxconn, enum sluice_server_state state, char **err)
{
	struct backend *be = srvctl_backend(se, backend, err);
	int rc;

	if (!be)
		return -1;
	if (be->cfg->mode != CFG_MODE_HTTP)
		return srvctl_fail(err, "backend '%s' is not in HTTP mode", backend);
	if ((unsigned)state > SLUICE_SERVER_MAINT)
		return srvctl_fail(err, "invalid state %d", (int)state);
	rc = be_server_add(be, name, addr, weight, maxconn, (enum srv_admin)state);
	if (rc)
		return srvctl_fail(err, "cannot add server '%s/%s': %s", backend, name ? name : "(null)",
		                   be_srv_strerror(rc));
	return 0;
}

int sluice_server_del(struct sluice *se, const char *backend, const char *name, char **err)
{
	struct server *s = srvctl_server(se, backend, name, err);
	int rc;

	if (!s)
		return -1;
	rc = be_server_del(s);
	if (rc)
		return srvctl_fail(err, "cannot remove server '%s/%s': %s", backend, name, be_srv_strerror(rc));
	return 0;
}

int sluice_server_set_state(struct sluice *se, const char *backend, const char *name,
                            enum sluice_server_state state, char **err)
{
	struct server *s;

	if ((unsigned)state > SLUICE_SERVER_MAINT)
		return srvctl_fail(err, "invalid state %d", (int)state);
	if (!(s = srvctl_server(se, backend, name, err)))
		return -1;
	be_server_set_admin(s, (enum srv_admin)state);
	return 0;
}

int sluice_server_set_weight(struct sluice *se, const char *backend, const char *name,
                             unsigned weight, char **err)
{
	struct server *s;

	if (weight > 256)
		return srvctl_fail(err, "invalid weight %u (0..256)", weight);
	if (!(s = srvctl_server(se, backend, name, err)))
		return -1;
	be_server_set_weight(s, weight);
	return 0;
}

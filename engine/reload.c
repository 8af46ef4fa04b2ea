/* reload.c - replacing the configuration of a running engine without
 * losing a connection (sluice_reload, sluice_reload_text).
 *
 * The new configuration becomes a new generation (gen.h): it is parsed and
 * checked first, then built, given its listening sockets (those of every
 * address the running configuration listens on too are moved over, the
 * same fds, never closed; new addresses are bound), and started; only
 * once every one of its threads listens is the old generation told to
 * stop accepting. The old one then closes the sockets of removed addresses
 * (after accepting what was queued on them), ends keep-alive connections
 * after their current response, sends HTTP/2 GOAWAY, lets its streams run
 * to their end within its `grace`, and is freed by a later call once its
 * threads ended; its counters then join the handle's carry.
 *
 * What does not move: the buffer pool is the engine's (one cap for every
 * generation), so tune.bufsize cannot change (the reload is refused) and
 * tune.buffers.limit/reserve changes are ignored with a warning; both need
 * a restart. Backends, servers and health checks start fresh (admin states
 * set through the command socket are not carried). nbthread may change up
 * to the handle's stride (the larger of the first value and the CPUs).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/core/ctx.h"
#include "engine/gen.h"
#include "engine/host.h"

/* Appends the line <msg> (consumed) to the warnings of <c>. Returns 0, or
 * -1 without memory. */
static int rl_warn(struct cfg *c, char *msg)
{
	char *w;

	if (!msg)
		return -1;
	if (asprintf(&w, "%s%s%s", c->warnings ? c->warnings : "", c->warnings ? "\n" : "", msg) < 0) {
		free(msg);
		return -1;
	}
	free(msg);
	free(c->warnings);
	c->warnings = w;
	return 0;
}

/* Checks what a reload cannot change in <c> against the running engine,
 * and adapts what it ignores. Returns 0, or -1 with *err set. */
static int rl_check(struct sluice *h, struct cfg *c, const char *name, char **err)
{
	const struct cfg_global *run = &h->live->cfg->g;

	if (c->g.bufsize != run->bufsize) {
		*err = eng_msg("%s: 'tune.bufsize' changed (%zu to %zu): the buffer pool outlives reloads, "
			       "a new buffer size needs a restart; configuration not loaded",
			       name, run->bufsize, c->g.bufsize);
		return -1;
	}
	if (c->g.nbthread > h->stride) {
		*err = eng_msg("%s: 'nbthread' %u: a reload may run at most %u threads "
			       "(the first value or the CPUs), more needs a restart; configuration not loaded",
			       name, c->g.nbthread, h->stride);
		return -1;
	}
	if (c->g.buf_limit != run->buf_limit || c->g.buf_reserve != run->buf_reserve) {
		if (rl_warn(c, eng_msg("%s: 'tune.buffers.limit'/'tune.buffers.reserve' changed: the buffer "
				       "pool outlives reloads, the running values (%llu/%llu) stay until a restart",
				       name, (unsigned long long)run->buf_limit,
				       (unsigned long long)run->buf_reserve)) < 0) {
			*err = eng_msg("out of memory");
			return -1;
		}
		c->g.buf_limit = run->buf_limit;
		c->g.buf_reserve = run->buf_reserve;
	}
	return 0;
}

/* Replaces the live generation of <h> by one running <c> (consumed).
 * Under the lock. Returns 0, or -1 with *err set and the live generation
 * untouched. */
static int rl_switch(struct sluice *h, struct cfg *c, const char *name, char **err)
{
	struct engine *old = h->live, *g;
	unsigned slot;

	if (!h->started || h->stopping) {
		cfg_free(c);
		*err = eng_msg("the engine is not running: nothing to reload");
		return -1;
	}
	/* free what ended, so that its pool slot can serve again */
	gen_reap_retired(h);
	if (rl_check(h, c, name, err) < 0) {
		cfg_free(c);
		return -1;
	}
	for (slot = 0; slot < ENG_GEN_SLOTS && (h->slots_used & (1u << slot)); slot++)
		;
	if (slot == ENG_GEN_SLOTS) {
		cfg_free(c);
		*err = eng_msg("%u older configurations are still finishing their connections "
			       "(within their 'grace'): try again later", ENG_GEN_SLOTS - 1);
		return -1;
	}
	g = gen_new(h, c, slot, err);
	if (!g)
		return -1;
	h->slots_used |= 1u << slot;
	g->gen = old->gen + 1;
	/* every use-service must name a service the program registered */
	if (eng_host_check(g, &h->host, err) < 0 || gen_bind(g, old, err) < 0) {
		(void)gen_reap(g);
		return -1;
	}
	/* the new generation's stats socket replaces the old one's file */
	old->cli_keep_path = g->cfg->g.cli_path && old->cfg->g.cli_path &&
			     !strcmp(g->cfg->g.cli_path, old->cfg->g.cli_path);
	if (gen_start(g, err) < 0) {
		gen_unbind(g, old);
		(void)gen_reap(g);
		old->cli_keep_path = 0;
		return -1;
	}
	/* the moved sockets are the new generation's to close from now on
	 * (its threads read <keep> only once told to stop, after this) */
	for (unsigned i = 0; i < g->nb_lfds; i++)
		g->lfds[i].keep = 0;
	pool_set_fail_ppm(h->pool, (uint32_t)(g->cfg->g.fail_alloc_pct * 10000.0));
	pthread_mutex_lock(&h->stats_lock);
	g->next = h->gens;
	h->gens = g;
	h->live = g;
	h->reloads++;
	pthread_mutex_unlock(&h->stats_lock);
	gen_retire(old);
	return 0;
}

/* Counts a refused reload. */
static void rl_refused(struct sluice *h)
{
	pthread_mutex_lock(&h->stats_lock);
	h->reload_failures++;
	pthread_mutex_unlock(&h->stats_lock);
}

/* Switches to the parsed <c> (NULL: parsing failed, *err says why) and
 * counts the outcome. From a worker thread (the command socket), a reload
 * or stop in progress refuses it: that one may be waiting for this very
 * thread to stop listening. */
static int rl_run(struct sluice *h, struct cfg *c, const char *name, char **err)
{
	if (!c) {
		rl_refused(h);
		return -1;
	}
	if (!gen_on_worker()) {
		pthread_mutex_lock(&h->lock);
	} else if (pthread_mutex_trylock(&h->lock) != 0) {
		cfg_free(c);
		*err = eng_msg("another reload or a stop is in progress: try again");
		rl_refused(h);
		return -1;
	}
	if (rl_switch(h, c, name, err) < 0) {
		pthread_mutex_unlock(&h->lock);
		rl_refused(h);
		return -1;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int sluice_reload(struct sluice *h, const char *path, char **err)
{
	const char *src = path ? path : h->path;

	*err = NULL;
	if (!src) {
		/* made from a text: reload that text */
		return sluice_reload_text(h, h->text, h->name, err);
	}
	return rl_run(h, cfg_parse_file(src, err), src, err);
}

int sluice_reload_text(struct sluice *h, const char *text, const char *name, char **err)
{
	const char *n = name ? name : "<config>";

	*err = NULL;
	if (!text) {
		*err = eng_msg("no configuration text to reload");
		return -1;
	}
	return rl_run(h, cfg_parse_text(text, n, err), n, err);
}

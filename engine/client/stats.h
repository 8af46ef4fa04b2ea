/* stats.h - taking snapshots of a running engine (client/stats.c).
 *
 * The snapshot is the stats page's data (core/statspage.h renders it) and
 * the public sluice_stats() counters. It reads every room's state
 * (per-thread counters, backends, servers and their checks, the pool, the
 * schedulers), which is why it lives above core/ and server/.
 */
#ifndef SLUICE_ENGINE_CLIENT_STATS_H
#define SLUICE_ENGINE_CLIENT_STATS_H

#include "engine/core/ctx.h"
#include "engine/core/statspage.h"

/* Takes a snapshot of engine <e> (any thread, while it runs or after it
 * stopped). <refresh_s> goes into the HTML page. Returns NULL without
 * memory. */
struct statspage_data *statspage_collect(const struct engine *e, unsigned refresh_s);

/* Adds the chart points of <e>'s history to snapshot <d> (the HTML page
 * draws them; the other formats do not need them). Without memory, <d>
 * just has none. */
void statspage_collect_points(const struct engine *e, struct statspage_data *d);

/* Frees a snapshot from statspage_collect(). NULL is accepted. */
void statspage_free(struct statspage_data *d);

#endif /* SLUICE_ENGINE_CLIENT_STATS_H */

/* statshist.h - the stats page's history: one sample of the engine-wide
 * figures per second, kept in fixed rings for the rate columns and the
 * charts (client/statshist.c).
 *
 * Contract
 * --------
 * The memory is allocated once, when the engine starts
 * (stats_hist_new()); sampling never allocates. A timer task on worker
 * thread 0 takes the samples: it sums the per-thread counters itself
 * (sluice_stats()), so the request path pays nothing and takes no lock.
 * The rings are guarded by one mutex that only the sampler (once per
 * period) and readers taking a snapshot (stats_hist_read()) take, each
 * for the time of a copy.
 *
 * Two rings: the last SP_HIST_RATE_KEEP full samples (every figure, for
 * rates over 1 s and 10 s) and <points> chart points (a few pool figures,
 * for the charts over the last minutes).
 */
#ifndef SLUICE_ENGINE_CLIENT_STATSHIST_H
#define SLUICE_ENGINE_CLIENT_STATSHIST_H

#include "engine/core/ctx.h"
#include "engine/core/statspage.h"

/* Full samples kept: the newest and ten one-second steps before it. */
#define SP_HIST_RATE_KEEP 11
/* Chart points and sampling period of an engine: ten minutes. */
#define SP_HIST_POINTS 600
#define SP_HIST_PERIOD_MS 1000

struct stats_hist;

/* Allocates the history of engine <e>: <points> chart points taken every
 * <period_ms>. Returns NULL without memory. */
struct stats_hist *stats_hist_new(const struct engine *e, unsigned points, unsigned period_ms);

/* Frees <h> (NULL accepted) once its task is stopped or never started. */
void stats_hist_free(struct stats_hist *h);

/* Starts sampling on worker thread <thr>, from that thread: a first sample
 * at once, then one per period. */
void stats_hist_start(struct stats_hist *h, struct sched_thread *thr);

/* Stops sampling; on the thread that started it. */
void stats_hist_stop(struct stats_hist *h);

/* Takes one sample now, on the sampling thread (the task does it; tests
 * call it to fill a history without waiting). */
void stats_hist_sample(struct stats_hist *h);

/* Copies the rate samples into <d> (rate[], nb_rate, hist_span_ms) and,
 * when <with_points>, the chart points into a new d->pts (left NULL when
 * that allocation fails: the page then shows no chart, never an error).
 * Any thread. */
void stats_hist_read(struct stats_hist *h, struct statspage_data *d, int with_points);

#endif /* SLUICE_ENGINE_CLIENT_STATSHIST_H */

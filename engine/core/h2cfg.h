/* h2cfg.h - what HTTP/2 connections of both roles (towards clients in
 * client/h2front, towards servers in server/h2back) take from the engine:
 * their settings from the configuration, and where their final counters go.
 */
#ifndef SLUICE_ENGINE_CORE_H2CFG_H
#define SLUICE_ENGINE_CORE_H2CFG_H

#include "engine/core/ctx.h"

struct h2_settings;
struct h2c_stats;

/* Fills <set> with the HTTP/2 settings of the configuration (`tune.h2.*`),
 * the same for client and server connections. */
void eng_h2_settings(const struct cfg_global *g, struct h2_settings *set);

/* Adds the final counters of a closed HTTP/2 connection of either role
 * (resets, GOAWAYs, buffer waits, abuse kills) to its thread's. */
void eng_h2_count_closed(struct thr_ctx *tc, const struct h2c_stats *st);

#endif /* SLUICE_ENGINE_CORE_H2CFG_H */

/* h2cfg.c - what HTTP/2 connections of both roles take from the engine
 * (see h2cfg.h). */
#include "engine/core/h2cfg.h"
#include "mux/h2.h"

void eng_h2_settings(const struct cfg_global *g, struct h2_settings *set)
{
	*set = (struct h2_settings){
		.max_concurrent_streams = g->h2_max_streams,
		.initial_window_size = g->h2_init_window,
		.header_table_size = g->h2_header_table,
		.encoder_table_size = g->h2_encoder_table,
		.max_header_list_size = g->h2_max_header_list,
		.max_heap = (size_t)g->h2_max_heap,
	};
}

void eng_h2_count_closed(struct thr_ctx *tc, const struct h2c_stats *st)
{
	CNT_ADD(tc, h2_resets, st->streams_reset);
	CNT_ADD(tc, h2_goaway_sent, st->goaway_sent);
	CNT_ADD(tc, h2_dbuf_waits, st->dbuf_waits);
	CNT_ADD(tc, h2_mbuf_waits, st->mbuf_waits);
	CNT_ADD(tc, h2_calm_kills, st->calm_kills);
}


/* stats.c - the counters snapshot of sluice.h, summed over threads. */
#include <stdio.h>
#include <string.h>
#include "engine/backend.h"
#include "engine/engine.h"

/* Returns a relaxed read of a counter another thread writes. */
#define RD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* Adds thread <tc>'s counters into <o>. */
static void stats_add_thread(const struct thr_ctx *tc, struct sluice_stats *o)
{
	const struct eng_counters *c = &tc->cnt;

	o->conn_accepted += RD(c->conn_accepted);
	o->conn_refused_maxconn += RD(c->conn_refused_maxconn);
	o->req_received += RD(c->req_received);
	o->rsp_sent += RD(c->rsp_sent);
	o->rsp_errors += RD(c->rsp_errors);
	for (int i = 0; i < 6; i++)
		o->rsp_by_class[i] += RD(c->rsp_by_class[i]);
	o->req_aborted += RD(c->req_aborted);
	o->bytes_in += RD(c->bytes_in);
	o->bytes_out += RD(c->bytes_out);
	o->streams += RD(c->streams);
	o->stream_calls += RD(c->stream_calls);
	o->io_calls += RD(c->io_calls);
	o->srv_connects += RD(c->srv_connects);
	o->srv_connect_errors += RD(c->srv_connect_errors);
	o->srv_reuses += RD(c->srv_reuses);
	o->retries += RD(c->retries);
	o->redispatches += RD(c->redispatches);
	o->queued_total += RD(c->queued_total);
	o->queue_timeouts += RD(c->queue_timeouts);
	o->timeouts_client += RD(c->timeouts_client);
	o->timeouts_server += RD(c->timeouts_server);
	o->timeouts_connect += RD(c->timeouts_connect);
	o->timeouts_http_request += RD(c->timeouts_http_request);
	o->bad_requests += RD(c->bad_requests);
	o->bad_responses += RD(c->bad_responses);
	o->buf_waits += RD(c->buf_waits);
	o->h2_conn_accepted += RD(c->h2_conn_accepted);
	o->h2_conn_current += RD(c->h2_conn_accepted) - RD(c->h2_conn_closed);
	o->h2_streams += RD(c->h2_streams);
	o->h2_resets += RD(c->h2_resets);
	o->h2_goaway_sent += RD(c->h2_goaway_sent);
	o->h2_dbuf_waits += RD(c->h2_dbuf_waits);
	o->h2_mbuf_waits += RD(c->h2_mbuf_waits);
	o->h2_calm_kills += RD(c->h2_calm_kills);
	o->h2_heap_bytes += RD(c->h2_heap_bytes);
	o->h2_srv_conn_opened += RD(c->h2_srv_conn_opened);
	o->h2_srv_conn_current += RD(c->h2_srv_conn_opened) - RD(c->h2_srv_conn_closed);
	o->h2_srv_streams += RD(c->h2_srv_streams);
}

void sluice_stats(const struct sluice *se, struct sluice_stats *o)
{
	const struct engine *e = (const struct engine *)se;
	struct pool_stats ps;
	struct sched_stats ss;

	memset(o, 0, sizeof(*o));
	o->nbthread = e->nbthread;
	for (unsigned t = 0; t < e->nbthread; t++)
		stats_add_thread(&e->tcs[t], o);
	o->conn_current = RD(e->conn_cur);
	for (unsigned b = 0; b < e->nb_bes; b++)
		o->queued_now += be_queued(e->bes[b]);

	pool_stats(e->pool, -1u, &ps);
	o->pool_allocated = ps.allocated;
	o->pool_peak_allocated = ps.peak_allocated;
	o->pool_in_use = ps.in_use > 0 ? (uint64_t)ps.in_use : 0;
	o->pool_peak_in_use = ps.peak_in_use;
	o->pool_allocs = ps.allocs;
	o->pool_failed = ps.failed;
	o->pool_injected = ps.injected;
	o->pool_waiting = ps.waiting;
	o->pool_waits_total = ps.waits_total;
	o->pool_handoffs = ps.handoffs;
	o->pool_notifies = ps.notifies;
	o->pool_takes = ps.takes;
	o->pool_passes_on = ps.passes_on;
	o->pool_trims = ps.trims;
	o->pool_limit = ps.limit;
	o->pool_reserve = ps.reserve;
	o->pool_bufsize = ps.bufsize;

	sched_stats(e->sched, -1u, &ss);
	o->sched_loops = ss.loops;
	o->sched_tasks_run = ss.tasks_run;
	o->sched_tasklets_run = ss.tasklets_run;
	o->sched_timers_fired = ss.timers_fired;
}

int sluice_stats_json(const struct sluice *se, char *dst, unsigned room)
{
	struct sluice_stats s;

	sluice_stats(se, &s);
#define F(name) "\"" #name "\":%llu"
#define V(name) (unsigned long long)s.name
	return snprintf(dst, room,
		"{" F(nbthread) "," F(conn_accepted) "," F(conn_current) "," F(conn_refused_maxconn) ","
		F(req_received) "," F(rsp_sent) "," F(rsp_errors) ","
		"\"rsp_1xx\":%llu,\"rsp_2xx\":%llu,\"rsp_3xx\":%llu,\"rsp_4xx\":%llu,\"rsp_5xx\":%llu,"
		F(req_aborted) "," F(bytes_in) "," F(bytes_out) "," F(streams) "," F(stream_calls) ","
		F(io_calls) "," F(srv_connects) "," F(srv_connect_errors) "," F(srv_reuses) ","
		F(retries) "," F(redispatches) "," F(queued_now) "," F(queued_total) ","
		F(queue_timeouts) "," F(timeouts_client) "," F(timeouts_server) ","
		F(timeouts_connect) "," F(timeouts_http_request) "," F(bad_requests) ","
		F(bad_responses) "," F(buf_waits) ","
		F(h2_conn_accepted) "," F(h2_conn_current) "," F(h2_streams) "," F(h2_resets) ","
		F(h2_goaway_sent) "," F(h2_dbuf_waits) "," F(h2_mbuf_waits) "," F(h2_calm_kills) "," F(h2_heap_bytes) ","
		F(h2_srv_conn_opened) "," F(h2_srv_conn_current) "," F(h2_srv_streams) ","
		F(pool_allocated) "," F(pool_peak_allocated) "," F(pool_in_use) "," F(pool_peak_in_use) ","
		F(pool_allocs) "," F(pool_failed) "," F(pool_injected) "," F(pool_waiting) ","
		F(pool_waits_total) "," F(pool_handoffs) "," F(pool_notifies) "," F(pool_takes) ","
		F(pool_passes_on) "," F(pool_trims) "," F(pool_limit) "," F(pool_reserve) ","
		F(pool_bufsize) "," F(sched_loops) "," F(sched_tasks_run) "," F(sched_tasklets_run) ","
		F(sched_timers_fired) "}\n",
		V(nbthread), V(conn_accepted), V(conn_current), V(conn_refused_maxconn),
		V(req_received), V(rsp_sent), V(rsp_errors),
		V(rsp_by_class[1]), V(rsp_by_class[2]), V(rsp_by_class[3]), V(rsp_by_class[4]), V(rsp_by_class[5]),
		V(req_aborted), V(bytes_in), V(bytes_out), V(streams), V(stream_calls),
		V(io_calls), V(srv_connects), V(srv_connect_errors), V(srv_reuses),
		V(retries), V(redispatches), V(queued_now), V(queued_total),
		V(queue_timeouts), V(timeouts_client), V(timeouts_server),
		V(timeouts_connect), V(timeouts_http_request), V(bad_requests),
		V(bad_responses), V(buf_waits),
		V(h2_conn_accepted), V(h2_conn_current), V(h2_streams), V(h2_resets),
		V(h2_goaway_sent), V(h2_dbuf_waits), V(h2_mbuf_waits), V(h2_calm_kills), V(h2_heap_bytes),
		V(h2_srv_conn_opened), V(h2_srv_conn_current), V(h2_srv_streams),
		V(pool_allocated), V(pool_peak_allocated), V(pool_in_use), V(pool_peak_in_use),
		V(pool_allocs), V(pool_failed), V(pool_injected), V(pool_waiting),
		V(pool_waits_total), V(pool_handoffs), V(pool_notifies), V(pool_takes),
		V(pool_passes_on), V(pool_trims), V(pool_limit), V(pool_reserve),
		V(pool_bufsize), V(sched_loops), V(sched_tasks_run), V(sched_tasklets_run),
		V(sched_timers_fired));
#undef F
#undef V
}

/* ctx.c - helpers every room of the engine uses (see ctx.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include "engine/core/ctx.h"

void eng_debug(const struct engine *e, const char *fmt, ...)
{
	va_list ap;

	if (!e->debug)
		return;
	va_start(ap, fmt);
	fputs("sluice: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void eng_addr_text(const struct sockaddr_storage *ss, char *dst, size_t len)
{
	dst[0] = 0;
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, dst, (socklen_t)len);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, dst, (socklen_t)len);
}

void eng_conn_closed(struct thr_ctx *tc, struct frontend *fe)
{
	struct engine *e = tc->eng;

	__atomic_fetch_sub(&e->conn_cur, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&fe->conn_cur, 1, __ATOMIC_RELAXED);
	CNT_INC(tc, conn_closed);
	if (__atomic_load_n(&e->listeners_full, __ATOMIC_RELAXED)) {
		for (unsigned t = 0; t < e->nbthread; t++)
			task_wakeup(&e->tcs[t].house, SCHED_R_MSG);
	}
}


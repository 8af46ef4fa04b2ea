/* temporary, uncommitted: stands in for h2front.c until mux/h2.c exists */
#include <unistd.h>
#include "engine/h2front.h"
int h2front_is_preface(const char *p, size_t len, int *complete) { (void)p; (void)len; *complete = 0; return 0; }
int h2front_accept(struct thr_ctx *tc, struct frontend *fe, int fd, const char *peer, const char *pre, size_t pre_len)
{ (void)tc; (void)fe; (void)peer; (void)pre; (void)pre_len; close(fd); return -1; }
int h2front_accept_peer(struct thr_ctx *tc, struct frontend *fe, int fd, const struct sockaddr_storage *peer)
{ (void)tc; (void)fe; (void)peer; close(fd); return -1; }
void h2front_stop_all(struct thr_ctx *tc, int now) { (void)tc; (void)now; }

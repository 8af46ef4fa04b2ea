/* cli.c - the command socket (see cli.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "engine/client/cli.h"
#include "engine/client/stats.h"
#include "engine/server/backend.h"

/* Longest command line kept; a longer one is refused as a whole. */
#define CLI_LINE_MAX 1024

struct cli {
	struct tasklet tl;        /* first: killed with free() by the scheduler */
	int fd;
	struct thr_ctx *tc;
	struct eng_list conns;    /* of struct cli_conn */
	unsigned nb_conns;
	int full;                 /* stopped accepting at `stats maxconn` clients */
};

/* One client of the socket: reads one line, answers, closes; or is closed
 * when it moves no byte for `stats timeout`. */
struct cli_conn {
	struct task task;         /* first, as above; its timer is the idle one */
	int fd;
	struct cli *cli;
	struct eng_list link;
	size_t in_len;
	char in[CLI_LINE_MAX];
	char *out;                /* the answer, malloc'ed, or NULL */
	size_t out_len, out_off;
	int answered;             /* the answer is built: only writing is left */
};

/* A growing answer. Allocation failures are remembered and reported once. */
struct cli_out {
	char *p;
	size_t len, cap;
	int oom;
};

static void out_put(struct cli_out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		char *p;

		while (cap < o->len + n + 1)
			cap *= 2;
		p = realloc(o->p, cap);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = 0;
}

static void out_printf(struct cli_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct cli_out *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		out_put(o, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- the commands ---- */

struct cli_cmd;
typedef void (*cli_fn)(struct engine *e, int level, int argc, char **argv, struct cli_out *o);

struct cli_cmd {
	const char *words[3];     /* the command's leading words */
	int level;                /* the least enum cfg_cli_level that may run it */
	const char *usage, *help;
	cli_fn fn;
};

static const struct cli_cmd cli_cmds[];

static void cmd_help(struct engine *e, int level, int argc, char **argv, struct cli_out *o);

/* `show info`: HAProxy's names for what both have, then every figure of
 * the counter lists under its own name. */
static void cmd_show_info(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	struct sluice_stats st;

	sluice_stats(e->owner, &st);
	out_printf(o, "Name: Sluice\nVersion: %s\nUptime_sec: %llu\nNbthread: %u\nMaxconn: %u\n"
		   "CurrConns: %llu\nCumConns: %llu\nCumReq: %llu\n",
		   SLUICE_VERSION, (unsigned long long)((sched_clock_ms() - e->start_ms) / 1000),
		   st.nbthread, e->cfg->g.maxconn, (unsigned long long)st.conn_current,
		   (unsigned long long)st.conn_accepted, (unsigned long long)st.req_received);
#define CLI_INFO(name, src, ...) CLI_INFO_##src(name)
#define CLI_INFO_THR(name) out_printf(o, "%s: %llu\n", #name, (unsigned long long)st.name);
#define CLI_INFO_SNAP(name) CLI_INFO_THR(name)
#define CLI_INFO_SCHED(name) CLI_INFO_THR(name)
#define CLI_INFO_WAITERS(name) CLI_INFO_THR(name)
#define CLI_INFO_CLASS(name) \
	for (int c = 1; c <= 5; c++) \
		out_printf(o, "%s_%dxx: %llu\n", #name, c, (unsigned long long)st.name[c]); \
	out_printf(o, "%s_other: %llu\n", #name, (unsigned long long)st.name[0]);
	SLUICE_COUNTERS(CLI_INFO)
	SLUICE_POOL_COUNTERS(CLI_INFO)
	SLUICE_SCHED_COUNTERS(CLI_INFO)
#undef CLI_INFO
}

/* `show stat`: the stats page's CSV, whole. */
static void cmd_show_stat(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	struct statspage_data *d = statspage_collect(e, 0);
	struct statspage_cursor cur = { 0 };
	char chunk[4096];

	if (!d) {
		o->oom = 1;
		return;
	}
	while (!cur.done && !o->oom) {
		size_t n = statspage_render(STATSPAGE_CSV, d, &cur, chunk, sizeof(chunk));

		out_put(o, chunk, n);
	}
	statspage_free(d);
}

static const char *const admin_names[] = { "ready", "drain", "maint" };

/* `show servers state [BACKEND]`. */
static void cmd_show_servers(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	const char *only = argc > 3 ? argv[3] : NULL;
	int found = 0;

	out_put(o, "# be_name srv_name health admin weight cur maxconn queue total\n", 63);
	for (unsigned b = 0; b < e->nb_bes; b++) {
		struct backend *be = e->bes[b];

		if (only && strcmp(only, be->cfg->name) != 0)
			continue;
		found = 1;
		unsigned nb = be_nb_srv(be);

		for (unsigned i = 0; i < nb; i++) {
			struct server *s = __atomic_load_n(&be->srv[i], __ATOMIC_ACQUIRE);
			unsigned w, cur, queue;

			if (be_server_gone(s))
				continue;
			int admin = __atomic_load_n(&s->admin, __ATOMIC_ACQUIRE);

			pthread_spin_lock(&be->lock);
			w = s->uweight;
			cur = s->cur;
			queue = s->queue.len;
			pthread_spin_unlock(&be->lock);
			out_printf(o, "%s %s %s %s %u %u %u %u %llu\n", be->cfg->name, s->cfg->name,
				   __atomic_load_n(&s->down, __ATOMIC_ACQUIRE) ? "DOWN" : "UP",
				   admin_names[admin], w, cur, s->maxconn, queue,
				   (unsigned long long)__atomic_load_n(&s->total, __ATOMIC_RELAXED));
		}
	}
	if (only && !found)
		out_printf(o, "No such backend: %s\n", only);
}

/* `show pools`: the buffer pool, its reserve and wait queues. */
static void cmd_show_pools(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	static const char *const crit[POOL_CRIT_COUNT] = { "newconn", "request", "slot", "response", "emit" };
	struct pool_stats ps;

	pool_stats(e->pool, -1u, &ps);
	out_printf(o, "Buffer pool: %llu bytes per buffer, limit %llu (0: none), reserve %llu\n",
		   (unsigned long long)ps.bufsize, (unsigned long long)ps.limit,
		   (unsigned long long)ps.reserve);
	out_printf(o, "  allocated %llu (peak %llu), in use %lld (peak %llu), cached %llu, free %llu\n",
		   (unsigned long long)ps.allocated, (unsigned long long)ps.peak_allocated,
		   (long long)ps.in_use, (unsigned long long)ps.peak_in_use,
		   (unsigned long long)ps.cached, (unsigned long long)ps.global_free);
	out_printf(o, "  allocs %llu, failed %llu (injected %llu), waits %llu, hand-offs %llu, "
		   "notifies %llu, passed on %llu\n",
		   (unsigned long long)ps.allocs, (unsigned long long)ps.failed,
		   (unsigned long long)ps.injected, (unsigned long long)ps.waits_total,
		   (unsigned long long)ps.handoffs, (unsigned long long)ps.notifies,
		   (unsigned long long)ps.passes_on);
	out_printf(o, "  waiting now %llu:", (unsigned long long)ps.waiting);
	for (int c = POOL_CRIT_COUNT - 1; c >= 0; c--)
		out_printf(o, " %s %llu", crit[c], (unsigned long long)ps.waiting_by_crit[c]);
	out_put(o, "\n", 1);
}

/* Finds "BE/SRV" or answers why not. Returns the server or NULL. */
static struct server *cli_find_server(struct engine *e, const char *spec, struct cli_out *o)
{
	const char *slash = spec ? strchr(spec, '/') : NULL;

	if (!slash) {
		out_put(o, "Require 'backend/server'.\n", 26);
		return NULL;
	}
	for (unsigned b = 0; b < e->nb_bes; b++) {
		struct backend *be = e->bes[b];
		size_t bl = (size_t)(slash - spec);

		if (strlen(be->cfg->name) == bl && memcmp(be->cfg->name, spec, bl) == 0) {
			struct server *s = be_find_server(be, slash + 1);

			if (!s)
				out_printf(o, "No such server: %s\n", spec);
			return s;
		}
	}
	out_printf(o, "No such backend: %.*s\n", (int)(slash - spec), spec);
	return NULL;
}

/* `set server BE/SRV state ready|drain|maint` and `set server BE/SRV weight N`. */
static void cmd_set_server(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	struct server *s;

	if (argc < 5) {
		out_put(o, "Usage: set server BE/SRV state ready|drain|maint | weight N\n", 60);
		return;
	}
	s = cli_find_server(e, argv[2], o);
	if (!s)
		return;
	if (strcmp(argv[3], "state") == 0) {
		/* weights and drains are an operator's; maintenance the admin's */
		if (strcmp(argv[4], "maint") == 0 && level < CFG_CLI_ADMIN) {
			out_put(o, "Permission denied\n", 18);
			return;
		}
		for (int a = 0; a < 3; a++) {
			if (strcmp(argv[4], admin_names[a]) == 0) {
				be_server_set_admin(s, (enum srv_admin)a);
				return;
			}
		}
		out_put(o, "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n", 63);
	} else if (strcmp(argv[3], "weight") == 0) {
		char *end;
		unsigned long w = strtoul(argv[4], &end, 10);

		if (*end || end == argv[4] || w > 256) {
			out_put(o, "Weight must be an integer between 0 and 256.\n", 45);
			return;
		}
		be_server_set_weight(s, (unsigned)w);
	} else {
		out_printf(o, "'set server' only supports 'state' and 'weight', not '%s'.\n", argv[3]);
	}
}

/* `disable server BE/SRV` and `enable server BE/SRV`. */
static void cmd_able_server(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	struct server *s = cli_find_server(e, argc > 2 ? argv[2] : NULL, o);

	if (s)
		be_server_set_admin(s, argv[0][0] == 'd' ? SRV_ADMIN_MAINT : SRV_ADMIN_READY);
}

/* `reload`: loads the configuration again, as SIGHUP does (HAProxy 2.7's
 * master CLI has it). It runs here, on thread 0 of the generation it
 * retires, which keeps serving this connection; that thread is busy for
 * the reload (parse, bind, start the new threads: milliseconds). Answers
 * "Success=1", or "Success=0", a line "--" and the error (file:line). */
static void cmd_reload(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	char *err = NULL;

	(void)level, (void)argc, (void)argv;
	if (e->reload(e->owner, NULL, &err) < 0)
		out_printf(o, "Success=0\n--\n%s\n", err ? err : "out of memory");
	else
		out_printf(o, "Success=1\n");
	free(err);
}

/* `add server BE/SRV ADDR:PORT [weight N] [maxconn N]`: a new server, in
 * maintenance as HAProxy adds them (`enable server` or `set server ...
 * state ready` puts it to work). */
static void cmd_add_server(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	const char *spec = argc > 2 ? argv[2] : "", *slash = strchr(spec, '/');
	unsigned long v[2] = { CFG_SRV_DEFAULT_WEIGHT, 0 };
	struct backend *be;
	char bname[256];
	int rc;

	if (argc < 4 || !slash || (size_t)(slash - spec) >= sizeof(bname)) {
		out_put(o, "Usage: add server BE/SRV ADDR:PORT [weight N] [maxconn N]\n", 58);
		return;
	}
	for (int i = 4; i < argc; i += 2) {
		int k = !strcmp(argv[i], "weight") ? 0 : !strcmp(argv[i], "maxconn") ? 1 : -1;
		char *end;

		if (k < 0 || i + 1 >= argc) {
			out_printf(o, "'add server' only supports 'weight N' and 'maxconn N', not '%s'.\n", argv[i]);
			return;
		}
		v[k] = strtoul(argv[i + 1], &end, 10);
		if (*end || end == argv[i + 1] || (k == 0 && v[k] > 256) || v[k] > 1000000) {
			out_printf(o, "Invalid value '%s' for '%s'.\n", argv[i + 1], argv[i]);
			return;
		}
	}
	memcpy(bname, spec, (size_t)(slash - spec));
	bname[slash - spec] = 0;
	if (!(be = be_by_name(e->bes, e->nb_bes, bname))) {
		out_printf(o, "No such backend: %s\n", bname);
		return;
	}
	if (be->cfg->mode != CFG_MODE_HTTP) {
		out_put(o, "Servers can only be added to HTTP backends.\n", 44);
		return;
	}
	rc = be_server_add(be, slash + 1, argv[3], (unsigned)v[0], (unsigned)v[1], SRV_ADMIN_MAINT);
	if (rc)
		out_printf(o, "Cannot add server %s: %s.\n", spec, be_srv_strerror(rc));
	else
		out_put(o, "New server registered.\n", 23);
}

/* `del server BE/SRV`: only a server in maintenance that holds no stream. */
static void cmd_del_server(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	struct server *s = cli_find_server(e, argc > 2 ? argv[2] : NULL, o);
	int rc;

	if (!s)
		return;
	rc = be_server_del(s);
	if (rc)
		out_printf(o, "Cannot remove server %s: %s.\n", argv[2], be_srv_strerror(rc));
	else
		out_put(o, "Server deleted.\n", 16);
}

static const struct cli_cmd cli_cmds[] = {
	{ { "help" }, CFG_CLI_USER, "help", "list the commands", cmd_help },
	{ { "show", "info" }, CFG_CLI_USER, "show info", "process-wide figures", cmd_show_info },
	{ { "show", "stat" }, CFG_CLI_USER, "show stat", "HAProxy's CSV of frontends, servers, backends", cmd_show_stat },
	{ { "show", "servers", "state" }, CFG_CLI_USER, "show servers state [BE]", "state of every server", cmd_show_servers },
	{ { "show", "pools" }, CFG_CLI_USER, "show pools", "the buffer pool and its wait queues", cmd_show_pools },
	{ { "set", "server" }, CFG_CLI_OPERATOR, "set server BE/SRV state ready|drain|maint | weight N",
	  "change a server's state or weight", cmd_set_server },
	{ { "disable", "server" }, CFG_CLI_ADMIN, "disable server BE/SRV", "put a server in maintenance", cmd_able_server },
	{ { "enable", "server" }, CFG_CLI_ADMIN, "enable server BE/SRV", "take a server out of maintenance", cmd_able_server },
	{ { "add", "server" }, CFG_CLI_ADMIN, "add server BE/SRV ADDR:PORT [weight N] [maxconn N]",
	  "add a server (in maintenance)", cmd_add_server },
	{ { "del", "server" }, CFG_CLI_ADMIN, "del server BE/SRV", "remove a server in maintenance holding no stream",
	  cmd_del_server },
	{ { "reload" }, CFG_CLI_ADMIN, "reload", "load the configuration file again (as SIGHUP)", cmd_reload },
};

static const char *const level_names[] = { "user", "operator", "admin" };

static void cmd_help(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	out_printf(o, "The following commands are valid at this level (%s):\n", level_names[level]);
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++)
		if (level >= cli_cmds[i].level)
			out_printf(o, "  %-52s : %s\n", cli_cmds[i].usage, cli_cmds[i].help);
}

/* Runs one command (words in argv[0..argc)). */
static void cli_exec(struct engine *e, int level, int argc, char **argv, struct cli_out *o)
{
	for (size_t i = 0; i < sizeof(cli_cmds) / sizeof(cli_cmds[0]); i++) {
		const struct cli_cmd *c = &cli_cmds[i];
		int w = 0;

		while (w < 3 && c->words[w] && w < argc && strcmp(c->words[w], argv[w]) == 0)
			w++;
		if (w < 3 && c->words[w])
			continue;
		if (level < c->level) {
			out_put(o, "Permission denied\n", 18);
			return;
		}
		c->fn(e, level, argc, argv, o);
		return;
	}
	out_printf(o, "Unknown command: '%s'. Type 'help' for the list.\n", argv[0]);
}

int cli_run(struct engine *e, int level, const char *line, char **out, size_t *len)
{
	struct cli_out o = { *out, *len, *out ? *len + 1 : 0, 0 };
	char *copy = strdup(line), *cmd, *save = NULL;

	if (!copy)
		return -1;
	for (cmd = strtok_r(copy, ";\n", &save); cmd; cmd = strtok_r(NULL, ";\n", &save)) {
		char *argv[16], *wsave = NULL, *w;
		int argc = 0;

		for (w = strtok_r(cmd, " \t\r", &wsave); w && argc < 16; w = strtok_r(NULL, " \t\r", &wsave))
			argv[argc++] = w;
		if (!argc)
			continue;
		cli_exec(e, level, argc, argv, &o);
		/* HAProxy ends each answer with an empty line */
		out_put(&o, "\n", 1);
	}
	free(copy);
	*out = o.p;
	*len = o.len;
	return o.oom ? -1 : 0;
}

/* ---- the socket ---- */

/* Frees connection <c>. A client waiting in the backlog behind a full
 * socket is accepted now: no new edge would announce it. */
static void cli_conn_free(struct cli_conn *c)
{
	struct cli *cli = c->cli;

	eng_list_del(&c->link);
	cli->nb_conns--;
	close(c->fd);
	free(c->out);
	task_kill(&c->task, 1);
	if (cli->full) {
		cli->full = 0;
		tasklet_wakeup(&cli->tl, SCHED_R_READ);
	}
}

/* Gives <c> another `stats timeout` from now: it moved bytes. */
static void cli_conn_touch(struct cli_conn *c)
{
	const struct thr_ctx *tc = c->cli->tc;

	task_schedule(&c->task, tc_now(tc) + tc->eng->cfg->g.cli_timeout_ms);
}

/* Writes what is left of the answer. Returns 1 when all of it went (or
 * the peer is gone), 0 when the socket is full. */
static int cli_conn_flush(struct cli_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n > 0) {
			c->out_off += (size_t)n;
			cli_conn_touch(c);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : 1;
	}
	return 1;
}

/* A client's events: read its line, answer, close once written. */
static void cli_conn_cb(struct tasklet *t, unsigned reasons)
{
	struct cli_conn *c = t->ctx;
	struct engine *e = c->cli->tc->eng;

	if (reasons & SCHED_R_TIMER) {
		/* idle for `stats timeout`: the timer is re-armed on every
		 * byte moved, so it fires only on a client that stalls */
		cli_conn_free(c);
		return;
	}
	while (!c->answered) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* the rest of the line comes with the next event */
		if (n > 0) {
			c->in_len += (size_t)n;
			cli_conn_touch(c);
		}
		c->in[c->in_len] = 0;
		nl = strchr(c->in, '\n');
		if (!nl && n > 0 && c->in_len < sizeof(c->in) - 1)
			continue;
		if (!nl && c->in_len == sizeof(c->in) - 1) {
			c->out = strdup("Command line too long.\n\n");
			c->out_len = c->out ? strlen(c->out) : 0;
		} else if (cli_run(e, e->cfg->g.cli_level, c->in, &c->out, &c->out_len) < 0) {
			free(c->out);
			c->out = strdup("Out of memory.\n\n");
			c->out_len = c->out ? strlen(c->out) : 0;
		}
		c->answered = 1;
	}
	if (cli_conn_flush(c))
		cli_conn_free(c);
}

/* Accepts the clients waiting on the socket, up to `stats maxconn` served
 * at once; the others wait in the backlog until one leaves. */
static void cli_accept_cb(struct tasklet *t, unsigned reasons)
{
	struct cli *cli = t->ctx;

	for (int i = 0; i < 16; i++) {
		int fd;
		struct cli_conn *c;

		if (cli->nb_conns >= cli->tc->eng->cfg->g.cli_maxconn) {
			cli->full = 1;
			return;
		}
		fd = accept4(cli->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->cli = cli;
		task_init(&c->task, cli->tc->thr, cli_conn_cb, c);
		eng_list_append(&cli->conns, &c->link);
		cli->nb_conns++;
		if (sched_fd_add(&c->task.tl, fd) < 0) {
			cli_conn_free(c);
			continue;
		}
		cli_conn_touch(c);
		/* a client that wrote at once would wait for an edge already past */
		task_wakeup(&c->task, SCHED_R_READ);
	}
	tasklet_wakeup(&cli->tl, SCHED_R_READ);
}

struct cli *cli_open(struct thr_ctx *tc)
{
	const struct cfg_global *g = &tc->eng->cfg->g;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct cli *cli;
	int fd, err;

	if (strlen(g->cli_path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(sa.sun_path, g->cli_path, strlen(g->cli_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* a file left by a process that died is in the way; a live one
	 * would be too, and bind() below then fails as it should not: this
	 * proxy's own previous run owns the path */
	(void)unlink(g->cli_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(g->cli_path, g->cli_mode) < 0 ||
	    listen(fd, 16) < 0)
		goto fail;
	cli = calloc(1, sizeof(*cli));
	if (!cli) {
		errno = ENOMEM;
		goto fail;
	}
	cli->fd = fd;
	cli->tc = tc;
	eng_list_init(&cli->conns);
	tasklet_init(&cli->tl, tc->thr, cli_accept_cb, cli);
	if (sched_fd_add(&cli->tl, fd) < 0) {
		err = errno;
		tasklet_kill(&cli->tl, 1);
		errno = err;
		goto fail;
	}
	return cli;
fail:
	err = errno;
	close(fd);
	errno = err;
	return NULL;
}

void cli_close(struct cli *cli)
{
	if (!cli)
		return;
	cli->full = 0;  /* nothing more is accepted */
	while (!eng_list_empty(&cli->conns))
		cli_conn_free(eng_list_entry(cli->conns.next, struct cli_conn, link));
	(void)sched_fd_del(cli->tc->thr, cli->fd);
	close(cli->fd);
	/* after a reload the path may be the next generation's socket */
	if (!cli->tc->eng->cli_keep_path)
		(void)unlink(cli->tc->eng->cfg->g.cli_path);
	tasklet_kill(&cli->tl, 1);
}

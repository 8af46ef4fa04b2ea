/* cli.h - the command socket (`stats socket PATH [mode M] [level L]`,
 * `stats timeout TIME`, `stats maxconn N`).
 *
 * Contract
 * --------
 * A UNIX stream socket served by worker thread 0, speaking HAProxy's
 * command language where it applies, one command per line (several may be
 * separated by ';'), non-interactive: the connection closes once the
 * answers are written (`echo "show info" | socat stdio PATH`).
 * At most `stats maxconn` clients (10) are served at once; the next ones
 * wait in the socket's backlog until one leaves. A client that moves no
 * byte for `stats timeout` (10 s) is closed, so that clients which neither
 * send their line nor read their answer cannot hold every slot.
 *
 *   help                                  the commands and the caller's level
 *   show info                             process-wide figures, "Name: value"
 *   show stat                             HAProxy's CSV (the stats page's `;csv`)
 *   show servers state [BACKEND]          one line per server
 *   show pools                            the buffer pool and its wait queues
 *   set server BE/SRV state ready|drain|maint
 *   set server BE/SRV weight N
 *   disable server BE/SRV                 same as state maint
 *   enable server BE/SRV                  same as state ready
 *   reload                                the configuration again (sluice_reload), admin
 *
 * Levels: `user` may only show; `operator` may also set weights and drain;
 * `admin` (the default) may do everything. State and weight changes act on
 * load balancing at once and are safe from this thread (backend.h); the
 * streams that hold a slot of a drained server finish normally.
 *
 * The socket never touches the buffer pool: a command's answer is built in
 * heap memory owned by its connection, whose size is bounded by the
 * configuration (one CSV line per server), and freed with the connection.
 */
#ifndef SLUICE_ENGINE_CLIENT_CLI_H
#define SLUICE_ENGINE_CLIENT_CLI_H

#include "engine/core/ctx.h"

struct cli;

/* Opens the command socket of the configuration on thread <tc> (replacing
 * a stale socket file). Returns it, or NULL with errno set. */
struct cli *cli_open(struct thr_ctx *tc);

/* Closes the command socket, its connections, and removes the file. */
void cli_close(struct cli *cli);

/* Runs the command line <line> (one or more commands separated by ';') as
 * if it came from the socket at <level> (enum cfg_cli_level), appending the
 * answers to *out (a malloc'ed string of *len bytes, NUL-terminated, grown
 * as needed). Returns 0, or -1 without memory. For tests and embedders. */
int cli_run(struct engine *e, int level, const char *line, char **out, size_t *len);

#endif /* SLUICE_ENGINE_CLIENT_CLI_H */

/* srvctl.c - a host that changes its proxy's servers while traffic flows.
 *
 * Runs the engine of the configuration file given as argument, prints
 * "ready" once it listens, then takes one command per line on stdin and
 * answers each with "ok" or "error: WHY" on stdout:
 *
 *   add BACKEND SERVER ADDR:PORT [WEIGHT]    a new server, ready at once
 *   del BACKEND SERVER                       remove it (maintenance, idle)
 *   state BACKEND SERVER ready|drain|maint
 *   weight BACKEND SERVER N
 *   quit                                     (or end of input) stop gracefully
 *
 * The calls are sluice.h's "Servers from the host"; this program makes them
 * from its main thread while the engine's workers serve requests.
 * Build: cc srvctl.c $(pkg-config --cflags --libs sluice)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sluice.h>

/* Runs one command line. Returns 0 to go on, 1 to stop. */
static int run(struct sluice *e, char *line)
{
	char *w[6] = { 0 }, *save = NULL, *err = NULL;
	int n = 0, rc = -1;

	for (char *t = strtok_r(line, " \t\r\n", &save); t && n < 6; t = strtok_r(NULL, " \t\r\n", &save))
		w[n++] = t;
	if (!n)
		return 0;
	if (!strcmp(w[0], "quit"))
		return 1;
	if (!strcmp(w[0], "add") && (n == 4 || n == 5))
		rc = sluice_server_add(e, w[1], w[2], w[3], n == 5 ? (unsigned)atoi(w[4]) : 1, 0,
		                       SLUICE_SERVER_READY, &err);
	else if (!strcmp(w[0], "del") && n == 3)
		rc = sluice_server_del(e, w[1], w[2], &err);
	else if (!strcmp(w[0], "state") && n == 4) {
		enum sluice_server_state st = !strcmp(w[3], "ready") ? SLUICE_SERVER_READY :
		                              !strcmp(w[3], "drain") ? SLUICE_SERVER_DRAIN : SLUICE_SERVER_MAINT;

		if (strcmp(w[3], "ready") && strcmp(w[3], "drain") && strcmp(w[3], "maint"))
			err = strdup("state must be ready, drain or maint");
		else
			rc = sluice_server_set_state(e, w[1], w[2], st, &err);
	} else if (!strcmp(w[0], "weight") && n == 4)
		rc = sluice_server_set_weight(e, w[1], w[2], (unsigned)atoi(w[3]), &err);
	else
		err = strdup("unknown command (add, del, state, weight, quit)");
	if (rc == 0)
		printf("ok\n");
	else
		printf("error: %s\n", err ? err : "failed");
	free(err);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	char line[512], *err = NULL;
	struct sluice *e;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
		return 2;
	}
	e = sluice_new_from_file(argv[1], &err);
	if (!e || sluice_start(e, &err) < 0) {
		fprintf(stderr, "srvctl: %s\n", err ? err : "failed");
		free(err);
		sluice_free(e);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) && !run(e, line))
		;
	sluice_stop(e, SLUICE_STOP_GRACEFUL);
	sluice_wait(e);
	sluice_free(e);
	return 0;
}

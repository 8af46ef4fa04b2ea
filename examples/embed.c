/* embed.c - libsluice inside another program, in about thirty lines.
 *
 * Runs a proxy on 127.0.0.1:8090 in front of 127.0.0.1:8081 for <seconds>
 * (default 5), then stops it gracefully and prints two counters.
 * Build: cc embed.c $(pkg-config --cflags --libs sluice)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sluice.h>

static const char config[] =
	"global\n  nbthread 1\n  tune.buffers.limit 64\n  tune.buffers.reserve 8\n"
	"defaults\n  mode http\n  timeout client 10s\n  timeout server 10s\n  timeout connect 2s\n"
	"frontend web\n  bind 127.0.0.1:8090\n  default_backend app\n"
	"backend app\n  server app1 127.0.0.1:8081 maxconn 32\n";

int main(int argc, char **argv)
{
	struct sluice_stats st;
	char *err = NULL;
	struct sluice *e = sluice_new_from_text(config, "embedded", &err);

	if (!e || sluice_start(e, &err) < 0) {
		fprintf(stderr, "embed: %s\n", err ? err : "failed");
		free(err);
		sluice_free(e);
		return 1;
	}
	sleep(argc > 1 ? (unsigned)atoi(argv[1]) : 5);
	sluice_stop(e, SLUICE_STOP_GRACEFUL);
	sluice_wait(e);
	sluice_stats(e, &st);
	printf("requests %llu, buffers in use %llu\n",
	       (unsigned long long)st.req_received, (unsigned long long)st.pool_in_use);
	sluice_free(e);
	return 0;
}

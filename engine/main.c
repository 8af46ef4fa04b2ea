/* main.c - the sluice binary: a thin client of libsluice.
 *
 *   sluice [-f FILE] [-c] [-d] [-v]
 *
 * Signals are handled by one thread with sigwait(), never by handlers, so
 * the engine's API is only ever called from a normal thread:
 *   SIGTERM, SIGINT  graceful stop (a second one stops at once)
 *   SIGUSR1          soft stop: stop accepting, finish whatever is running
 *   SIGHUP           reload the configuration (sluice_reload): the file of
 *                    -f is read again; an invalid one is reported with its
 *                    file:line and the running configuration stays; without
 *                    -f, the built-in configuration is started again
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/sluice.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sluice [-f FILE] [-c] [-d] [-v]\n"
		"  -f FILE  configuration file (default: the built-in configuration)\n"
		"  -c       check the configuration and exit\n"
		"  -d       debug: log events to stderr (sluice always stays in the foreground)\n"
		"  -v       print the version and exit\n"
		"  -h       this help\n");
}

struct sig_ctx {
	struct sluice *engine;
	int done;               /* atomic: the engine ended, the thread must leave */
};

/* Turns signals into engine stops, until main says the engine ended (then
 * the engine may be freed: this thread never touches it again). */
static void *signal_thread(void *arg)
{
	struct sig_ctx *sc = arg;
	struct sluice *e = sc->engine;
	sigset_t set;
	int stops = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig;

		if (sigwait(&set, &sig) != 0)
			continue;
		if (__atomic_load_n(&sc->done, __ATOMIC_ACQUIRE))
			return NULL;
		if (sig == SIGHUP) {
			char *err = NULL;

			if (sluice_reload(e, NULL, &err) < 0) {
				fprintf(stderr, "sluice: reload refused, the running configuration stays: %s\n",
					err ? err : "out of memory");
				free(err);
			} else {
				if (sluice_warnings(e))
					fprintf(stderr, "%s\n", sluice_warnings(e));
				fprintf(stderr, "sluice: configuration reloaded\n");
			}
		} else if (sig == SIGUSR1) {
			fprintf(stderr, "sluice: soft stop requested\n");
			sluice_stop(e, SLUICE_STOP_SOFT);
		} else if (stops++ == 0) {
			fprintf(stderr, "sluice: graceful stop requested\n");
			sluice_stop(e, SLUICE_STOP_GRACEFUL);
		} else {
			fprintf(stderr, "sluice: stopping now\n");
			sluice_stop(e, SLUICE_STOP_NOW);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	int check = 0, debug = 0, opt;
	struct sluice *e;
	char *err = NULL;
	sigset_t set;
	pthread_t sig_thr;
	struct sig_ctx sc = { 0 };
	int ret, sig_started = 0;

	while ((opt = getopt(argc, argv, "f:cdvh")) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'c': check = 1; break;
		case 'd': debug = 1; break;
		case 'v': printf("sluice %s\n", sluice_version()); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	e = file ? sluice_new_from_file(file, &err)
		 : sluice_new_from_text(sluice_default_config(), "<built-in>", &err);
	if (!e) {
		fprintf(stderr, "sluice: %s\n", err ? err : "out of memory");
		free(err);
		return 1;
	}
	if (sluice_warnings(e))
		fprintf(stderr, "%s\n", sluice_warnings(e));
	/* the binary registers no service of its own: a use-service must
	 * name one of the engine's */
	if (sluice_check(e, &err) < 0) {
		fprintf(stderr, "sluice: %s\n", err ? err : "out of memory");
		free(err);
		sluice_free(e);
		return 1;
	}
	if (check) {
		printf("configuration %s is valid\n", file ? file : "<built-in>");
		sluice_free(e);
		return 0;
	}
	sluice_set_debug(e, debug);

	/* the workers inherit this mask: only the signal thread gets signals */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (sluice_start(e, &err) < 0) {
		fprintf(stderr, "sluice: %s\n", err ? err : "cannot start");
		free(err);
		sluice_free(e);
		return 1;
	}
	fprintf(stderr, "sluice %s: started (pid %d)\n", sluice_version(), (int)getpid());
	sc.engine = e;
	if (pthread_create(&sig_thr, NULL, signal_thread, &sc) != 0) {
		fprintf(stderr, "sluice: cannot start the signal thread: %s\n", strerror(errno));
		sluice_stop(e, SLUICE_STOP_NOW);
	} else {
		sig_started = 1;
	}
	ret = sluice_wait(e);
	if (sig_started) {
		/* release the signal thread before freeing what it points to */
		__atomic_store_n(&sc.done, 1, __ATOMIC_RELEASE);
		pthread_kill(sig_thr, SIGTERM);
		pthread_join(sig_thr, NULL);
	}
	fprintf(stderr, "sluice: stopped\n");
	sluice_free(e);
	return ret ? 1 : 0;
}

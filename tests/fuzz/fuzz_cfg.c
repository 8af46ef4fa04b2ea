/* fuzz_cfg.c - fuzz target: the configuration parser (engine/core/cfg.h).
 *
 * The input is a configuration text. It is parsed from a NUL-terminated
 * block of exactly its size (a read past the NUL is a read past the block),
 * then every blank-separated word of it also goes through cfg_parse_time()
 * and cfg_parse_size(). Checked after every input:
 *   - exactly one of cfg and error message comes back;
 *   - the message starts with "NAME:LINE: " and LINE is a line of the text;
 *   - a parsed cfg is consistent (the resolved values cfg.h promises);
 *   - parsing the same text twice gives the same outcome (no hidden state);
 *   - nothing leaks (LeakSanitizer, at exit of the replay or per input
 *     under libFuzzer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/core/cfg.h"
#include "tests/fuzz/fuzz_common.h"

/* Checks the error message <err> for a text of <lines> lines. */
static void cfgfz_check_err(const char *err, unsigned lines)
{
	const char *q = err;
	unsigned long line = 0;

	FZ_CHECK(strncmp(q, "f.cfg:", 6) == 0, "error without the file name: '%s'", err);
	q += 6;
	FZ_CHECK(*q >= '0' && *q <= '9', "error without a line: '%s'", err);
	while (*q >= '0' && *q <= '9')
		line = line * 10 + (unsigned long)(*q++ - '0');
	FZ_CHECK(strncmp(q, ": ", 2) == 0 && q[2], "malformed error '%s'", err);
	/* the checks after the last line may name line lines + 1 at most */
	FZ_CHECK(line <= lines + 1, "error names line %lu of %u: '%s'", line, lines, err);
}

/* Checks that a parsed cfg holds the resolved values cfg.h promises. */
static void cfgfz_check_cfg(const struct cfg *c)
{
	unsigned i, j;

	FZ_CHECK(c->g.bufsize >= 1024 && c->g.maxrewrite * 2 < c->g.bufsize, "bufsize %zu rewrite %zu",
	         c->g.bufsize, c->g.maxrewrite);
	FZ_CHECK(!c->g.buf_limit || c->g.buf_reserve < c->g.buf_limit, "reserve %llu limit %llu",
	         (unsigned long long)c->g.buf_reserve, (unsigned long long)c->g.buf_limit);
	FZ_CHECK(c->g.fail_alloc_pct >= 0 && c->g.fail_alloc_pct <= 100, "fail-alloc %f",
	         c->g.fail_alloc_pct);
	FZ_CHECK(c->g.nbthread >= 1, "nbthread %u", c->g.nbthread);
	FZ_CHECK(c->g.h2_max_header_list > 0, "h2 header list unresolved");
	for (i = 0; i < c->nb_frontends; i++) {
		const struct cfg_frontend *fe = &c->frontends[i];

		FZ_CHECK(fe->name && fe->nb_binds > 0 && fe->binds && fe->maxconn > 0, "frontend %u", i);
		FZ_CHECK(fe->backend_idx >= -1 && fe->backend_idx < (int)c->nb_backends, "frontend %u idx", i);
		if (fe->backend_idx >= 0) {
			const struct cfg_backend *be = &c->backends[fe->backend_idx];

			FZ_CHECK(fe->default_backend && !strcmp(be->name, fe->default_backend),
			         "frontend %u names another backend", i);
			FZ_CHECK(be->mode == fe->mode, "frontend %u mode differs from its backend", i);
			FZ_CHECK(be->nb_servers > 0 || fe->stats_enabled || be->stats_enabled,
			         "frontend %u uses a backend without servers", i);
		}
		FZ_CHECK(!fe->stats_enabled || fe->stats_uri, "frontend %u stats uri", i);
		FZ_CHECK(fe->t.client_ms && fe->t.http_request_ms && fe->t.http_keep_alive_ms,
		         "frontend %u timeouts unresolved", i);
		for (j = 0; j < i; j++)
			FZ_CHECK(strcmp(c->frontends[j].name, fe->name), "frontend name '%s' twice", fe->name);
	}
	for (i = 0; i < c->nb_backends; i++) {
		const struct cfg_backend *be = &c->backends[i];

		FZ_CHECK(be->name && (!be->nb_servers || be->servers), "backend %u", i);
		FZ_CHECK(!be->chk_method == !be->chk_uri, "backend %u httpchk half set", i);
		FZ_CHECK(!be->stats_enabled || be->stats_uri, "backend %u stats uri", i);
		FZ_CHECK(be->t.queue_ms && be->t.connect_ms && be->t.server_ms, "backend %u timeouts", i);
		for (j = 0; j < be->nb_servers; j++) {
			const struct cfg_server *s = &be->servers[j];

			FZ_CHECK(s->name && s->weight <= 256, "server %u/%u", i, j);
			FZ_CHECK(s->addr.ss_family == AF_INET || s->addr.ss_family == AF_INET6,
			         "server %u/%u address family %d", i, j, s->addr.ss_family);
		}
		for (j = 0; j < i; j++)
			FZ_CHECK(strcmp(c->backends[j].name, be->name), "backend name '%s' twice", be->name);
	}
}

/* Parses <text> once, checks the outcome, and returns 1 for a cfg, 0 for an
 * error (everything freed). */
static int cfgfz_parse(const char *text, unsigned lines)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "f.cfg", &err);

	FZ_CHECK(!c != !err, "cfg=%p err=%p", (void *)c, (void *)err);
	if (err) {
		cfgfz_check_err(err, lines);
		free(err);
		return 0;
	}
	cfgfz_check_cfg(c);
	cfg_free(c);
	return 1;
}

/* libFuzzer entry: one input is a configuration text. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, *word, *save = NULL;
	unsigned lines = 1;
	uint64_t sz;
	uint32_t ms;
	int ok;

	if (size > 65536)
		return 0;  /* configurations are small; long inputs only slow the campaign */
	text = fz_strdup(data, size);
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	ok = cfgfz_parse(text, lines);
	FZ_CHECK(cfgfz_parse(text, lines) == ok, "a second parse of the same text differs");

	/* each word through the number parsers, each in its own exact block */
	for (word = strtok_r(text, " \t\n", &save); word; word = strtok_r(NULL, " \t\n", &save)) {
		char *w = fz_strdup((const uint8_t *)word, strlen(word));

		if (cfg_parse_time(w, &ms) == 0)
			FZ_CHECK(w[0] >= '0' && w[0] <= '9', "time '%s' accepted", w);
		if (cfg_parse_size(w, &sz) == 0)
			FZ_CHECK(w[0] >= '0' && w[0] <= '9', "size '%s' accepted", w);
		free(w);
	}
	free(text);
	return 0;
}

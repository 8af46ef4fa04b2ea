/* cfg_robust.c - the configuration parser under hostile input.
 *
 * A plain program (no Criterion) so that LeakSanitizer's report at exit
 * fails the test, and so that every build, TSan included, runs it. It parses
 * a corpus of valid and invalid configurations, then deterministic mutations
 * of them (bytes flipped, inserted, deleted, lines spliced), and checks after
 * each parse that exactly one of cfg and error came back, that the error has
 * the "FILE:LINE: " form, and that a returned cfg is internally consistent.
 * Exits non-zero on the first broken invariant.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/core/cfg.h"

#define ITERATIONS   20000
#define TIME_LIMIT_S 15

static const char *const corpus[] = {
	NULL, /* cfg_default_text() */
	"global\n nbthread 4\n tune.bufsize 32k\n tune.maxrewrite 2k\n tune.buffers.limit 64\n"
	" tune.buffers.reserve 4\n tune.fail-alloc 1.5\n grace 3s\n log stderr\n daemon\n"
	"defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n"
	" option httpchk GET /health\n http-check expect status 200\n default-server inter 1s check\n"
	"frontend f\n bind :8080 proto h2\n bind [::1]:8081,127.0.0.1:8082\n use_backend b\n"
	" default_backend b\n option forwardfor\n stats uri \"/st ats\"\n"
	"backend b\n balance leastconn\n server s1 127.0.0.1:9001 maxconn 2 weight 3\n"
	" server s2 [::1]:9002 rise 2 fall 3 proto h2 backup\n",
	"listen l 127.0.0.1:9000\n mode tcp\n server a 10.0.0.1:1\n server b 10.0.0.2:2 disabled\n"
	"listen s\n bind :::9001\n stats enable\n stats refresh 5s\n",
	"defaults\n no option redispatch\n option http-server-close # comment\n"
	"frontend 'quoted name'\n bind :1\n",
	"frontend f\n bind :80\n default_backend missing\n",
	"global\n tune.buffers.limit 2\n",
	"frontend f\n http-request deny\n",
	/* request rules: every error path of acl.c and the rule parsers
	 * must free what it built */
	"frontend f\n bind :80\n acl a path_beg /api /v2\n acl a hdr(host) -i -m end .example\n"
	" acl n src 10.0.0.0/8 ::1/128\n acl r path_reg -i ^/x(y|z)$\n acl p dst_port 80:90 ge 1000\n"
	" use_backend c if a !n || { method POST } r\n use_backend b unless p\n"
	" http-request set-header X-Src %[src]-%[hdr(host),lower] if a\n http-request del-header X-Y\n"
	" http-request replace-header Host (.*):80 \\1\n http-request set-path /p%[path]\n"
	" http-request deny deny_status 429 if { url_param(x) 1 }\n"
	" http-request return status 200 content-type text/plain string ok if { path /ok }\n"
	" http-request redirect prefix /new code 307 if { path_beg /old }\n"
	" http-response set-status 299 reason Fine\n http-response add-header X-R 1\n"
	" option forwardfor except 127.0.0.0/8 header X-Real-IP\n default_backend b\n"
	"backend b\n server s 127.0.0.1:1\nbackend c\n server s 127.0.0.1:2\n",
	/* TLS layers (no file needed): saved default words must be freed on
	 * every path, and replayed words must never be read after that */
	"global\n ssl-default-server-options ssl-min-ver TLSv1.3 no-tls-tickets\n"
	"defaults\n default-server ssl verify none sni str(a.test) alpn h2\n"
	"frontend f\n bind :80\n default_backend b\n"
	"backend b\n default-server curves P-256 ssl-max-ver TLSv1.3\n server s1 127.0.0.1:2 no-ssl\n"
	" server s2 127.0.0.1:3 ciphers ECDHE-RSA-AES128-GCM-SHA256 no-tlsv13 ssl-min-ver TLSv1.2\n",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: deterministic so that a failure can be replayed */
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Returns 0 when the outcome of one parse is sound, else prints why and
 * returns -1. */
static int check_outcome(const char *text, struct cfg *c, char *err)
{
	unsigned i;

	if (!c == !err) {
		fprintf(stderr, "cfg=%p err=%p for:\n%s\n", (void *)c, (void *)err, text);
		return -1;
	}
	if (err) {
		const char *q = err;

		if (strncmp(q, "m.cfg:", 6) != 0)
			goto bad_err;
		q += 6;
		if (*q < '0' || *q > '9')
			goto bad_err;
		while (*q >= '0' && *q <= '9')
			q++;
		if (strncmp(q, ": ", 2) != 0 || !q[2])
			goto bad_err;
		free(err);
		return 0;
bad_err:
		fprintf(stderr, "malformed error '%s' for:\n%s\n", err, text);
		free(err);
		return -1;
	}
	for (i = 0; i < c->nb_frontends; i++) {
		const struct cfg_frontend *fe = &c->frontends[i];

		if (!fe->name || fe->nb_binds == 0 || !fe->binds || fe->maxconn == 0 ||
		    fe->backend_idx >= (int)c->nb_backends ||
		    (fe->backend_idx >= 0 && strcmp(c->backends[fe->backend_idx].name, fe->default_backend)) ||
		    (fe->stats_enabled && !fe->stats_uri) || fe->t.client_ms == 0 ||
		    fe->t.http_keep_alive_ms == 0) {
			fprintf(stderr, "inconsistent frontend %u for:\n%s\n", i, text);
			cfg_free(c);
			return -1;
		}
	}
	for (i = 0; i < c->nb_backends; i++) {
		const struct cfg_backend *be = &c->backends[i];

		if (!be->name || (be->nb_servers && !be->servers) || !be->chk_method != !be->chk_uri ||
		    be->t.queue_ms == 0 || be->t.connect_ms == 0) {
			fprintf(stderr, "inconsistent backend %u for:\n%s\n", i, text);
			cfg_free(c);
			return -1;
		}
	}
	if (c->g.bufsize < 1024 || c->g.maxrewrite * 2 >= c->g.bufsize ||
	    (c->g.buf_limit && c->g.buf_reserve >= c->g.buf_limit)) {
		fprintf(stderr, "inconsistent global settings for:\n%s\n", text);
		cfg_free(c);
		return -1;
	}
	cfg_free(c);
	return 0;
}

static int parse_and_check(const char *text)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "m.cfg", &err);

	return check_outcome(text, c, err);
}

/* Writes into <out> (capacity <cap>) a mutation of <src>. */
static void mutate(const char *src, char *out, size_t cap)
{
	static const char alphabet[] = " \t\n#\"'\\:[],*%0123456789kmsgxabcdefghilnoprstuvw.-_/@";
	size_t len = strlen(src);
	unsigned edits = 1 + (unsigned)(rnd() % 3), e;

	if (len >= cap)
		len = cap - 1;
	memcpy(out, src, len);
	out[len] = '\0';
	for (e = 0; e < edits; e++) {
		size_t at = len ? (size_t)(rnd() % len) : 0;
		char ch = alphabet[rnd() % (sizeof(alphabet) - 1)];

		switch (rnd() % 5) {
		case 0: /* replace a byte */
			if (len)
				out[at] = ch;
			break;
		case 1: /* insert a byte */
			if (len + 1 < cap) {
				memmove(out + at + 1, out + at, len - at + 1);
				out[at] = ch;
				len++;
			}
			break;
		case 2: /* delete a byte */
			if (len) {
				memmove(out + at, out + at + 1, len - at);
				len--;
			}
			break;
		case 3: { /* duplicate a run of bytes (often a whole line) */
			size_t n = 1 + (size_t)(rnd() % 40);

			if (at + n > len)
				n = len - at;
			if (len + n < cap) {
				memmove(out + at + n, out + at, len - at + 1);
				len += n;
			}
			break;
		}
		default: { /* swap in a line from another corpus entry */
			const char *other = corpus[1 + rnd() % (sizeof(corpus) / sizeof(corpus[0]) - 1)];
			const char *nl = strchr(other + rnd() % strlen(other), '\n');
			size_t n;

			if (!nl)
				break;
			n = (size_t)(strchrnul(nl + 1, '\n') - nl);
			if (len + n < cap) {
				memmove(out + at + n, out + at, len - at + 1);
				memcpy(out + at, nl, n);
				len += n;
			}
			break;
		}
		}
	}
}

int main(void)
{
	static char buf[8192];
	size_t nb = sizeof(corpus) / sizeof(corpus[0]), i;
	time_t start = time(NULL);
	unsigned it, parsed_ok = 0;

	for (i = 0; i < nb; i++)
		if (parse_and_check(corpus[i] ? corpus[i] : cfg_default_text()) < 0)
			return 1;
	for (it = 0; it < ITERATIONS; it++) {
		const char *src = corpus[rnd() % nb];
		char *err = NULL;
		struct cfg *c;

		mutate(src ? src : cfg_default_text(), buf, sizeof(buf));
		c = cfg_parse_text(buf, "m.cfg", &err);
		parsed_ok += c != NULL;
		if (check_outcome(buf, c, err) < 0) {
			fprintf(stderr, "iteration %u failed\n", it);
			return 1;
		}
		if (time(NULL) - start > TIME_LIMIT_S)
			break;
	}
	printf("cfg_robust: %u mutated configurations, %u accepted, %u rejected, all consistent\n",
	       it, parsed_ok, it - parsed_ok);
	return 0;
}

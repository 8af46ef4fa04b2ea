/* test_cfg.c - unit tests of the configuration parser (engine/cfg.h). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/cfg.h"

/* The TLS words of server lines, as error messages list them. */
#define SRVW "ssl, no-ssl, crt, verify, ca-file, sni, alpn, ssl-min-ver, ssl-max-ver, ciphers, " \
	"ciphersuites, curves, no-tls-tickets, no-ssl-reuse, ssl-reuse, tls-tickets, no-tlsv13, no-tlsv12, " \
	"no-tlsv11, no-tlsv10, no-sslv3"

/* A frontend and a backend that make any config complete. */
#define FEBE "frontend f\n bind :8080\n default_backend b\nbackend b\n server s1 127.0.0.1:81\n"

/* Parses <text> named "t.cfg", which must succeed. */
static struct cfg *ok(const char *text)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "t.cfg", &err);

	cr_assert_not_null(c, "unexpected error: %s\n--- config:\n%s", err ? err : "(null)", text);
	cr_assert_null(err);
	return c;
}

/* Parses <text> named "t.cfg", which must fail with exactly <want>. */
static void bad(const char *text, const char *want)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "t.cfg", &err);

	cr_assert_null(c, "expected the error \"%s\"\n--- config:\n%s", want, text);
	cr_assert_not_null(err);
	cr_expect_str_eq(err, want, "\n got: %s\nwant: %s", err, want);
	free(err);
}

/* Parses "global\n<line>\n" which must fail with "t.cfg:2: <want>". */
static void bad_global(const char *line, const char *want)
{
	char text[512], msg[512];

	snprintf(text, sizeof(text), "global\n %s\n", line);
	snprintf(msg, sizeof(msg), "t.cfg:2: %s", want);
	bad(text, msg);
}

/* Parses FEBE with <line> added to backend b (line 6), which must fail with
 * "t.cfg:6: <want>". */
static void bad_backend(const char *line, const char *want)
{
	char text[1024], msg[512];

	snprintf(text, sizeof(text), FEBE " %s\n", line);
	snprintf(msg, sizeof(msg), "t.cfg:6: %s", want);
	bad(text, msg);
}

/* Same with <line> added to frontend f (line 2). */
static void bad_frontend(const char *line, const char *want)
{
	char text[1024], msg[512];

	snprintf(text, sizeof(text), "frontend f\n %s\n bind :8080\n default_backend b\n"
	         "backend b\n server s1 127.0.0.1:81\n", line);
	snprintf(msg, sizeof(msg), "t.cfg:2: %s", want);
	bad(text, msg);
}

static void assert_addr(const struct sockaddr_storage *ss, socklen_t len, int family,
                        const char *ip, unsigned port)
{
	char buf[INET6_ADDRSTRLEN];

	cr_assert_eq(ss->ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		cr_assert_eq(len, sizeof(*sin));
		cr_assert_not_null(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
		cr_assert_eq(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		cr_assert_eq(len, sizeof(*sin6));
		cr_assert_not_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
		cr_assert_eq(ntohs(sin6->sin6_port), port);
	}
	cr_assert_str_eq(buf, ip);
}

/* ---------- times and sizes ---------- */

Test(cfg, parse_time_units)
{
	static const struct { const char *s; uint32_t ms; } good[] = {
		{ "0", 0 }, { "15", 15 }, { "15ms", 15 }, { "2s", 2000 }, { "3m", 180000 },
		{ "1h", 3600000 }, { "1d", 86400000 }, { "1500us", 2 }, { "1000us", 1 },
		{ "1us", 1 }, { "0us", 0 }, { "49d", 4233600000u }, { "4294967295", 4294967295u },
		{ "007s", 7000 },
	};
	static const char *const wrong[] = {
		"", "s", "ms", "10x", "10 s", " 10", "-1", "+1", "1.5s", "10S", "10MS", "50d",
		"4294967296", "4294968ms0", "99999999999999999999999", "10sec", "1hh",
	};
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		cr_assert_eq(cfg_parse_time(good[i].s, &v), 0, "'%s' rejected", good[i].s);
		cr_assert_eq(v, good[i].ms, "'%s' gave %u", good[i].s, v);
	}
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		v = 12345;
		cr_assert_eq(cfg_parse_time(wrong[i], &v), -1, "'%s' accepted", wrong[i]);
		cr_assert_eq(v, 12345, "'%s' wrote the output", wrong[i]);
	}
	cr_assert_eq(cfg_parse_time(NULL, &v), -1);
}

Test(cfg, parse_size_units)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "0", 0 }, { "16384", 16384 }, { "16k", 16384 }, { "16K", 16384 },
		{ "1m", 1048576 }, { "1M", 1048576 }, { "2g", 2147483648ull }, { "3G", 3221225472ull },
		{ "18446744073709551615", UINT64_MAX }, { "17179869183g", 17179869183ull << 30 },
	};
	static const char *const wrong[] = {
		"", "k", "16kb", "16x", "-1", "1.5k", " 16k", "16 k", "18446744073709551616",
		"17179869184g", "16t",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		cr_assert_eq(cfg_parse_size(good[i].s, &v), 0, "'%s' rejected", good[i].s);
		cr_assert_eq(v, good[i].v, "'%s' gave %llu", good[i].s, (unsigned long long)v);
	}
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		v = 12345;
		cr_assert_eq(cfg_parse_size(wrong[i], &v), -1, "'%s' accepted", wrong[i]);
		cr_assert_eq(v, 12345);
	}
}

/* ---------- global ---------- */

Test(cfg, empty_text_gives_builtin_globals)
{
	struct cfg *c = ok("");
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(c->g.nbthread, (unsigned)(cpus < 1 ? 1 : cpus > 64 ? 64 : cpus));
	cr_assert_eq(c->g.maxconn, 4096);
	cr_assert_eq(c->g.bufsize, 16384);
	cr_assert_eq(c->g.maxrewrite, 1024);
	cr_assert_eq(c->g.buf_limit, 0);
	cr_assert_eq(c->g.buf_reserve, 2);
	cr_assert_eq(c->g.fail_alloc_pct, 0.0);
	cr_assert_eq(c->g.h2_max_streams, 100);
	cr_assert_eq(c->g.h2_init_window, 65535);
	cr_assert_eq(c->g.h2_header_table, 4096);
	cr_assert_eq(c->g.h2_encoder_table, 0, "no encoder dynamic table by default");
	cr_assert_eq(c->g.h2_max_header_list, 16384, "defaults to bufsize");
	cr_assert_eq(c->g.grace_ms, 10000);
	cr_assert_null(c->g.log_target);
	cr_assert_eq(c->nb_frontends, 0);
	cr_assert_eq(c->nb_backends, 0);
	cr_assert_null(c->warnings);
	cfg_free(c);
}

Test(cfg, global_keywords)
{
	struct cfg *c = ok("global\n"
	                   "  nbthread 4\n"
	                   "  maxconn 20000\n"
	                   "  tune.bufsize 32k\n"
	                   "  tune.maxrewrite 2048\n"
	                   "  tune.buffers.limit 100\n"
	                   "  tune.buffers.reserve 10\n"
	                   "  tune.fail-alloc 2.5\n"
	                   "  tune.h2.max-concurrent-streams 250\n"
	                   "  tune.h2.initial-window-size 1m\n"
	                   "  tune.h2.header-table-size 8k\n"
	                   "  tune.h2.encoder-table-size 2k\n"
	                   "  tune.h2.max-header-list-size 64k\n"
	                   "  grace 2500ms\n"
	                   "  log /var/log/sluice.log\n");

	cr_assert_eq(c->g.nbthread, 4);
	cr_assert_eq(c->g.maxconn, 20000);
	cr_assert_eq(c->g.bufsize, 32768);
	cr_assert_eq(c->g.maxrewrite, 2048);
	cr_assert_eq(c->g.buf_limit, 100);
	cr_assert_eq(c->g.buf_reserve, 10);
	cr_assert_float_eq(c->g.fail_alloc_pct, 2.5, 1e-9);
	cr_assert_eq(c->g.h2_max_streams, 250);
	cr_assert_eq(c->g.h2_init_window, 1048576);
	cr_assert_eq(c->g.h2_header_table, 8192);
	cr_assert_eq(c->g.h2_encoder_table, 2048);
	cr_assert_eq(c->g.h2_max_header_list, 65536);
	cr_assert_eq(c->g.grace_ms, 2500);
	cr_assert_str_eq(c->g.log_target, "/var/log/sluice.log");
	cr_assert_null(c->warnings);
	cfg_free(c);
}

Test(cfg, global_edge_values)
{
	struct cfg *c = ok("global\n nbthread 256\n tune.bufsize 1m\n tune.fail-alloc 100%\n"
	                   " log stderr format raw local0\n grace 0\n"
	                   "global\n maxconn 1\n tune.h2.initial-window-size 0\n");

	cr_assert_eq(c->g.nbthread, 256);
	cr_assert_eq(c->g.bufsize, 1048576);
	cr_assert_float_eq(c->g.fail_alloc_pct, 100.0, 1e-9);
	cr_assert_str_eq(c->g.log_target, "stderr", "HAProxy's syslog words are ignored");
	cr_assert_eq(c->g.grace_ms, 0);
	cr_assert_eq(c->g.maxconn, 1, "a second global section adds to the first");
	cr_assert_eq(c->g.h2_init_window, 0);
	cfg_free(c);

	c = ok("global\n log 127.0.0.1:514 local3 info\n");
	cr_assert_str_eq(c->g.log_target, "127.0.0.1:514 local3", "the facility travels with the target");
	cfg_free(c);
	c = ok("global\n log udp@[::1] \n");
	cr_assert_str_eq(c->g.log_target, "udp@[::1]");
	cfg_free(c);
	c = ok("global\n log /dev/log daemon\n");
	cr_assert_str_eq(c->g.log_target, "/dev/log daemon");
	cfg_free(c);

	c = ok("global\n log stdout\n tune.bufsize 1024\n");
	cr_assert_str_eq(c->g.log_target, "stdout");
	cr_assert_lt(c->g.maxrewrite * 2, c->g.bufsize, "built-in maxrewrite adapts to bufsize");
	cfg_free(c);
}

Test(cfg, global_bad_values)
{
	bad_global("nbthread 0", "'nbthread' value '0' out of range (expected an integer from 1 to 256)");
	bad_global("nbthread 257", "'nbthread' value '257' out of range (expected an integer from 1 to 256)");
	bad_global("nbthread four", "'nbthread' invalid value 'four' (expected an integer from 1 to 256)");
	bad_global("nbthread -1", "'nbthread' invalid value '-1' (expected an integer from 1 to 256)");
	bad_global("nbthread", "'nbthread' missing number of threads");
	bad_global("nbthread 2 3", "'nbthread' unexpected argument '3'");
	bad_global("maxconn 0", "'maxconn' value '0' out of range (expected an integer from 1 to 10000000)");
	bad_global("tune.bufsize 512",
	           "'tune.bufsize' size '512' out of range (expected 1024 to 1048576 bytes)");
	bad_global("tune.bufsize 2m",
	           "'tune.bufsize' size '2m' out of range (expected 1024 to 1048576 bytes)");
	bad_global("tune.bufsize 16q",
	           "'tune.bufsize' invalid size '16q' (expected a number with an optional k, m or g suffix)");
	bad_global("tune.buffers.limit x",
	           "'tune.buffers.limit' invalid value 'x' (expected an integer from 0 to 4294967295)");
	bad_global("tune.buffers.reserve -2",
	           "'tune.buffers.reserve' invalid value '-2' (expected an integer from 0 to 4294967295)");
	bad_global("tune.fail-alloc 101", "'tune.fail-alloc' invalid percentage '101' (expected a number from 0 to 100)");
	bad_global("tune.fail-alloc -1", "'tune.fail-alloc' invalid percentage '-1' (expected a number from 0 to 100)");
	bad_global("tune.fail-alloc abc", "'tune.fail-alloc' invalid percentage 'abc' (expected a number from 0 to 100)");
	bad_global("tune.fail-alloc nan", "'tune.fail-alloc' invalid percentage 'nan' (expected a number from 0 to 100)");
	bad_global("tune.fail-alloc 5%%", "'tune.fail-alloc' invalid percentage '5%%' (expected a number from 0 to 100)");
	bad_global("tune.h2.max-concurrent-streams 0",
	           "'tune.h2.max-concurrent-streams' value '0' out of range (expected an integer from 1 to 2147483647)");
	bad_global("tune.h2.initial-window-size 2g",
	           "'tune.h2.initial-window-size' size '2g' out of range (expected 0 to 2147483647 bytes)");
	bad_global("tune.h2.header-table-size 65537",
	           "'tune.h2.header-table-size' size '65537' out of range (expected 0 to 65536 bytes)");
	bad_global("tune.h2.encoder-table-size 65537",
	           "'tune.h2.encoder-table-size' size '65537' out of range (expected 0 to 65536 bytes)");
	bad_global("tune.h2.max-header-list-size 0",
	           "'tune.h2.max-header-list-size' size '0' out of range (expected 1 to 4294967295 bytes)");
	bad_global("grace 10 s", "'grace' unexpected argument 's'");
	bad_global("grace soon",
	           "'grace' invalid time 'soon' (expected a number with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_global("log", "'log' missing target (stderr, stdout, a file path, a socket path or [udp@]ADDR[:PORT])");
	bad_global("log tcp@127.0.0.1:514 local0",
	           "'log' invalid log target 'tcp@127.0.0.1:514' (expected [udp@]ADDR[:PORT] with a numeric IPv4 or [IPv6] address)");
	bad_global("log udp@syslog.example:514",
	           "'log' invalid log target 'udp@syslog.example:514' (expected [udp@]ADDR[:PORT] with a numeric IPv4 or [IPv6] address)");
	bad_global("log 127.0.0.1:0", "'log' invalid log target '127.0.0.1:0' (expected [udp@]ADDR[:PORT] with a numeric IPv4 or [IPv6] address)");
	bad_global("log ::1:514", "'log' invalid log target '::1:514' (expected [udp@]ADDR[:PORT] with a numeric IPv4 or [IPv6] address)");
	bad_global("daemon yes", "'daemon' unexpected argument 'yes'");
	bad_global("user haproxy", "'user' not supported by Sluice: a reload reads the configuration "
	           "and certificates again in the running process; start it as the user it should run "
	           "as (the systemd unit does, with DynamicUser and CAP_NET_BIND_SERVICE)");
	bad_global("chroot /var/lib/haproxy", "'chroot' not supported by Sluice: a reload reads the "
	           "configuration and certificates again in the running process (the systemd unit "
	           "confines it with ProtectSystem=strict instead)");
	bad("global foo\n", "t.cfg:1: 'global' unexpected argument 'foo'");
}

Test(cfg, stats_socket_settings)
{
	struct cfg *c = ok("");

	cr_assert_null(c->g.cli_path);
	cr_assert_eq(c->g.cli_timeout_ms, 10000, "HAProxy's default stats timeout");
	cr_assert_eq(c->g.cli_maxconn, 10, "HAProxy's default stats maxconn");
	cfg_free(c);
	c = ok("global\n stats socket /run/s.sock mode 660 level operator\n"
	       " stats timeout 30s\n stats maxconn 3\n");
	cr_assert_str_eq(c->g.cli_path, "/run/s.sock");
	cr_assert_eq(c->g.cli_mode, 0660);
	cr_assert_eq(c->g.cli_level, CFG_CLI_OPERATOR);
	cr_assert_eq(c->g.cli_timeout_ms, 30000);
	cr_assert_eq(c->g.cli_maxconn, 3);
	cfg_free(c);

	bad_global("stats", "'stats' missing argument (expected socket, timeout or maxconn)");
	bad_global("stats timeout", "'stats' missing time");
	bad_global("stats socket", "'stats' missing socket path");
	bad_global("stats timeout soon",
	           "'stats' invalid time 'soon' for stats timeout (expected a number with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_global("stats timeout 0", "'stats' time '0' for stats timeout too small (expected at least 1ms)");
	bad_global("stats timeout 1s 2s", "'stats' unexpected argument '2s'");
	bad_global("stats maxconn 0",
	           "'stats' value '0' for stats maxconn out of range (expected an integer from 1 to 65535)");
	bad_global("stats bind-process 1",
	           "'stats' unsupported argument 'bind-process' in global (expected socket, timeout or maxconn)");
}

Test(cfg, buffer_limits_consistency)
{
	bad("global\n tune.bufsize 4k\n tune.maxrewrite 2k\n",
	    "t.cfg:3: 'tune.maxrewrite' 2048 must be less than half of tune.bufsize (4096)");
	/* the order of the lines does not matter: checked after the last one */
	bad("global\n tune.maxrewrite 9000\n\n tune.bufsize 16k\n",
	    "t.cfg:2: 'tune.maxrewrite' 9000 must be less than half of tune.bufsize (16384)");
	bad("global\n tune.buffers.limit 10\n tune.buffers.reserve 10\n",
	    "t.cfg:3: 'tune.buffers.reserve' 10 must be less than tune.buffers.limit (10)");
	bad("global\n tune.buffers.reserve 20\n tune.buffers.limit 10\n",
	    "t.cfg:2: 'tune.buffers.reserve' 20 must be less than tune.buffers.limit (10)");
	bad("global\n tune.buffers.limit 2\n",
	    "t.cfg:2: 'tune.buffers.limit' 2 must be greater than tune.buffers.reserve (2)");

	struct cfg *c = ok("global\n tune.buffers.limit 3\n");
	cr_assert_eq(c->g.buf_limit, 3);
	cr_assert_eq(c->g.buf_reserve, 2);
	cfg_free(c);
	c = ok("global\n tune.buffers.reserve 50\n");
	cr_assert_eq(c->g.buf_limit, 0, "no limit: any reserve goes");
	cfg_free(c);
}

Test(cfg, daemon_is_a_warning)
{
	struct cfg *c = ok("global\n daemon\n nbthread 1\n");

	cr_assert_eq(c->g.nbthread, 1);
	cr_assert_str_eq(c->warnings, "t.cfg: ignored, no effect in Sluice: 'daemon' (Sluice runs in the foreground) at line 2");
	cfg_free(c);
}

Test(cfg, unknown_and_misplaced_keywords)
{
	bad("global\n foo 1\n", "t.cfg:2: unknown keyword 'foo' in 'global' section");
	bad(FEBE " frobnicate\n", "t.cfg:6: unknown keyword 'frobnicate' in 'backend' section");
	bad("defaults\n bind :80\n", "t.cfg:2: 'bind' not allowed in 'defaults' section");
	bad("global\n mode http\n", "t.cfg:2: 'mode' not allowed in 'global' section");
	bad_frontend("nbthread 2", "'nbthread' not allowed in 'frontend' section");
	bad_frontend("server s 1.2.3.4:80", "'server' not allowed in 'frontend' section");
	bad_backend("bind :80", "'bind' not allowed in 'backend' section");
	bad_backend("use_backend x", "'use_backend' not allowed in 'backend' section");
	bad("nbthread 2\n",
	    "t.cfg:1: 'nbthread' outside of any section (expected global, defaults, frontend, backend or listen first)");
	bad("global\nuserlist admins\n", "t.cfg:2: 'userlist' sections are not supported by Sluice");
}

Test(cfg, rules_belong_to_frontends)
{
	bad_backend("use_backend b", "'use_backend' not allowed in 'backend' section");
	bad("defaults\n acl a path /x\n", "t.cfg:2: 'acl' not allowed in 'defaults' section");
	bad_backend("redirect location /", "'redirect' not supported by Sluice");
}

/* Parses FEBE plus backend c with <lines> in frontend f (from line 2). */
static struct cfg *ok_rules(const char *lines)
{
	char text[2048];

	snprintf(text, sizeof(text), "frontend f\n%s bind :8080\n default_backend b\n"
	         "backend b\n server s1 127.0.0.1:81\nbackend c\n server s1 127.0.0.1:82\n", lines);
	return ok(text);
}

Test(cfg, rules_parse)
{
	struct cfg *c = ok_rules(" acl api path_beg /api\n"
	                         " acl api path_beg /v2\n"
	                         " use_backend c if api || { hdr(host) -i c.example }\n"
	                         " http-request set-header X-Src %[src] unless api\n"
	                         " http-request add-header X-A a\n"
	                         " http-request del-header X-B\n"
	                         " http-request replace-header Host (.*):80 \\1\n"
	                         " http-request set-path /x%[path]\n"
	                         " http-request set-query a=1\n"
	                         " http-request set-method POST if { method PUT }\n"
	                         " http-request deny deny_status 429 if { src 10.0.0.0/8 }\n"
	                         " http-request return status 200 content-type text/plain string ok\n"
	                         " http-request redirect scheme https code 301 if !api\n"
	                         " http-response set-status 299 reason Fine\n"
	                         " http-response del-header Server\n");
	const struct cfg_rules *r = c->frontends[0].rules;

	cr_assert_not_null(r);
	cr_expect_eq(r->nb_ub, 1);
	cr_expect_eq(r->ub[0].backend_idx, 1, "resolved after parsing");
	cr_expect_eq(r->ub[0].line, 4);
	cr_expect_eq(r->nb_req, 10);
	cr_expect_eq(r->req[7].act, HA_DENY);
	cr_expect_eq(r->req[7].status, 429);
	cr_expect_eq(r->req[9].status, 301);
	cr_expect_eq(r->req[9].redir, CFG_REDIR_SCHEME);
	cr_expect_eq(r->nb_rsp, 2);
	cr_expect_eq(r->rsp[0].status, 299);
	cr_expect_eq(c->frontends[0].backend_idx, 0);
	cfg_free(c);
}

Test(cfg, rules_errors)
{
	bad_frontend("use_backend b if nope", "'use_backend' unknown ACL 'nope' (declare it with 'acl' before using it)");
	bad_frontend("use_backend zz if { path /x }",
	             "'use_backend' unknown backend 'zz' in frontend 'f' (line 1)");
	bad_frontend("use_backend b when x", "'use_backend' unexpected argument 'when' (expected if or unless)");
	bad_frontend("acl a path_reg ^(x", "'acl' invalid regex '^(x': missing closing parenthesis at offset 3");
	bad_frontend("acl a nosuch x", "'acl' unknown fetch 'nosuch'");
	bad_frontend("http-request set-header Content-Length 5",
	             "'http-request' cannot edit 'Content-Length' (it decides where the body ends)");
	bad_frontend("http-request set-header X \"a\\r\\nY: b\"",
	             "'http-request' CR, LF or NUL in 'a\r\nY: b' (would break the message head)");
	bad_frontend("http-request set-header X", "'http-request' 'set-header' expects a header name and a value");
	bad_frontend("http-request frob", "'http-request' unsupported action 'frob' (expected set-header, "
	             "add-header, del-header, replace-header, set-path, set-query, set-method, deny, return, redirect, use-service)");
	bad_frontend("http-request use-service", "'http-request' 'use-service' expects a service name");
	bad_frontend("http-request use-service a b", "'http-request' 'use-service' expects a service name");
	bad_frontend("http-request deny deny_status 99", "'http-request' value '99' for 'deny_status' out of range (expected an integer from 200 to 599)");
	bad_frontend("http-request redirect location /x code 304",
	             "'http-request' invalid redirect code '304' (expected 301, 302, 303, 307, 308)");
	bad_frontend("http-request redirect elsewhere /x",
	             "'http-request' unknown redirect type 'elsewhere' (expected location, prefix, scheme)");
	bad_frontend("http-response set-path /x", "'http-response' unsupported action 'set-path' (expected "
	             "set-header, add-header, del-header, replace-header, set-status)");
	bad_frontend("use_backend %[req.hdr(host),map(/nonexistent.map)]",
	             "'use_backend' map /nonexistent.map: cannot read (No such file or directory)");
	bad_frontend("errorfile 503 /nonexistent.http",
	             "'errorfile' cannot read '/nonexistent.http' (No such file or directory)");
	bad("frontend f\n mode tcp\n bind :1\n default_backend b\n use_backend b if { src 1.2.3.4 }\n"
	    "backend b\n mode tcp\n server s 127.0.0.1:1\n",
	    "t.cfg:1: 'frontend' 'f' is in tcp mode: http-request, http-response and conditional "
	    "use_backend need mode http");
}

Test(cfg, option_forwardfor_arguments)
{
	struct cfg *c = ok("defaults\n option forwardfor except 10.0.0.0/8 header X-Real-IP\n"
	                   "frontend f\n bind :80\n default_backend b\n"
	                   "backend b\n option forwardfor\n server s 127.0.0.1:1\n");

	cr_expect(c->frontends[0].forwardfor && c->frontends[0].fwd.except);
	cr_expect_eq(c->frontends[0].fwd.bits, 8);
	cr_expect_str_eq(c->frontends[0].fwd.hdr, "X-Real-IP");
	cr_expect(c->backends[0].forwardfor && !c->backends[0].fwd.except && !c->backends[0].fwd.hdr,
	          "a new option line starts from no arguments");
	cfg_free(c);
	bad_backend("option forwardfor except nonsense",
	            "'option' invalid network 'nonsense' after 'except' (expected ADDR[/BITS])");
	bad_backend("option forwardfor header", "'option' missing header name after 'header'");
	bad_backend("option forwardfor header \"a b\"", "'option' invalid character 0x20 in header name 'a b'");
	bad_backend("option forwardfor x", "'option' unexpected argument 'x' after 'forwardfor' "
	            "(expected except NET, header NAME)");
}

Test(cfg, errorfile)
{
	char path[64], text[256];
	FILE *f;
	struct cfg *c;

	snprintf(path, sizeof(path), "/tmp/test_cfg_ef_%d.http", getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", f);
	fclose(f);
	snprintf(text, sizeof(text), " errorfile 503 %s\n errorfile 503 %s\n", path, path);
	c = ok_rules(text);
	cr_assert_eq(c->frontends[0].rules->nb_ef, 1, "a later errorfile for a code replaces the earlier");
	cr_expect_eq(c->frontends[0].rules->ef[0].status, 503);
	cr_expect_eq(c->frontends[0].rules->ef[0].len, strlen("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"));
	cfg_free(c);
	f = fopen(path, "w");
	fputs("<html>oops</html>\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "errorfile 503 %s", path);
	{
		char want[256];

		snprintf(want, sizeof(want), "'errorfile' '%s' is not an HTTP/1 answer (expected a status "
		         "line, headers and an empty line)", path);
		bad_frontend(text, want);
	}
	unlink(path);
}

/* Writes <text> to a new file /tmp/test_cfg_<tag>_<pid>.http, named in <path>. */
static void answer_file(char *path, size_t size, const char *tag, const char *text)
{
	FILE *f;

	snprintf(path, size, "/tmp/test_cfg_%s_%d.http", tag, getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
}

/* Returns the answer of <status> among the errorfiles of <r>, or NULL. */
static const char *ef_of(const struct cfg_rules *r, int status)
{
	for (unsigned i = 0; r && i < r->nb_ef; i++)
		if (r->ef[i].status == status)
			return r->ef[i].msg;
	return NULL;
}

Test(cfg, errorfile_in_defaults)
{
	static const char *const busy = "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n",
	                         *no = "HTTP/1.1 403 No\r\nContent-Length: 0\r\n\r\n",
	                         *mine = "HTTP/1.1 503 Mine\r\nContent-Length: 0\r\n\r\n";
	char p503[64], p403[64], pmine[64], text[1024];
	struct cfg *c;

	answer_file(p503, sizeof(p503), "d503", busy);
	answer_file(p403, sizeof(p403), "d403", no);
	answer_file(pmine, sizeof(pmine), "mine", mine);
	snprintf(text, sizeof(text),
	         "defaults\n errorfile 503 %s\n errorfile 403 %s\n"
	         "frontend own\n bind :80\n errorfile 503 %s\n default_backend b\n"
	         "frontend plain\n bind :81\n default_backend b\n"
	         "backend b\n server s 127.0.0.1:1\n"
	         "defaults\n"
	         "listen after\n bind :82\n server s 127.0.0.1:1\n",
	         p503, p403, pmine);
	c = ok(text);
	cr_assert_eq(c->nb_frontends, 3);
	cr_expect_str_eq(ef_of(c->frontends[0].rules, 503), mine, "a frontend's own answer wins");
	cr_expect_str_eq(ef_of(c->frontends[0].rules, 403), no, "the others come from defaults");
	cr_expect_eq(c->frontends[0].rules->nb_ef, 2);
	cr_expect_str_eq(ef_of(c->frontends[1].rules, 503), busy);
	cr_expect_str_eq(ef_of(c->frontends[1].rules, 403), no);
	cr_expect_null(ef_of(c->frontends[2].rules, 503), "a new defaults section starts empty");
	cfg_free(c);
	unlink(p503);
	unlink(p403);
	unlink(pmine);
	bad("defaults\n errorfile 503 /nonexistent.http\n",
	    "t.cfg:2: 'errorfile' cannot read '/nonexistent.http' (No such file or directory)");
}

Test(cfg, use_backend_map)
{
	char path[64], text[512], *err = NULL;
	FILE *f;
	struct cfg *c;

	snprintf(path, sizeof(path), "/tmp/test_cfg_%d.map", getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("a.example b\nc.example c\n", f);
	fclose(f);
	snprintf(text, sizeof(text), " use_backend %%[req.hdr(host),lower,map(%s,c)]\n", path);
	c = ok_rules(text);
	cr_assert_not_null(c->frontends[0].rules);
	cr_expect_eq(c->frontends[0].rules->ub[0].dyn_default_idx, 1);
	cfg_free(c);

	f = fopen(path, "w");
	fputs("a.example b\nc.example nosuch\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "frontend f\n use_backend %%[req.hdr(host),map(%s)]\n bind :1\n"
	         "backend b\n server s 127.0.0.1:1\n", path);
	cr_expect_null(cfg_parse_text(text, "t.cfg", &err));
	cr_expect(strstr(err, "t.cfg:2: 'use_backend' map ") == err && strstr(err, "key 'c.example' names unknown backend 'nosuch'"),
	          "%s", err);
	free(err);
	unlink(path);
}

/* ---------- lexical rules ---------- */

Test(cfg, comments_blanks_and_line_endings)
{
	struct cfg *c = ok("# leading comment\n"
	                   "\n"
	                   "global # trailing comment\n"
	                   "   \t \n"
	                   "\tmaxconn 100 # no more than that\n"
	                   "  # indented comment\r\n"
	                   "  nbthread 3\r\n"
	                   "  grace 1s");   /* no newline at the end */

	cr_assert_eq(c->g.maxconn, 100);
	cr_assert_eq(c->g.nbthread, 3);
	cr_assert_eq(c->g.grace_ms, 1000);
	cfg_free(c);
}

Test(cfg, quoting_and_escapes)
{
	struct cfg *c = ok("global\n"
	                   " \"maxconn\" '77'\n"
	                   " log \"/tmp/my log#1\"\n"
	                   "frontend f\n"
	                   " bind \":8080\"\n"
	                   " stats uri \"/a \\\"quoted\\\" \\\\ path\"\n"
	                   "backend b\n"
	                   " stats uri '/single \"kept\" \\n'\n"
	                   "frontend g\n"
	                   " bind :8081\n"
	                   " stats uri /sp\\ ace\\#no-comment#comment\n");

	cr_assert_eq(c->g.maxconn, 77);
	cr_assert_str_eq(c->g.log_target, "/tmp/my log#1");
	cr_assert_str_eq(c->frontends[0].stats_uri, "/a \"quoted\" \\ path");
	cr_assert_str_eq(c->backends[0].stats_uri, "/single \"kept\" \\n");
	cr_assert_str_eq(c->frontends[1].stats_uri, "/sp ace#no-comment");
	cfg_free(c);

	c = ok("global\n log /x\"y z\"'w'\n");
	cr_assert_str_eq(c->g.log_target, "/xy zw", "quoted parts glue to their word");
	cfg_free(c);
}

Test(cfg, quoting_errors)
{
	bad("global\n log \"/tmp/x\n", "t.cfg:2: 'log' unterminated quote");
	bad("global\n log '/tmp/x\n", "t.cfg:2: 'log' unterminated quote");
	bad("global\n \"maxc\n", "t.cfg:2: 'maxc' unterminated quote");
	bad("global\n \"\" 1\n", "t.cfg:2: unknown keyword '' in 'global' section");
	bad("backend \"\"\n", "t.cfg:1: 'backend' empty name");

	char line[1024] = "global\n log";
	for (int i = 0; i < 64; i++)
		strcat(line, " x");
	strcat(line, "\n");
	bad(line, "t.cfg:2: 'log' too many words on one line (at most 64)");
}

/* ---------- proxies: defaults, timeouts, options ---------- */

Test(cfg, builtin_proxy_defaults)
{
	struct cfg *c = ok(FEBE);
	const struct cfg_frontend *fe = &c->frontends[0];
	const struct cfg_backend *be = &c->backends[0];

	cr_assert_eq(fe->mode, CFG_MODE_HTTP);
	cr_assert_eq(fe->maxconn, 4096, "global maxconn");
	cr_assert_eq(fe->conn_mode, CFG_CONN_KEEPALIVE);
	cr_assert_eq(fe->forwardfor, 0);
	cr_assert_eq(fe->httplog, 0);
	cr_assert_eq(fe->stats_enabled, 0);
	cr_assert_null(fe->stats_uri);
	cr_assert_eq(fe->from_listen, 0);
	cr_assert_eq(fe->line, 1);
	cr_assert_eq(be->mode, CFG_MODE_HTTP);
	cr_assert_eq(be->balance, CFG_BALANCE_RR);
	cr_assert_eq(be->retries, 3);
	cr_assert_eq(be->redispatch, 0);
	cr_assert_null(be->chk_method);
	cr_assert_null(be->chk_uri);
	cr_assert_eq(be->chk_expect_status, 0);
	cr_assert_eq(be->line, 4);

	cr_assert_eq(fe->t.client_ms, 30000);
	cr_assert_eq(fe->t.server_ms, 30000);
	cr_assert_eq(fe->t.connect_ms, 5000);
	cr_assert_eq(fe->t.queue_ms, 5000, "queue defaults to connect");
	cr_assert_eq(fe->t.http_request_ms, 30000, "http-request defaults to client");
	cr_assert_eq(fe->t.http_keep_alive_ms, 30000, "keep-alive defaults to http-request");
	cr_assert_eq(be->t.check_ms, 0);
	cr_assert_eq(cfg_check_timeout_ms(be, &be->servers[0]), 2000, "check defaults to inter");
	cfg_free(c);
}

Test(cfg, timeout_chains)
{
	struct cfg *c = ok("defaults\n timeout connect 2s\n timeout client 7s\n"
	                   FEBE
	                   "frontend g\n bind :8081\n default_backend b\n timeout http-request 3s\n"
	                   "backend b2\n timeout check 4s\n timeout queue 1m\n server s 127.0.0.1:80 inter 1s\n");

	cr_assert_eq(c->backends[0].t.queue_ms, 2000);
	cr_assert_eq(c->frontends[0].t.http_request_ms, 7000);
	cr_assert_eq(c->frontends[0].t.http_keep_alive_ms, 7000);
	cr_assert_eq(c->frontends[1].t.http_request_ms, 3000);
	cr_assert_eq(c->frontends[1].t.http_keep_alive_ms, 3000);
	cr_assert_eq(c->backends[1].t.check_ms, 4000);
	cr_assert_eq(c->backends[1].t.queue_ms, 60000);
	cr_assert_eq(cfg_check_timeout_ms(&c->backends[1], &c->backends[1].servers[0]), 4000);
	cfg_free(c);

	c = ok("defaults\n timeout server 1us\n timeout http-keep-alive 1h\n timeout client 1d\n" FEBE);
	cr_assert_eq(c->backends[0].t.server_ms, 1);
	cr_assert_eq(c->frontends[0].t.http_keep_alive_ms, 3600000);
	cr_assert_eq(c->frontends[0].t.client_ms, 86400000);
	cfg_free(c);
}

Test(cfg, timeout_errors)
{
	char text[256];

	/* the example of the specification, line for line */
	snprintf(text, sizeof(text), "%s timeout clinet 30s\n", "\n\n\n\n\n\n\n\n\n\ndefaults\n");
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "sluice.cfg", &err);
	cr_assert_null(c);
	cr_assert_str_eq(err, "sluice.cfg:12: 'timeout' unknown timeout 'clinet' (expected client, "
	                      "server, connect, queue, http-request, http-keep-alive, check)");
	free(err);

	bad_backend("timeout", "'timeout' missing timeout name (expected client, server, connect, "
	                       "queue, http-request, http-keep-alive, check)");
	bad_backend("timeout server", "'timeout' missing time for 'server'");
	bad_backend("timeout server 10 s", "'timeout' unexpected argument 's'");
	bad_backend("timeout server 10x", "'timeout' invalid time '10x' for 'server' (expected a number "
	                                  "with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_backend("timeout connect 0", "'timeout' time '0' for 'connect' too small (expected at least 1ms)");
	bad_backend("timeout tunnel 1h", "'timeout' unknown timeout 'tunnel' (expected client, server, "
	                                 "connect, queue, http-request, http-keep-alive, check)");
}

Test(cfg, defaults_inheritance_and_reset)
{
	struct cfg *c = ok("defaults\n"
	                   " mode tcp\n"
	                   " timeout client 1s\n"
	                   " timeout connect 2s\n"
	                   " maxconn 50\n"
	                   " balance leastconn\n"
	                   " retries 7\n"
	                   " option redispatch\n"
	                   " option forwardfor\n"
	                   " option httpclose\n"
	                   " default-server inter 3s rise 5 maxconn 9 check\n"
	                   "frontend t\n bind :9000\n default_backend tb\n"
	                   "backend tb\n server a 10.0.0.1:80\n server b 10.0.0.2:80 rise 1 maxconn 0\n"
	                   "defaults\n"
	                   " timeout server 9s\n"
	                   FEBE);
	const struct cfg_frontend *t = &c->frontends[0], *f = &c->frontends[1];
	const struct cfg_backend *tb = &c->backends[0], *b = &c->backends[1];

	cr_assert_eq(c->nb_frontends, 2);
	cr_assert_eq(t->mode, CFG_MODE_TCP);
	cr_assert_eq(t->maxconn, 50);
	cr_assert_eq(t->t.client_ms, 1000);
	cr_assert_eq(t->conn_mode, CFG_CONN_CLOSE);
	cr_assert_eq(t->forwardfor, 1);
	cr_assert_eq(tb->mode, CFG_MODE_TCP);
	cr_assert_eq(tb->balance, CFG_BALANCE_LC);
	cr_assert_eq(tb->retries, 7);
	cr_assert_eq(tb->redispatch, 1);
	cr_assert_eq(tb->t.connect_ms, 2000);
	cr_assert_eq(tb->t.queue_ms, 2000);
	cr_assert_eq(tb->servers[0].inter_ms, 3000);
	cr_assert_eq(tb->servers[0].rise, 5);
	cr_assert_eq(tb->servers[0].fall, 3);
	cr_assert_eq(tb->servers[0].maxconn, 9);
	cr_assert_eq(tb->servers[0].check, 1);
	cr_assert_eq(tb->servers[1].rise, 1, "a server overrides default-server");
	cr_assert_eq(tb->servers[1].maxconn, 0);

	/* the second defaults section starts again from the built-in values */
	cr_assert_eq(f->mode, CFG_MODE_HTTP);
	cr_assert_eq(f->maxconn, 4096);
	cr_assert_eq(f->t.client_ms, 30000);
	cr_assert_eq(f->conn_mode, CFG_CONN_KEEPALIVE);
	cr_assert_eq(f->forwardfor, 0);
	cr_assert_eq(b->balance, CFG_BALANCE_RR);
	cr_assert_eq(b->retries, 3);
	cr_assert_eq(b->redispatch, 0);
	cr_assert_eq(b->t.server_ms, 9000);
	cr_assert_eq(b->t.connect_ms, 5000);
	cr_assert_eq(b->servers[0].inter_ms, 2000);
	cr_assert_eq(b->servers[0].check, 0);
	cfg_free(c);
}

Test(cfg, proxy_overrides_defaults)
{
	struct cfg *c = ok("defaults\n option redispatch\n option http-server-close\n"
	                   " option httpchk GET /health\n default_backend b\n"
	                   "frontend f\n bind :8080\n no option http-server-close\n"
	                   "backend b\n no option redispatch\n no option httpchk\n server s 127.0.0.1:80\n"
	                   "backend c\n server s 127.0.0.1:80\n");

	cr_assert_str_eq(c->frontends[0].default_backend, "b", "default_backend from defaults");
	cr_assert_eq(c->frontends[0].backend_idx, 0);
	cr_assert_eq(c->frontends[0].default_backend_line, 5);
	cr_assert_eq(c->frontends[0].conn_mode, CFG_CONN_KEEPALIVE);
	cr_assert_eq(c->backends[0].redispatch, 0);
	cr_assert_null(c->backends[0].chk_method);
	cr_assert_null(c->backends[0].chk_uri);
	cr_assert_eq(c->backends[0].conn_mode, CFG_CONN_SERVER_CLOSE);
	cr_assert_eq(c->backends[1].redispatch, 1);
	cr_assert_str_eq(c->backends[1].chk_method, "GET");
	cr_assert_str_eq(c->backends[1].chk_uri, "/health");
	cfg_free(c);
}

Test(cfg, mode_balance_retries_maxconn)
{
	struct cfg *c = ok("frontend f\n mode tcp\n maxconn 10\n bind :1\n default_backend b\n"
	                   "backend b\n mode tcp\n balance leastconn\n retries 0\n server s 127.0.0.1:2\n");

	cr_assert_eq(c->frontends[0].mode, CFG_MODE_TCP);
	cr_assert_eq(c->frontends[0].maxconn, 10);
	cr_assert_eq(c->backends[0].balance, CFG_BALANCE_LC);
	cr_assert_eq(c->backends[0].retries, 0);
	cfg_free(c);

	bad_backend("mode udp", "'mode' unknown mode 'udp' (expected http, tcp)");
	bad_backend("mode", "'mode' missing mode (expected http, tcp)");
	bad_backend("balance source", "'balance' unsupported algorithm 'source' (expected roundrobin, leastconn)");
	bad_backend("balance url_param x", "'balance' unexpected argument 'x'");
	bad_backend("retries 101", "'retries' value '101' out of range (expected an integer from 0 to 100)");
	bad_frontend("maxconn 0", "'maxconn' value '0' out of range (expected an integer from 1 to 10000000)");
}

Test(cfg, misplaced_settings_are_warnings)
{
	struct cfg *c = ok("frontend f\n bind :8080\n default_backend b\n balance leastconn\n"
	                   " retries 2\n option redispatch\n"
	                   "backend b\n server s1 127.0.0.1:81\n maxconn 5\n option httplog\n");

	cr_assert_str_eq(c->warnings,
	                 "t.cfg: ignored, no effect in Sluice:"
	                 " 'balance' in 'frontend' section (only meaningful for backends) at line 4;"
	                 " 'retries' in 'frontend' section (only meaningful for backends) at line 5;"
	                 " 'option redispatch' in 'frontend' section (only meaningful for backends) at line 6;"
	                 " 'maxconn' in 'backend' section (only meaningful for frontends) at line 9;"
	                 " 'option httplog' in 'backend' section (only meaningful for frontends) at line 10");
	cfg_free(c);
}

/* A file written for HAProxy may carry many settings Sluice accepts without
 * effect: they come as ONE warning, after the others, each setting once
 * with every line it appeared at, so `sluice -c` stays readable. */
Test(cfg, ignored_settings_are_one_warning)
{
	struct cfg *c;

	c = ok("global\n daemon\n"
	       "defaults\n option dontlognull\n"
	       "frontend f\n bind :8080\n balance roundrobin\n option dontlognull\n"
	       " use_backend b\n use_backend b\n"
	       "frontend g\n bind :8081\n balance roundrobin\n default_backend b\n"
	       "backend b\n server s1 127.0.0.1:81\n");
	cr_assert_str_eq(c->warnings,
	                 "t.cfg:10: 'use_backend' ignored: the unconditional use_backend at line 9 always matches first\n"
	                 "t.cfg: ignored, no effect in Sluice:"
	                 " 'daemon' (Sluice runs in the foreground) at line 2;"
	                 " 'option dontlognull' at lines 4, 8;"
	                 " 'balance' in 'frontend' section (only meaningful for backends) at lines 7, 13");
	cr_assert_null(strchr(strchr(c->warnings, '\n') + 1, '\n'), "one line for every ignored setting");
	cfg_free(c);
}

Test(cfg, options)
{
	struct cfg *c = ok("frontend f\n bind :8080\n default_backend b\n option httplog\n"
	                   " option forwardfor\n option http-server-close\n log global\n"
	                   "backend b\n server s1 127.0.0.1:81\n option httpchk\n"
	                   " http-check expect status 204\n option forwardfor\n option httpclose\n"
	                   " option http-keep-alive\n"
	                   "backend c\n option httpchk /ping\n"
	                   "backend d\n option httpchk HEAD /alive HTTP/1.1\n option dontlognull\n");

	cr_assert_eq(c->frontends[0].httplog, 1);
	cr_assert_eq(c->frontends[0].forwardfor, 1);
	cr_assert_eq(c->frontends[0].conn_mode, CFG_CONN_SERVER_CLOSE);
	cr_assert_eq(c->backends[0].forwardfor, 1);
	cr_assert_eq(c->backends[0].conn_mode, CFG_CONN_KEEPALIVE, "the last connection mode wins");
	cr_assert_str_eq(c->backends[0].chk_method, "OPTIONS");
	cr_assert_str_eq(c->backends[0].chk_uri, "/");
	cr_assert_eq(c->backends[0].chk_expect_status, 204);
	cr_assert_str_eq(c->backends[1].chk_method, "OPTIONS");
	cr_assert_str_eq(c->backends[1].chk_uri, "/ping");
	cr_assert_str_eq(c->backends[2].chk_method, "HEAD");
	cr_assert_str_eq(c->backends[2].chk_uri, "/alive");
	cr_assert_str_eq(c->warnings, "t.cfg: ignored, no effect in Sluice:"
	                              " HTTP version 'HTTP/1.1' of 'option httpchk' at line 18;"
	                              " 'option dontlognull' at line 19");
	cfg_free(c);
}

Test(cfg, option_splice)
{
	/* defaults carry the bits; `no option` clears one; a stream splices a
	 * direction when its frontend or its backend asks (engine side) */
	struct cfg *c = ok("defaults\n option splice-auto\n option splice-request\n"
	                   "frontend f\n bind :8080\n no option splice-auto\n default_backend b\n"
	                   "backend b\n option splice-response\n server s1 127.0.0.1:81\n"
	                   "listen l\n bind :8081\n no option splice-request\n server s1 127.0.0.1:81\n");

	cr_assert_eq(c->frontends[0].splice, CFG_SPLICE_REQ);
	cr_assert_eq(c->backends[0].splice, CFG_SPLICE_AUTO | CFG_SPLICE_REQ | CFG_SPLICE_RSP);
	cr_assert_eq(c->frontends[1].splice, CFG_SPLICE_AUTO);
	cr_assert_eq(c->backends[1].splice, CFG_SPLICE_AUTO);
	cr_assert_null(c->warnings);
	cfg_free(c);
}

Test(cfg, pipes_limit)
{
	/* not set: maxconn / 4, HAProxy's tune.maxpipes default, at least 1 */
	struct cfg *c = ok("global\n maxconn 1000\n");

	cr_assert_eq(c->g.pipes_limit, 250);
	cfg_free(c);
	c = ok("global\n maxconn 3\n");
	cr_assert_eq(c->g.pipes_limit, 1);
	cfg_free(c);
	c = ok("global\n tune.pipes.limit 7\n maxconn 1000\n");
	cr_assert_eq(c->g.pipes_limit, 7);
	cfg_free(c);
}

Test(cfg, option_errors)
{
	bad_backend("option", "'option' missing option name (expected redispatch, httplog, forwardfor, "
	                      "http-keep-alive, http-server-close, httpclose, httpchk, dontlognull, "
	                      "splice-auto, splice-request, splice-response)");
	bad_backend("option tcpka", "'option' unknown option 'tcpka' (expected redispatch, httplog, "
	                            "forwardfor, http-keep-alive, http-server-close, httpclose, httpchk, dontlognull, "
	                            "splice-auto, splice-request, splice-response)");
	bad_backend("option splice-auto now", "'option' unexpected argument 'now' after 'splice-auto'");
	bad_global("tune.pipes.limit 0", "'tune.pipes.limit' value '0' out of range (expected an integer from 1 to 10000000)");
	bad_global("tune.pipes.limit many", "'tune.pipes.limit' invalid value 'many' (expected an integer from 1 to 10000000)");
	bad_backend("option forwardfor if-none", "'option' unexpected argument 'if-none' after 'forwardfor' "
	            "(expected except NET, header NAME)");
	bad_backend("option httpchk GET /a HTTP/1.0 extra", "'option' unexpected argument 'extra'");
	bad_backend("option httpchk health", "'option' invalid URI 'health' for 'httpchk' (expected a path starting with '/')");
	bad_backend("no option httpchk GET", "'no' unexpected argument 'GET' after 'httpchk'");
	/* the check request is built from these words: no control character
	 * (escapes make CR and LF), no blank that would shift the request line */
	bad_backend("option httpchk GET \"/a\\r\\nX-Evil: 1\"",
	            "'option' control character 0x0d in URI for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk GET /a\\nb", "'option' control character 0x0a in URI for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk \"GET\\t\" /", "'option' control character 0x09 in method for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk \"G\x7fT\" /", "'option' control character 0x7f in method for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk \"\x01/\"", "'option' control character 0x01 in URI for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk \"/\x1b\"", "'option' control character 0x1b in URI for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk GET / \"HTTP/1.1\\r\\nHost:\\ www\"",
	            "'option' control character 0x0d in HTTP version for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk GET / HTTP/1.1\\r\\nHost:\\ www",
	            "'option' control character 0x0d in HTTP version for 'httpchk' (not allowed in the check request)");
	bad_backend("option httpchk \"GET /x\" /", "'option' blank in method for 'httpchk' (not allowed in the check request line)");
	bad_backend("option httpchk GET \"/a b\"", "'option' blank in URI for 'httpchk' (not allowed in the check request line)");
	bad_backend("option httpchk GET /a\\ b", "'option' blank in URI for 'httpchk' (not allowed in the check request line)");
	bad_backend("no log", "'no' only 'no option NAME' is supported");
	bad_backend("http-check send meth GET", "'http-check' unsupported directive 'send' (only 'expect status CODE')");
	bad_backend("http-check expect string ok", "'http-check' unsupported match 'string' (only 'expect status CODE')");
	bad_backend("http-check expect", "'http-check' missing 'status CODE' after 'expect'");
	bad_backend("http-check expect status", "'http-check' missing status code after 'status'");
	bad_backend("http-check expect status 99", "'http-check' value '99' for 'status' out of range (expected an integer from 100 to 599)");
	bad_backend("http-check expect status 2xx", "'http-check' invalid value '2xx' for 'status' (expected an integer from 100 to 599)");
	bad_backend("log 127.0.0.1 local0", "'log' only 'log global' is supported in 'backend' section");
}

/* ---------- bind ---------- */

Test(cfg, bind_address_forms)
{
	struct cfg *c = ok("frontend f\n"
	                   " bind *:80\n"
	                   " bind :81\n"
	                   " bind 0.0.0.0:82\n"
	                   " bind 10.1.2.3:8080 proto h2\n"
	                   " bind [::1]:8080\n"
	                   " bind [::]:83 proto h1\n"
	                   " bind :::84\n"
	                   " bind ::1:85\n"
	                   " bind 127.0.0.1:86,[::1]:87 proto h2\n"
	                   " bind 192.168.0.1:65535\n"
	                   " bind [::ffff:10.0.0.1]:88\n"
	                   " bind [fe80::1%lo]:89\n"
	                   " default_backend b\n"
	                   "backend b\n server s 127.0.0.1:1\n");
	const struct cfg_frontend *f = &c->frontends[0];

	cr_assert_eq(f->nb_binds, 13);
	assert_addr(&f->binds[0].addr, f->binds[0].addrlen, AF_INET, "0.0.0.0", 80);
	assert_addr(&f->binds[1].addr, f->binds[1].addrlen, AF_INET, "0.0.0.0", 81);
	assert_addr(&f->binds[2].addr, f->binds[2].addrlen, AF_INET, "0.0.0.0", 82);
	assert_addr(&f->binds[3].addr, f->binds[3].addrlen, AF_INET, "10.1.2.3", 8080);
	assert_addr(&f->binds[4].addr, f->binds[4].addrlen, AF_INET6, "::1", 8080);
	assert_addr(&f->binds[5].addr, f->binds[5].addrlen, AF_INET6, "::", 83);
	assert_addr(&f->binds[6].addr, f->binds[6].addrlen, AF_INET6, "::", 84);
	assert_addr(&f->binds[7].addr, f->binds[7].addrlen, AF_INET6, "::1", 85);
	assert_addr(&f->binds[8].addr, f->binds[8].addrlen, AF_INET, "127.0.0.1", 86);
	assert_addr(&f->binds[9].addr, f->binds[9].addrlen, AF_INET6, "::1", 87);
	assert_addr(&f->binds[10].addr, f->binds[10].addrlen, AF_INET, "192.168.0.1", 65535);
	assert_addr(&f->binds[11].addr, f->binds[11].addrlen, AF_INET6, "::ffff:10.0.0.1", 88);
	assert_addr(&f->binds[12].addr, f->binds[12].addrlen, AF_INET6, "fe80::1", 89);
	cr_assert_neq(((const struct sockaddr_in6 *)&f->binds[12].addr)->sin6_scope_id, 0, "%%lo kept");
	cr_assert_eq(f->binds[0].proto_h2, 0);
	cr_assert_eq(f->binds[3].proto_h2, 1);
	cr_assert_eq(f->binds[5].proto_h2, 0);
	cr_assert_eq(f->binds[8].proto_h2, 1);
	cr_assert_eq(f->binds[9].proto_h2, 1);
	cr_assert_eq(f->binds[0].line, 2);
	cr_assert_eq(f->binds[10].line, 11);
	cfg_free(c);
}

Test(cfg, bind_errors)
{
	bad_frontend("bind", "'bind' missing address (expected ADDR:PORT)");
	bad_frontend("bind 127.0.0.1", "'bind' missing port in address '127.0.0.1' (expected ADDR:PORT)");
	bad_frontend("bind 127.0.0.1:0", "'bind' invalid port '0' in address '127.0.0.1:0' (expected 1 to 65535)");
	bad_frontend("bind :65536", "'bind' invalid port '65536' in address ':65536' (expected 1 to 65535)");
	bad_frontend("bind :http", "'bind' invalid port 'http' in address ':http' (expected 1 to 65535)");
	bad_frontend("bind 127.0.0.1:", "'bind' invalid port '' in address '127.0.0.1:' (expected 1 to 65535)");
	bad_frontend("bind localhost:80", "'bind' invalid address 'localhost:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind 127.1:80", "'bind' invalid address '127.1:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind 256.0.0.1:80", "'bind' invalid address '256.0.0.1:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind [::1:80", "'bind' missing ']' in address '[::1:80'");
	bad_frontend("bind [::1]80", "'bind' missing port in address '[::1]80' (expected [ADDR]:PORT)");
	bad_frontend("bind [*]:80", "'bind' invalid address '[*]:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind [1.2.3.4]:80", "'bind' invalid address '[1.2.3.4]:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind 0x7f.1:80", "'bind' invalid address '0x7f.1:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind 1.2.3.4%lo:80", "'bind' invalid address '1.2.3.4%lo:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind [fe80::1%]:80", "'bind' invalid address '[fe80::1%]:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind ::g:80", "'bind' invalid address '::g:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_frontend("bind :80,", "'bind' invalid address ''");
	bad_frontend("bind :80 ssl crt x.pem", "'bind' cannot open certificate 'x.pem': No such file or directory");
	bad_frontend("bind :80 ssl", "'bind' 'ssl' needs 'crt FILE|DIR' or 'crt-list FILE'");
	bad_frontend("bind :80 crt x.pem", "'bind' TLS options on a bind without 'ssl'");
	bad_frontend("bind :80 tls", "'bind' unsupported bind option 'tls' (expected proto, ssl, crt, crt-list, "
	                            "alpn, ssl-min-ver, ssl-max-ver, ciphers, ciphersuites, curves, no-tls-tickets, "
	                            "no-tlsv13, no-tlsv12, no-tlsv11, no-tlsv10, no-sslv3)");
	bad_frontend("bind :80 ssl crt-list /nonexistent.lst",
	             "'bind' cannot open crt-list '/nonexistent.lst': No such file or directory");
	bad_frontend("bind :80 proto", "'bind' missing value after 'proto' (expected h1, h2)");
	bad_frontend("bind :80 proto h3", "'bind' unsupported proto 'h3' (expected h1, h2)");
}

/* ---------- servers ---------- */

Test(cfg, server_arguments)
{
	struct cfg *c = ok("backend b\n"
	                   " server a 127.0.0.1:8081\n"
	                   " server b-2 [::1]:8082 maxconn 64 weight 0 check inter 500ms rise 4 fall 6"
	                   " proto h2 disabled backup\n"
	                   " server c.3 10.0.0.3:1 weight 256 inter 1500us\n"
	                   "frontend f\n bind :80\n default_backend b\n");
	const struct cfg_backend *b = &c->backends[0];
	const struct cfg_server *s;

	cr_assert_eq(b->nb_servers, 3);
	s = &b->servers[0];
	cr_assert_str_eq(s->name, "a");
	assert_addr(&s->addr, s->addrlen, AF_INET, "127.0.0.1", 8081);
	cr_assert_eq(s->maxconn, 0);
	cr_assert_eq(s->weight, 1);
	cr_assert_eq(s->check, 0);
	cr_assert_eq(s->inter_ms, 2000);
	cr_assert_eq(s->rise, 2);
	cr_assert_eq(s->fall, 3);
	cr_assert_eq(s->proto_h2, 0);
	cr_assert_eq(s->disabled, 0);
	cr_assert_eq(s->backup, 0);
	cr_assert_eq(s->line, 2);
	s = &b->servers[1];
	cr_assert_str_eq(s->name, "b-2");
	assert_addr(&s->addr, s->addrlen, AF_INET6, "::1", 8082);
	cr_assert_eq(s->maxconn, 64);
	cr_assert_eq(s->weight, 0);
	cr_assert_eq(s->check, 1);
	cr_assert_eq(s->inter_ms, 500);
	cr_assert_eq(s->rise, 4);
	cr_assert_eq(s->fall, 6);
	cr_assert_eq(s->proto_h2, 1);
	cr_assert_eq(s->disabled, 1);
	cr_assert_eq(s->backup, 1);
	s = &b->servers[2];
	cr_assert_eq(s->weight, 256);
	cr_assert_eq(s->inter_ms, 2);
	cr_assert_eq(c->frontends[0].backend_idx, 0);
	cfg_free(c);
}

Test(cfg, server_errors)
{
	bad_backend("server", "'server' missing server name");
	bad_backend("server x", "'server' missing address for server 'x' (expected ADDR:PORT)");
	bad_backend("server s1 127.0.0.1:82", "'server' duplicate server name 's1' in 'b' (first declared at line 5)");
	bad_backend("server x y:80", "'server' invalid address 'y:80' (numeric IPv4 or IPv6 only, no DNS)");
	bad_backend("server x *:80", "'server' missing host in address '*:80'");
	bad_backend("server x :80", "'server' missing host in address ':80'");
	bad_backend("server x 1.2.3.4:99999", "'server' invalid port '99999' in address '1.2.3.4:99999' (expected 1 to 65535)");
	bad_backend("server x 1.2.3.4:80 ssl", "'server' 'verify required' (the default) needs 'ca-file FILE', or 'verify none'");
	/* default-server passes its TLS words on; the server line pays */
	bad(FEBE " default-server ssl\n server x 1.2.3.4:80\n",
	    "t.cfg:7: 'server' 'verify required' (the default) needs 'ca-file FILE', or 'verify none'");
	bad_backend("server x 1.2.3.4:80 maxconn", "'server' missing value after 'maxconn'");
	bad_backend("server x 1.2.3.4:80 maxconn -1", "'server' invalid value '-1' for 'maxconn' (expected an integer from 0 to 10000000)");
	bad_backend("server x 1.2.3.4:80 weight 257", "'server' value '257' for 'weight' out of range (expected an integer from 0 to 256)");
	bad_backend("server x 1.2.3.4:80 rise 0", "'server' value '0' for 'rise' out of range (expected an integer from 1 to 1000)");
	bad_backend("server x 1.2.3.4:80 fall 1001", "'server' value '1001' for 'fall' out of range (expected an integer from 1 to 1000)");
	bad_backend("server x 1.2.3.4:80 inter 0", "'server' time '0' for 'inter' too small (expected at least 1ms)");
	bad_backend("server x 1.2.3.4:80 inter 2 s", "'server' unknown argument 's' (expected maxconn, maxqueue, weight, "
	                                            "check, inter, rise, fall, proto, disabled, backup, "
	                                            SRVW ")");
	bad_backend("server x 1.2.3.4:80 proto fcgi", "'server' unsupported proto 'fcgi' (expected h1, h2)");
	bad_backend("server bad/name 1.2.3.4:80", "'server' invalid character '/' in name 'bad/name' "
	                                          "(expected letters, digits, '-', '_', '.', ':')");
	bad_backend("default-server weight x", "'default-server' invalid value 'x' for 'weight' (expected an integer from 0 to 256)");
}

/* `maxqueue`: on a server (and default-server) it bounds the server's own
 * queue, as a backend keyword (and in defaults) the backend's queue; 0 and
 * unset both mean no bound. */
Test(cfg, maxqueue_server_and_backend)
{
	struct cfg *c = ok("defaults\n maxqueue 7\n default-server maxqueue 3\n"
	                   "backend b\n server a 127.0.0.1:1\n server b 127.0.0.1:2 maxqueue 0\n"
	                   " server c 127.0.0.1:3 maxqueue 10000000 maxconn 2\n"
	                   "backend c\n maxqueue 0\n server a 127.0.0.1:1\n"
	                   "defaults\n"
	                   "listen l\n bind :2\n maxqueue 100\n server a 127.0.0.1:1\n"
	                   "frontend f\n bind :1\n default_backend b\n");

	cr_assert_eq(c->nb_backends, 3);
	cr_assert_eq(c->backends[0].maxqueue, 7, "from defaults");
	cr_assert_eq(c->backends[0].servers[0].maxqueue, 3, "from default-server");
	cr_assert_eq(c->backends[0].servers[1].maxqueue, 0);
	cr_assert_eq(c->backends[0].servers[2].maxqueue, 10000000);
	cr_assert_eq(c->backends[0].servers[2].maxconn, 2);
	cr_assert_eq(c->backends[1].maxqueue, 0, "its own 0 wins over defaults");
	cr_assert_eq(c->backends[2].maxqueue, 100);
	cr_assert_eq(c->backends[2].servers[0].maxqueue, 0, "a new defaults section resets it");
	cr_assert_null(c->warnings);
	cfg_free(c);

	c = ok("frontend f\n bind :1\n maxqueue 5\n default_backend b\nbackend b\n server s 127.0.0.1:1\n");
	cr_assert_str_eq(c->warnings, "t.cfg: ignored, no effect in Sluice: 'maxqueue' in 'frontend' section"
	                              " (only meaningful for backends) at line 3");
	cfg_free(c);

	bad_backend("maxqueue", "'maxqueue' missing number of queued streams");
	bad_backend("maxqueue 1 2", "'maxqueue' unexpected argument '2'");
	bad_backend("maxqueue -1", "'maxqueue' invalid value '-1' (expected an integer from 0 to 10000000)");
	bad_backend("maxqueue 10000001", "'maxqueue' value '10000001' out of range (expected an integer from 0 to 10000000)");
	bad_backend("maxqueue 1k", "'maxqueue' invalid value '1k' (expected an integer from 0 to 10000000)");
	bad_backend("server x 1.2.3.4:80 maxqueue", "'server' missing value after 'maxqueue'");
	bad_backend("server x 1.2.3.4:80 maxqueue x", "'server' invalid value 'x' for 'maxqueue' (expected an integer from 0 to 10000000)");
	bad_backend("server x 1.2.3.4:80 maxqueue 10000001",
	            "'server' value '10000001' for 'maxqueue' out of range (expected an integer from 0 to 10000000)");
	bad_backend("default-server maxqueue 1.5",
	            "'default-server' invalid value '1.5' for 'maxqueue' (expected an integer from 0 to 10000000)");
	bad("global\n maxqueue 3\n", "t.cfg:2: 'maxqueue' not allowed in 'global' section");
}

/* Every numeric keyword goes through one handler: the bounds of each kind
 * (count, size, time, percent) are inclusive at both ends, and a value
 * outside them names the keyword, the value and the bounds. */
Test(cfg, numeric_bounds_inclusive)
{
	struct cfg *c = ok("global\n nbthread 1\n maxconn 10000000\n tune.bufsize 1k\n"
	                   " tune.maxrewrite 0\n tune.buffers.limit 4294967295\n tune.buffers.reserve 0\n"
	                   " tune.fail-alloc 0\n tune.h2.max-concurrent-streams 2147483647\n"
	                   " tune.h2.initial-window-size 2147483647\n tune.h2.header-table-size 64k\n"
	                   " tune.h2.max-header-list-size 4294967295\n grace 1us\n"
	                   "defaults\n retries 100\n maxconn 1\n"
	                   "backend b\n server s 127.0.0.1:1 weight 0 rise 1000 fall 1 inter 1us maxconn 0\n"
	                   "frontend f\n bind :1\n default_backend b\n");

	cr_assert_eq(c->g.nbthread, 1);
	cr_assert_eq(c->g.maxconn, 10000000);
	cr_assert_eq(c->g.bufsize, 1024);
	cr_assert_eq(c->g.maxrewrite, 0);
	cr_assert_eq(c->g.buf_limit, 4294967295u);
	cr_assert_eq(c->g.buf_reserve, 0);
	cr_assert_float_eq(c->g.fail_alloc_pct, 0.0, 1e-9);
	cr_assert_eq(c->g.h2_max_streams, 2147483647u);
	cr_assert_eq(c->g.h2_init_window, 2147483647u);
	cr_assert_eq(c->g.h2_header_table, 65536);
	cr_assert_eq(c->g.h2_max_header_list, 4294967295u);
	cr_assert_eq(c->g.grace_ms, 1, "microseconds round up");
	cr_assert_eq(c->backends[0].retries, 100);
	cr_assert_eq(c->frontends[0].maxconn, 1);
	cr_assert_eq(c->backends[0].servers[0].weight, 0);
	cr_assert_eq(c->backends[0].servers[0].rise, 1000);
	cr_assert_eq(c->backends[0].servers[0].fall, 1);
	cr_assert_eq(c->backends[0].servers[0].inter_ms, 1);
	cfg_free(c);

	/* one past each bound */
	bad_global("tune.buffers.limit 4294967296",
	           "'tune.buffers.limit' value '4294967296' out of range (expected an integer from 0 to 4294967295)");
	bad_global("tune.bufsize 1023", "'tune.bufsize' size '1023' out of range (expected 1024 to 1048576 bytes)");
	bad_global("tune.maxrewrite 1025k", "'tune.maxrewrite' size '1025k' out of range (expected 0 to 1048576 bytes)");
	bad_global("tune.h2.max-concurrent-streams 2147483648",
	           "'tune.h2.max-concurrent-streams' value '2147483648' out of range (expected an integer from 1 to 2147483647)");
	bad_global("tune.h2.max-header-list-size 4g",
	           "'tune.h2.max-header-list-size' size '4g' out of range (expected 1 to 4294967295 bytes)");
	bad_global("tune.fail-alloc 100.01", "'tune.fail-alloc' invalid percentage '100.01' (expected a number from 0 to 100)");
	bad_global("tune.fail-alloc", "'tune.fail-alloc' missing percentage");
	bad_global("tune.h2.header-table-size", "'tune.h2.header-table-size' missing size");
	bad_global("grace", "'grace' missing time");
	bad_global("grace 50d",
	           "'grace' invalid time '50d' (expected a number with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_global("maxconn 10000001", "'maxconn' value '10000001' out of range (expected an integer from 1 to 10000000)");
	bad_global("maxconn", "'maxconn' missing number of connections");
	bad_backend("retries", "'retries' missing number of retries");
	bad_backend("server x 1.2.3.4:80 inter 50d",
	            "'server' invalid time '50d' for 'inter' (expected a number with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_backend("server x 1.2.3.4:80 rise", "'server' missing value after 'rise'");
	bad_backend("server x 1.2.3.4:80 proto", "'server' missing value after 'proto' (expected h1, h2)");
	/* a bad value stops the parse even after a good one */
	bad("global\n nbthread 2\n nbthread 0\n",
	    "t.cfg:3: 'nbthread' value '0' out of range (expected an integer from 1 to 256)");
}

/* ---------- listen ---------- */

Test(cfg, listen_is_frontend_and_backend)
{
	struct cfg *c = ok("defaults\n default_backend elsewhere\n"
	                   "listen web\n bind :8080\n balance leastconn\n maxconn 77\n"
	                   " server w1 127.0.0.1:9001\n server w2 127.0.0.1:9002\n"
	                   "listen old 127.0.0.1:8081\n server o 127.0.0.1:9003\n"
	                   "listen other\n bind :8082\n default_backend web\n");

	cr_assert_eq(c->nb_frontends, 3);
	cr_assert_eq(c->nb_backends, 3);
	cr_assert_str_eq(c->frontends[0].name, "web");
	cr_assert_str_eq(c->backends[0].name, "web");
	cr_assert_eq(c->frontends[0].from_listen, 1);
	cr_assert_eq(c->backends[0].from_listen, 1);
	cr_assert_str_eq(c->frontends[0].default_backend, "web", "a listen ignores defaults' default_backend");
	cr_assert_eq(c->frontends[0].backend_idx, 0);
	cr_assert_eq(c->frontends[0].default_backend_line, 0);
	cr_assert_eq(c->frontends[0].maxconn, 77);
	cr_assert_eq(c->backends[0].balance, CFG_BALANCE_LC);
	cr_assert_eq(c->backends[0].nb_servers, 2);
	cr_assert_eq(c->frontends[0].line, 3);
	cr_assert_eq(c->backends[0].line, 3);

	cr_assert_eq(c->frontends[1].nb_binds, 1, "old syntax: the address on the listen line");
	assert_addr(&c->frontends[1].binds[0].addr, c->frontends[1].binds[0].addrlen, AF_INET, "127.0.0.1", 8081);
	cr_assert_eq(c->frontends[1].backend_idx, 1);

	cr_assert_eq(c->frontends[2].backend_idx, 0, "a listen may name another backend");
	cr_assert_eq(c->backends[2].nb_servers, 0);
	cfg_free(c);
}

Test(cfg, listen_with_stats_only)
{
	struct cfg *c = ok("listen stats\n bind :8404\n stats enable\n stats uri /s\n stats refresh 5s\n");

	cr_assert_eq(c->frontends[0].stats_enabled, 1);
	cr_assert_str_eq(c->frontends[0].stats_uri, "/s");
	cr_assert_eq(c->frontends[0].stats_refresh_ms, 5000);
	cr_assert_eq(c->backends[0].stats_enabled, 1);
	cr_assert_eq(c->backends[0].nb_servers, 0);
	cr_assert_eq(c->frontends[0].backend_idx, 0);
	cfg_free(c);
}

Test(cfg, stats_prometheus_uri_and_auth)
{
	struct cfg *c = ok("listen stats\n bind :8404\n stats prometheus-uri /metrics\n"
			   " stats auth admin:s3cret\n stats auth ops:a:b\n");

	cr_assert_eq(c->frontends[0].stats_enabled, 1);
	cr_assert_str_eq(c->frontends[0].stats_uri, CFG_STATS_DEFAULT_URI);
	cr_assert_str_eq(c->frontends[0].stats_prom_uri, "/metrics");
	/* base64("admin:s3cret"), base64("ops:a:b"): what clients send */
	cr_assert_str_eq(c->frontends[0].stats_auth, "Basic YWRtaW46czNjcmV0\nBasic b3BzOmE6Yg==\n");
	cfg_free(c);
	bad_frontend("stats auth nocolon", "'stats' invalid credentials 'nocolon' (expected USER:PASS)");
	bad_frontend("stats auth", "'stats' missing USER:PASS after 'auth'");
	bad_frontend("stats prometheus-uri metrics",
		     "'stats' invalid uri 'metrics' (expected a path starting with '/')");
}

/* `sluice -c` reports every mistake of a file in one pass, each with its
 * file:line, and suggests the keyword a typo was meant to be. */
Test(cfg, every_error_in_one_pass_with_suggestions)
{
	bad("global\n maxconn x\n tune.bufsiz 1k\n"
	    "frontend f\n bind :8080\n timout client 5s\n default_backend b\n"
	    "backend b\n server s1 127.0.0.1:81 wieght 2\n blance roundrobin\n xyzzy 1\n",
	    "t.cfg:2: 'maxconn' invalid value 'x' (expected an integer from 1 to 10000000)\n"
	    "t.cfg:3: unknown keyword 'tune.bufsiz' in 'global' section (did you mean 'tune.bufsize'?)\n"
	    "t.cfg:6: unknown keyword 'timout' in 'frontend' section (did you mean 'timeout'?)\n"
	    "t.cfg:9: 'server' unknown argument 'wieght' (expected maxconn, maxqueue, weight, check, "
	    "inter, rise, fall, proto, disabled, backup, " SRVW ")\n"
	    "t.cfg:10: unknown keyword 'blance' in 'backend' section (did you mean 'balance'?)\n"
	    "t.cfg:11: unknown keyword 'xyzzy' in 'backend' section");
}

/* ---------- whole-file validation ---------- */

Test(cfg, frontend_needs_a_bind)
{
	bad("frontend f\n default_backend b\nbackend b\n server s 127.0.0.1:1\n",
	    "t.cfg:1: 'frontend' 'f' has no bind");
	bad("listen l\n server s 127.0.0.1:1\n", "t.cfg:1: 'listen' 'l' has no bind");
}

Test(cfg, missing_backend_reference)
{
	bad("frontend f\n bind :80\n\n default_backend nope\n",
	    "t.cfg:4: 'default_backend' unknown backend 'nope' in frontend 'f' (line 1)");
	bad("defaults\n default_backend nope\nfrontend f\n bind :80\n",
	    "t.cfg:2: 'default_backend' unknown backend 'nope' in frontend 'f' (line 3)");
	bad("frontend f\n bind :80\n default_backend b\n use_backend nope\nbackend b\n server s 127.0.0.1:1\n",
	    "t.cfg:4: 'use_backend' unknown backend 'nope' in frontend 'f' (line 1)");
	bad("listen l\n bind :80\n default_backend nope\n",
	    "t.cfg:3: 'default_backend' unknown backend 'nope' in listen 'l' (line 1)");
}

Test(cfg, backend_declared_after_use)
{
	struct cfg *c = ok("frontend f\n bind :80\n default_backend late\nbackend early\nbackend late\n"
	                   " server s 127.0.0.1:1\n");

	cr_assert_eq(c->frontends[0].backend_idx, 1);
	cr_assert_eq(c->backends[0].nb_servers, 0, "an unused backend may be empty");
	cfg_free(c);
}

Test(cfg, use_backend)
{
	struct cfg *c = ok("frontend f\n bind :80\n default_backend a\n use_backend b\n use_backend a\n"
	                   "backend a\n server s 127.0.0.1:1\nbackend b\n server s 127.0.0.1:2\n");

	cr_assert_str_eq(c->frontends[0].default_backend, "b", "an unconditional use_backend wins");
	cr_assert_eq(c->frontends[0].backend_idx, 1);
	cr_assert_eq(c->frontends[0].default_backend_line, 4);
	cr_assert_str_eq(c->warnings, "t.cfg:5: 'use_backend' ignored: the unconditional use_backend "
	                              "at line 4 always matches first");
	cfg_free(c);

	bad_frontend("use_backend", "'use_backend' missing backend name");
	bad_frontend("default_backend", "'default_backend' missing backend name");
	bad_frontend("default_backend a b", "'default_backend' unexpected argument 'b'");
}

Test(cfg, backend_mode_must_match)
{
	bad("frontend f\n bind :80\n default_backend b\nbackend b\n mode tcp\n server s 127.0.0.1:1\n",
	    "t.cfg:3: 'default_backend' backend 'b' is in tcp mode but frontend 'f' is in http mode");
}

Test(cfg, used_backend_needs_servers_unless_stats)
{
	bad("frontend f\n bind :80\n default_backend b\nbackend b\n balance roundrobin\n",
	    "t.cfg:4: 'backend' 'b' has no server (used by frontend 'f' at line 1)");

	struct cfg *c = ok("frontend f\n bind :80\n stats uri /st\n default_backend b\nbackend b\n");
	cr_assert_eq(c->frontends[0].stats_enabled, 1);
	cfg_free(c);
	c = ok("frontend f\n bind :80\n default_backend b\nbackend b\n stats enable\n");
	cr_assert_eq(c->backends[0].stats_enabled, 1);
	cr_assert_str_eq(c->backends[0].stats_uri, CFG_STATS_DEFAULT_URI);
	cfg_free(c);
}

Test(cfg, frontend_without_backend_is_a_warning)
{
	struct cfg *c = ok("frontend f\n bind :80\n");

	cr_assert_null(c->frontends[0].default_backend);
	cr_assert_eq(c->frontends[0].backend_idx, -1);
	cr_assert_str_eq(c->warnings, "t.cfg:1: 'frontend' 'f' has no default_backend: every request will get a 503");
	cfg_free(c);

	c = ok("frontend f\n bind :80\n mode tcp\n");
	cr_assert_str_eq(c->warnings, "t.cfg:1: 'frontend' 'f' has no default_backend: every connection will be closed");
	cfg_free(c);

	c = ok("frontend f\n bind :80\n stats enable\n");
	cr_assert_null(c->warnings, "stats serve it");
	cfg_free(c);
}

Test(cfg, duplicate_names)
{
	bad(FEBE "frontend f\n", "t.cfg:6: 'frontend' duplicate name 'f': already used by the frontend at line 1");
	bad(FEBE "backend b\n", "t.cfg:6: 'backend' duplicate name 'b': already used by the backend at line 4");
	bad(FEBE "listen b\n", "t.cfg:6: 'listen' duplicate name 'b': already used by the backend at line 4");
	bad(FEBE "listen f\n", "t.cfg:6: 'listen' duplicate name 'f': already used by the frontend at line 1");
	bad("listen l\n bind :80\n server s 127.0.0.1:1\nbackend l\n",
	    "t.cfg:4: 'backend' duplicate name 'l': already used by the listen at line 1");

	struct cfg *c = ok("frontend web\n bind :80\n default_backend web\nbackend web\n server s 127.0.0.1:1\n");
	cr_assert_eq(c->frontends[0].backend_idx, 0, "a frontend and a backend may share a name");
	cfg_free(c);
}

Test(cfg, section_header_errors)
{
	bad("frontend\n", "t.cfg:1: 'frontend' missing name");
	bad("backend b extra\n", "t.cfg:1: 'backend' unexpected argument 'extra'");
	bad("frontend f :80 extra\n", "t.cfg:1: 'frontend' unexpected argument 'extra'");
	bad("backend a/b\n", "t.cfg:1: 'backend' invalid character '/' in name 'a/b' "
	                     "(expected letters, digits, '-', '_', '.', ':')");
	bad("defaults a b\n", "t.cfg:1: 'defaults' unexpected argument 'b'");
	bad("frontend f 127.0.0.1\n", "t.cfg:1: 'frontend' missing port in address '127.0.0.1' (expected ADDR:PORT)");

	struct cfg *c = ok("defaults named\n mode tcp\nbackend b\n");
	cr_assert_eq(c->backends[0].mode, CFG_MODE_TCP);
	cfg_free(c);
}

/* ---------- stats ---------- */

Test(cfg, stats_keywords)
{
	struct cfg *c = ok("frontend f\n bind :80\n stats enable\n"
	                   "frontend g\n bind :81\n stats refresh 10s\n"
	                   "frontend h\n bind :82\n stats uri /x\n stats enable\n");

	cr_assert_eq(c->frontends[0].stats_enabled, 1);
	cr_assert_str_eq(c->frontends[0].stats_uri, "/sluice-stats");
	cr_assert_eq(c->frontends[0].stats_refresh_ms, 0);
	cr_assert_eq(c->frontends[1].stats_enabled, 1, "any stats keyword enables stats");
	cr_assert_eq(c->frontends[1].stats_refresh_ms, 10000);
	cr_assert_str_eq(c->frontends[2].stats_uri, "/x", "enable keeps an earlier uri");
	cfg_free(c);

	bad_frontend("stats", "'stats' missing argument (expected enable, uri, prometheus-uri, refresh, auth, admin)");
	bad_frontend("stats hide-version", "'stats' unsupported argument 'hide-version' (expected enable, uri, prometheus-uri, refresh, auth, admin)");
	bad_frontend("stats uri", "'stats' missing path after 'uri'");
	bad_frontend("stats uri stats", "'stats' invalid uri 'stats' (expected a path starting with '/')");
	bad_frontend("stats refresh", "'stats' missing time after 'refresh'");
	bad_frontend("stats refresh often", "'stats' invalid time 'often' for 'refresh' (expected a number "
	                                    "with an optional unit us, ms, s, m, h, d, at most 49 days)");
	bad_frontend("stats enable now", "'stats' unexpected argument 'now'");
}

/* ---------- built-in text and files ---------- */

Test(cfg, default_text_parses)
{
	struct cfg *c = ok(cfg_default_text());
	const struct cfg_frontend *f;
	const struct cfg_backend *b;

	cr_assert_null(c->warnings);
	cr_assert_eq(c->g.nbthread, 2);
	cr_assert_eq(c->g.maxconn, 4096);
	cr_assert_eq(c->nb_frontends, 1);
	cr_assert_eq(c->nb_backends, 1);
	f = &c->frontends[0];
	cr_assert_str_eq(f->name, "main");
	cr_assert_eq(f->nb_binds, 2);
	assert_addr(&f->binds[0].addr, f->binds[0].addrlen, AF_INET, "127.0.0.1", 8080);
	assert_addr(&f->binds[1].addr, f->binds[1].addrlen, AF_INET6, "::1", 8080);
	cr_assert_eq(f->stats_enabled, 1);
	cr_assert_str_eq(f->stats_uri, "/sluice-stats");
	cr_assert_str_eq(f->default_backend, "demo");
	cr_assert_eq(f->backend_idx, 0);
	cr_assert_eq(f->mode, CFG_MODE_HTTP);
	cr_assert_eq(f->t.client_ms, 30000);
	cr_assert_eq(f->t.http_request_ms, 10000);
	cr_assert_eq(f->t.http_keep_alive_ms, 10000);
	b = &c->backends[0];
	cr_assert_str_eq(b->name, "demo");
	cr_assert_eq(b->balance, CFG_BALANCE_RR);
	cr_assert_eq(b->retries, 3);
	cr_assert_eq(b->redispatch, 1);
	cr_assert_eq(b->t.server_ms, 30000);
	cr_assert_eq(b->t.connect_ms, 5000);
	cr_assert_eq(b->t.queue_ms, 10000);
	cr_assert_eq(b->nb_servers, 1);
	cr_assert_str_eq(b->servers[0].name, "origin1");
	cr_assert_eq(b->servers[0].maxconn, 64);
	assert_addr(&b->servers[0].addr, b->servers[0].addrlen, AF_INET, "127.0.0.1", 8081);
	cfg_free(c);
}

/* Writes <text> (of <len> bytes) to a new temporary file; returns its path. */
static char *temp_file(const char *text, size_t len)
{
	char *path = strdup("/tmp/sluice-cfg-test-XXXXXX");
	int fd;

	cr_assert_not_null(path);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(cfg, parse_file)
{
	char *path = temp_file(cfg_default_text(), strlen(cfg_default_text()));
	char *err = NULL, want[256];
	struct cfg *c = cfg_parse_file(path, &err);

	cr_assert_not_null(c, "%s", err);
	cr_assert_eq(c->nb_frontends, 1);
	cfg_free(c);
	unlink(path);
	free(path);

	path = temp_file("global\n\n nbthread x\n", strlen("global\n\n nbthread x\n"));
	c = cfg_parse_file(path, &err);
	cr_assert_null(c);
	snprintf(want, sizeof(want), "%s:3: 'nbthread' invalid value 'x' (expected an integer from 1 to 256)", path);
	cr_assert_str_eq(err, want, "messages name the file");
	free(err);
	unlink(path);
	free(path);

	path = temp_file("global\n maxconn 1\0 x\n", 20);
	c = cfg_parse_file(path, &err);
	cr_assert_null(c);
	snprintf(want, sizeof(want), "%s:2: NUL byte in the configuration", path);
	cr_assert_str_eq(err, want);
	free(err);
	unlink(path);
	free(path);
}

Test(cfg, parse_file_missing_or_unreadable)
{
	char *err = NULL, want[256];
	struct cfg *c = cfg_parse_file("/nonexistent/sluice.cfg", &err);

	cr_assert_null(c);
	snprintf(want, sizeof(want), "/nonexistent/sluice.cfg: cannot read the configuration: %s",
	         strerror(ENOENT));
	cr_assert_str_eq(err, want);
	free(err);

	c = cfg_parse_file("/tmp", &err);
	cr_assert_null(c);
	snprintf(want, sizeof(want), "/tmp: cannot read the configuration: %s", strerror(EISDIR));
	cr_assert_str_eq(err, want);
	free(err);
}

Test(cfg, free_null)
{
	cfg_free(NULL);
	cr_assert(1);
}

Test(cfg, frontend_maxconn_follows_global_declared_later)
{
	struct cfg *c = ok(FEBE "global\n maxconn 123\n");

	cr_assert_eq(c->frontends[0].maxconn, 123);
	cfg_free(c);
}

Test(cfg, h2_header_list_follows_bufsize)
{
	struct cfg *c = ok("global\n tune.bufsize 64k\n");

	cr_assert_eq(c->g.h2_max_header_list, 65536);
	cfg_free(c);
}

/* ---------- TLS defaults and layers ---------- */

/* The global ssl-default-* keywords are checked on their own line, with
 * OpenSSL's reason; options outside HAProxy's list are refused. */
Test(cfg, tls_global_defaults_errors)
{
	bad_global("ssl-default-bind-ciphers NOPE-NOTHING",
	           "'ssl-default-bind-ciphers' invalid ciphers 'NOPE-NOTHING': no cipher match");
	bad_global("ssl-default-server-ciphersuites TLS_NOPE",
	           "'ssl-default-server-ciphersuites' invalid ciphersuites 'TLS_NOPE': no cipher match");
	bad_global("ssl-default-bind-curves X99999",
	           "'ssl-default-bind-curves' invalid curves 'X99999': passed invalid argument");
	bad_global("ssl-default-bind-ciphers", "'ssl-default-bind-ciphers' takes one value (a list)");
	bad_global("ssl-default-bind-options", "'ssl-default-bind-options' needs at least one option");
	bad_global("ssl-default-bind-options ssl-min-ver SSLv3",
	           "'ssl-default-bind-options' unsupported ssl-min-ver 'SSLv3' (expected TLSv1.2, TLSv1.3)");
	bad_global("ssl-default-server-options no-tlsv12 no-tlsv13",
	           "'ssl-default-server-options' no TLS version left (ssl-min-ver, ssl-max-ver and no-tlsv1x "
	           "leave nothing between TLSv1.2 and TLSv1.3)");
	bad_global("ssl-default-bind-options crt x.pem",
	           "'ssl-default-bind-options' unsupported option 'crt' (expected ssl-min-ver, ssl-max-ver, "
	           "no-tls-tickets, no-tlsv13, no-tlsv12, no-tlsv11, no-tlsv10, no-sslv3)");
	bad_global("ssl-default-server-options ssl-max-ver",
	           "'ssl-default-server-options' missing value after 'ssl-max-ver'");
}

/* Layers on a server: global defaults, default-server, the line; `no-ssl`
 * undoes default-server's `ssl`, and a bad layered result names the
 * server line. */
Test(cfg, tls_server_layers)
{
	struct cfg *c = ok("global\n ssl-default-server-options ssl-min-ver TLSv1.3\n"
	                   "frontend f\n bind :8080\n default_backend b\n"
	                   "backend b\n default-server ssl verify none alpn http/1.1\n"
	                   " server s1 127.0.0.1:81\n server s2 127.0.0.1:82 no-ssl\n"
	                   " server s3 127.0.0.1:83 ssl-max-ver TLSv1.3 curves X25519\n");

	cr_assert_eq(c->backends[0].nb_servers, 3);
	cr_assert_not_null(c->backends[0].servers[0].tls);
	cr_assert_null(c->backends[0].servers[1].tls);
	cr_assert_not_null(c->backends[0].servers[2].tls);
	cfg_free(c);
	/* TLSv1.3 at least (global) and at most 1.2 (the line): nothing left */
	bad("global\n ssl-default-server-options ssl-min-ver TLSv1.3\n" FEBE
	    " default-server ssl verify none\n server x 1.2.3.4:80 ssl-max-ver TLSv1.2\n",
	    "t.cfg:9: 'server' no TLS version left (ssl-min-ver, ssl-max-ver and no-tlsv1x leave "
	    "nothing between TLSv1.2 and TLSv1.3)");
	bad_backend("server x 1.2.3.4:80 ssl verify none crt /nonexistent.pem",
	            "'server' cannot load the client certificate and its key from '/nonexistent.pem': "
	            "error:80000002:system library::No such file or directory");
	bad_backend("server x 1.2.3.4:80 curves P-256", "'server' TLS options on server 'x' without 'ssl'");
	bad_backend("server x 1.2.3.4:80 ssl verify none curves NOPE",
	            "'server' invalid curves 'NOPE': passed invalid argument");
	/* defaults sections carry default-server's TLS words too */
	c = ok("defaults\n default-server ssl verify none\n"
	       "frontend f\n bind :8080\n default_backend b\nbackend b\n server s1 127.0.0.1:81\n");
	cr_assert_not_null(c->backends[0].servers[0].tls);
	cfg_free(c);
}

/* `stats admin if COND`: compiled with the section's ACLs and HAProxy's
 * predefined ones; only where the page is served. */
Test(cfg, stats_admin)
{
	struct cfg *c = ok("frontend f\n bind :8080\n stats uri /s\n stats admin if LOCALHOST\n"
	                   " default_backend b\n"
	                   "listen l\n bind :8081\n acl ops src 10.0.0.0/8\n stats admin if ops || { src 192.168.1.1 }\n"
	                   " server s2 127.0.0.1:82\n"
	                   "backend b\n server s1 127.0.0.1:81\n");

	cr_assert(c->frontends[0].stats_enabled, "admin enables stats");
	cr_assert_not_null(c->frontends[0].rules);
	cr_assert_not_null(c->frontends[0].rules->stats_admin);
	cr_assert_not_null(c->frontends[1].rules->stats_admin);
	cr_assert_null(c->warnings);
	cfg_free(c);
	bad_frontend("stats admin", "'stats' 'admin' expects a condition ('if COND' or 'unless COND')");
	bad_frontend("stats admin LOCALHOST", "'stats' 'admin' expects a condition ('if COND' or 'unless COND')");
	bad_frontend("stats admin if NOPE", "'stats' unknown ACL 'NOPE' (declare it with 'acl' before using it)");
	bad_backend("stats admin if LOCALHOST", "'stats' 'admin' is only allowed in frontend and listen sections");
	bad("defaults\n stats admin if TRUE\n", "t.cfg:2: 'stats' 'admin' is only allowed in frontend and listen sections");
	bad("frontend f\n bind :8080\n stats admin if LOCALHOST\n stats admin unless LOCALHOST\n",
	    "t.cfg:4: 'stats' 'admin' given twice: write one condition with '||'");
}

Test(cfg, backend_rules)
{
	struct cfg *c = ok(FEBE " acl api path_beg /api\n"
	                   " http-request set-header X-Be 1 if api\n"
	                   " http-response del-header X-Secret\n"
	                   "listen l\n bind :8081\n server s 127.0.0.1:83\n"
	                   " http-request deny if { path /x }\n");
	const struct cfg_backend *b = &c->backends[0], *lb = &c->backends[1];

	cr_assert_str_eq(b->name, "b");
	cr_assert_not_null(b->rules, "a backend keeps its own rules");
	cr_expect_eq(b->rules->nb_req, 1);
	cr_expect_eq(b->rules->nb_rsp, 1);
	cr_expect_eq(b->rules_shared, 0);
	cr_expect_null(c->frontends[0].rules, "the frontend has none of them");
	/* a listen has one set of rules, the frontend's, which its backend
	 * side shares (and the request runs them once) */
	cr_assert_str_eq(lb->name, "l");
	cr_expect_eq(lb->rules, c->frontends[1].rules);
	cr_expect_eq(lb->rules_shared, 1);
	cfg_free(c);

	bad("frontend f\n bind :8080\n mode tcp\n default_backend b\nbackend b\n mode tcp\n"
	    " server s1 127.0.0.1:81\n http-request deny\n",
	    "t.cfg:5: 'backend' 'b' is in tcp mode: http-request and http-response need mode http");
	bad_backend("http-request deny if nosuch", "'http-request' unknown ACL 'nosuch' (declare it with 'acl' before using it)");
}

Test(cfg, return_bodies_and_files)
{
	char path[64], text[1024];
	struct cfg *c;
	FILE *f;
	const struct cfg_http_rule *r;

	snprintf(path, sizeof(path), "/tmp/test_cfg_body_%d.txt", getpid());
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("as %[is]\n", f);
	fclose(f);
	snprintf(text, sizeof(text), "frontend f\n bind :8080\n default_backend b\n"
	         " http-request return content-type text/plain string \"50%% %%[path]\" if { path /s }\n"
	         " http-request return lf-string \"p=%%[path]\" if { path /l }\n"
	         " http-request return status 503 file %s if { path /f }\n"
	         "backend b\n server s1 127.0.0.1:81\n", path);
	c = ok(text);
	r = &c->frontends[0].rules->req[0];
	cr_expect(r->body && r->body_len == 11 && !memcmp(r->body, "50% %[path]", 11), "string is sent as is");
	cr_expect_null(r->value);
	r = &c->frontends[0].rules->req[1];
	cr_expect_null(r->body);
	cr_expect_not_null(r->value, "lf-string is a format");
	r = &c->frontends[0].rules->req[2];
	cr_expect(r->body && r->body_len == 9 && !memcmp(r->body, "as %[is]\n", 9), "file is read once, as is");
	cr_expect_eq(r->status, 503);
	cfg_free(c);

	/* a file larger than a response buffer leaves for it is refused */
	snprintf(text, sizeof(text), "global\n tune.bufsize 4096\n tune.maxrewrite 1024\n"
	         "frontend f\n bind :8080\n default_backend b\n"
	         " http-request return file %s\nbackend b\n server s1 127.0.0.1:81\n", path);
	f = fopen(path, "w");
	for (int i = 0; i < 4000; i++)
		fputc('x', f);
	fclose(f);
	{
		char want[512];

		snprintf(want, sizeof(want), "t.cfg:7: 'http-request' '%s' holds 4000 bytes, more than the 3072 "
		         "a response buffer leaves for it (tune.bufsize - tune.maxrewrite)", path);
		bad(text, want);
		snprintf(text, sizeof(text), "frontend f\n bind :8080\n default_backend b\n"
		         " errorfile 503 %s\nbackend b\n server s1 127.0.0.1:81\n", path);
		unlink(path);
		snprintf(want, sizeof(want), "t.cfg:4: 'errorfile' cannot read '%s' (No such file or directory)", path);
		bad(text, want);
	}
}

Test(cfg, unique_id)
{
	struct cfg *c = ok("defaults\n unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid\n"
	                   " unique-id-header X-Unique-ID\n"
	                   "frontend f\n bind :8080\n default_backend b\n"
	                   "frontend g\n bind :8081\n default_backend b\n unique-id-format %[src]-%rt\n"
	                   "backend b\n server s1 127.0.0.1:81\n");

	cr_expect_not_null(c->frontends[0].uid_fmt, "inherited from defaults, compiled per frontend");
	cr_expect_str_eq(c->frontends[0].uid_hdr, "X-Unique-ID");
	cr_expect_not_null(c->frontends[1].uid_fmt);
	cfg_free(c);
	bad("frontend f\n bind :8080\n unique-id-format %ci-%zz\n",
	    "t.cfg:3: 'unique-id-format' unknown variable '%zz' (expected %ci, %cp, %fi, %fp, %Ts, %rt, "
	    "%pid, %ID, %[SAMPLE], or %% for a percent sign)");
	bad("frontend f\n bind :8080\n unique-id-format %[nosuch]\n",
	    "t.cfg:3: 'unique-id-format' unknown fetch 'nosuch'");
	bad("frontend f\n bind :8080\n unique-id-header Bad:Name\n",
	    "t.cfg:3: 'unique-id-header' invalid character 0x3a in header name 'Bad:Name'");
}

/* Parses <text>, which must fail with an error that holds <want>. */
static void bad_sub(const char *text, const char *want)
{
	char *err = NULL;
	struct cfg *c = cfg_parse_text(text, "t.cfg", &err);

	cr_assert_null(c, "expected an error with \"%s\"\n--- config:\n%s", want, text);
	cr_expect(err && strstr(err, want), "\n got: %s\nwant: ...%s...", err, want);
	free(err);
}

/* crt-base and ca-base: a relative path after crt, crt-list (and in the
 * list) and ca-file is taken from them, an absolute one as written; the
 * error names the path that was tried. */
Test(cfg, crt_base_and_ca_base)
{
	char lst[] = "/tmp/sluice-crt-base-XXXXXX", text[768], want[256];
	int fd = mkstemp(lst);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "site.pem\n", 9), 9);
	close(fd);
	/* crt: relative under crt-base (its trailing '/' dropped) */
	bad("global\n crt-base /nonexistent-crt/\nfrontend f\n bind :8443 ssl crt site.pem\n"
	    " default_backend b\nbackend b\n server s1 127.0.0.1:81\n",
	    "t.cfg:4: 'bind' cannot open certificate '/nonexistent-crt/site.pem': "
	    "No such file or directory");
	/* crt: absolute, crt-base ignored */
	bad("global\n crt-base /nonexistent-crt\nfrontend f\n bind :8443 ssl crt /nonexistent-abs.pem\n"
	    " default_backend b\nbackend b\n server s1 127.0.0.1:81\n",
	    "t.cfg:4: 'bind' cannot open certificate '/nonexistent-abs.pem': "
	    "No such file or directory");
	/* crt-list: the list's own path, then the paths inside it */
	snprintf(text, sizeof(text), "global\n crt-base /tmp\nfrontend f\n bind :8443 ssl crt-list %s\n"
		 " default_backend b\nbackend b\n server s1 127.0.0.1:81\n", strrchr(lst, '/') + 1);
	snprintf(want, sizeof(want), "t.cfg:4: 'bind' crt-list '%s' line 1: ", lst);
	bad_sub(text, want);
	bad_sub(text, "'/tmp/site.pem'");
	/* ca-file under ca-base, on default-server too */
	bad_sub("global\n ca-base /nonexistent-ca\n" FEBE " server x 1.2.3.4:80 ssl ca-file ca.pem\n",
		"t.cfg:8: 'server' cannot load CA file '/nonexistent-ca/ca.pem'");
	bad_sub("global\n ca-base /nonexistent-ca\n" FEBE " default-server ssl ca-file d/ca.pem\n"
		" server x 1.2.3.4:80\n",
		"t.cfg:9: 'server' cannot load CA file '/nonexistent-ca/d/ca.pem'");
	/* without a base, as written */
	bad_frontend("bind :8443 ssl crt rel.pem",
		     "'bind' cannot open certificate 'rel.pem': No such file or directory");
	bad_global("crt-base", "'crt-base' missing directory");
	bad_global("ca-base a b", "'ca-base' unexpected argument 'b'");
	unlink(lst);
}

/* The `[...]` of a crt-list line: its grammar is checked before the
 * certificate is loaded, so a list naming no real file shows it. Errors name
 * the list, its line and the word; value errors that need a certificate are
 * tested over real ones in tests/integration/test_tls.py. */
Test(cfg, crt_list_options)
{
	static const struct { const char *list, *want; } cases[] = {
		{ "x.pem [verify required] a.test\n", "unsupported SSL option 'verify' in '[...]' "
		  "(expected alpn, ssl-min-ver, ssl-max-ver, ciphers, ciphersuites, curves, "
		  "no-tls-tickets, no-tlsv13, no-tlsv12)" },
		{ "x.pem [crt y.pem]\n", "unsupported SSL option 'crt' in '[...]' (expected alpn, " },
		{ "x.pem [no-sslv3]\n", "unsupported SSL option 'no-sslv3' in '[...]' (expected alpn, " },
		{ "# c\n\nx.pem [alpn]\n", "line 3: missing value after 'alpn'" },
		{ "x.pem [alpn h2 b.test\n", "missing ']'" },
		{ "x.pem alpn h2] b.test\n", "']' without '['" },
		{ "x.pem [alpn h2]] b.test\n", "more than one ']'" },
		{ "x.pem [alpn h2] [no-tlsv12]\n", "more than one '['" },
		{ "x.pem b.test [alpn h2]\n", "the SSL options '[...]' must come right after the certificate path" },
		{ "[alpn h2] x.pem\n", "the SSL options '[...]' must come right after the certificate path" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *lst = temp_file(cases[i].list, strlen(cases[i].list));
		char text[512], *err = NULL;
		struct cfg *c;

		snprintf(text, sizeof(text), "frontend f\n bind :8443 ssl crt-list %s\n"
		         " default_backend b\nbackend b\n server s1 127.0.0.1:81\n", lst);
		c = cfg_parse_text(text, "t.cfg", &err);
		cr_assert_null(c, "%s", cases[i].list);
		cr_expect(err && strstr(err, "t.cfg:2: 'bind' crt-list '") && strstr(err, lst) &&
		          strstr(err, cases[i].want), "%s: got %s", cases[i].list, err);
		cr_expect(strstr(cases[i].want, "line ") || strstr(err, "' line 1: "), "%s", err);
		free(err);
		unlink(lst);
		free(lst);
	}
}

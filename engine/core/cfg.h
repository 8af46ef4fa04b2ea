/* cfg.h - Sluice's configuration: an HAProxy-style file parsed into plain structs.
 *
 * Contract
 * --------
 * The text is made of sections (`global`, `defaults`, `frontend NAME`,
 * `backend NAME`, `listen NAME`), one keyword per line, arguments separated
 * by blanks. `#` outside quotes starts a comment. An argument may be quoted:
 * "..." (with \" \\ \r \n \t escapes) or '...' (taken literally); outside
 * quotes a backslash escapes a blank, `#`, a quote or itself.
 *
 * Times are a decimal number with an optional unit: us, ms (the default), s,
 * m, h, d. Sizes are a decimal number with an optional k, m or g suffix
 * (powers of 1024).
 *
 * `defaults` follows HAProxy: each `defaults` section starts again from the
 * built-in defaults, and every later frontend/backend/listen starts from the
 * most recent one. A `listen NAME` section yields both a frontend and a
 * backend named NAME; the frontend uses that backend unless the section says
 * otherwise.
 *
 * Parsing stops at the first error. Every error message has the form
 *   FILE:LINE: 'keyword' what is wrong
 * except for an unknown keyword:
 *   FILE:LINE: unknown keyword 'foo' in 'global' section
 * Warnings (keywords accepted but ignored) use the same form and are returned
 * in cfg->warnings.
 *
 * Everything reachable from a struct cfg is owned by it and freed by
 * cfg_free(). A parsed cfg is never modified by this module again, so it may
 * be read by many threads at once.
 *
 * Values after parsing are final: unset timeouts, frontend maxconn and the
 * H2 header-list limit are resolved to their effective value, backend_idx is
 * resolved, and the checks listed in cfg_parse_text() have passed.
 */
#ifndef SLUICE_ENGINE_CFG_H
#define SLUICE_ENGINE_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "engine/core/acl.h"

enum { CFG_MODE_HTTP = 0, CFG_MODE_TCP = 1 };
enum { CFG_BALANCE_RR = 0, CFG_BALANCE_LC = 1 };

/* Connection modes: `option http-keep-alive` (the default),
 * `option http-server-close`, `option httpclose`. */
enum { CFG_CONN_KEEPALIVE = 0, CFG_CONN_SERVER_CLOSE = 1, CFG_CONN_CLOSE = 2 };

/* `option splice-auto|splice-request|splice-response`: bits of the
 * frontend's and backend's splice field; a direction splices when either
 * of the two proxies of a stream asks for it (as in HAProxy). */
enum { CFG_SPLICE_AUTO = 1, CFG_SPLICE_REQ = 2, CFG_SPLICE_RSP = 4 };

/* Longest unique id a request gets (as HAProxy's UNIQUEID_LEN): a longer
 * one is cut there. */
#define CFG_UNIQUE_ID_MAX 128

/* URI served by `stats enable` when no `stats uri` is given. */
#define CFG_STATS_DEFAULT_URI "/sluice-stats"
/* Method and URI of `option httpchk` given without arguments. */
#define CFG_CHK_DEFAULT_METHOD "OPTIONS"
#define CFG_CHK_DEFAULT_URI    "/"

/* Built-in values of server settings (`server` / `default-server`). */
#define CFG_SRV_DEFAULT_WEIGHT   1
#define CFG_SRV_DEFAULT_INTER_MS 2000
#define CFG_SRV_DEFAULT_RISE     2
#define CFG_SRV_DEFAULT_FALL     3

/* All in milliseconds, all resolved after parsing. Built-in values: client
 * 30s, server 30s, connect 5s; queue defaults to connect, http-request to
 * client, http-keep-alive to http-request (as in HAProxy). check is 0 when
 * unset, meaning "each server's inter": use cfg_check_timeout_ms(). */
struct cfg_timeouts {
	uint32_t client_ms, server_ms, connect_ms, queue_ms, http_request_ms,
	         http_keep_alive_ms, check_ms;
};

struct tls_srv;

/* `option forwardfor [except NET] [header NAME]`. */
struct cfg_fwd {
	char *hdr;                        /* NULL: X-Forwarded-For */
	int except;                       /* clients in this network get no header */
	int fam;
	uint8_t net[16];
	unsigned bits;
};

struct cfg_server {
	char *name;
	struct sockaddr_storage addr;     /* numeric address and port */
	socklen_t addrlen;
	unsigned maxconn;                 /* 0: no limit */
	unsigned maxqueue;                /* streams its own queue may hold, 0: no limit */
	unsigned weight;                  /* 0..256, default 1 */
	int check;                        /* health checks enabled */
	unsigned inter_ms, rise, fall;    /* check interval, up/down thresholds */
	int proto_h2;                     /* speak HTTP/2 (prior knowledge) */
	struct tls_srv *tls;              /* `ssl`: TLS client context (core/tls.h), else NULL */
	int disabled, backup;
	int line;                         /* line of the `server` keyword */
};

struct cfg_backend {
	char *name;
	int mode;                         /* CFG_MODE_* */
	int balance;                      /* CFG_BALANCE_* */
	unsigned retries;
	unsigned maxqueue;                /* streams its queue may hold, 0: no limit */
	int redispatch;
	struct cfg_timeouts t;
	char *chk_method, *chk_uri;       /* both set iff `option httpchk` */
	int chk_expect_status;            /* 0: any 2xx or 3xx is good */
	struct cfg_server *servers;
	unsigned nb_servers;
	int stats_enabled;
	char *stats_uri;                  /* set iff stats_enabled */
	unsigned stats_refresh_ms;        /* 0: no refresh */
	int conn_mode;                    /* CFG_CONN_* */
	int forwardfor;
	struct cfg_fwd fwd;               /* its arguments, when forwardfor */
	int splice;                       /* CFG_SPLICE_* bits */
	int from_listen;                  /* declared by a `listen` section */
	int line;                         /* line of the section header */
	struct cfg_rules *rules;          /* its acl / http-request / http-response
	                                   * lines, run after the frontend's request
	                                   * rules and before its response rules;
	                                   * NULL when it has none */
	int rules_shared;                 /* a listen's: owned by its frontend */
};

struct tls_bind;

/* `use_backend NAME if|unless COND`, or the sample form
 * `use_backend %[SAMPLE] [if|unless COND]` whose value names the backend. */
struct cfg_use_backend {
	char *name;                       /* NAME form, else NULL */
	int backend_idx;                  /* NAME form: resolved after parsing */
	struct sample_expr *dyn;          /* sample form, else NULL; when it ends in a
	                                   * map, each entry's ref is the backend index
	                                   * of its value (resolved after parsing) */
	int dyn_default_idx;              /* backend of the map's default, or -1 */
	struct acl_cond *cond;            /* NULL: always */
	int line;
};

/* Actions of `http-request` and `http-response`. */
enum cfg_http_act {
	HA_SET_HDR, HA_ADD_HDR, HA_DEL_HDR, HA_REPLACE_HDR,    /* both directions */
	HA_SET_PATH, HA_SET_QUERY, HA_SET_METHOD,              /* requests */
	HA_DENY, HA_RETURN, HA_REDIRECT,                       /* requests: answered here */
	HA_SET_STATUS,                                         /* responses */
	HA_USE_SERVICE,                                        /* requests: a host service answers */
};

enum { CFG_REDIR_LOCATION, CFG_REDIR_PREFIX, CFG_REDIR_SCHEME };

struct cfg_http_rule {
	enum cfg_http_act act;
	struct acl_cond *cond;            /* NULL: always */
	char *name;                       /* header name (header actions) */
	size_t name_len;
	struct acl_fmt *value;            /* header value, path, query, method,
	                                   * redirect target, return body
	                                   * (lf-string, lf-file) */
	char *body;                       /* return: literal body (string, file) */
	size_t body_len;
	struct acl_regex *re;             /* replace-header: what to replace */
	int status;                       /* deny, return, redirect, set-status */
	char *reason;                     /* set-status: reason phrase, or NULL */
	char *ctype;                      /* return: content type, or NULL */
	int redir;                        /* CFG_REDIR_* */
	int svc_idx;                      /* use-service (name in <name>): the
	                                   * engine's service, resolved when it
	                                   * starts (sluice_check()) */
	int line;
};

/* `errorfile CODE FILE`: the whole answer, head included, sent as is. */
struct cfg_errorfile {
	int status;
	char *msg;
	size_t len;
};

/* What a frontend (or listen) section decides per request, in the order it
 * runs: http-request rules, then use_backend rules, then the default
 * backend; http-response rules on each response head. A backend's own
 * rules (acl, http-request, http-response; no use_backend, no errorfile)
 * use the same struct and run after the frontend's request rules and
 * before its response rules. */
struct cfg_rules {
	struct acl_list *acls;
	struct cfg_http_rule *req, *rsp;
	unsigned nb_req, nb_rsp, cap_req, cap_rsp;
	struct cfg_use_backend *ub;
	unsigned nb_ub, cap_ub;
	struct cfg_errorfile *ef;
	unsigned nb_ef, cap_ef;
	/* `stats admin if COND`: requests it holds for may change server
	 * states from the stats page; NULL: nobody may */
	struct acl_cond *stats_admin;
};

struct cfg_bind {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int proto_h2;                     /* HTTP/2 prior knowledge only */
	struct tls_bind *tls;             /* `ssl`: TLS contexts (core/tls.h), else NULL */
	int line;
};

struct cfg_frontend {
	char *name;
	int mode;                         /* CFG_MODE_* */
	struct cfg_bind *binds;
	unsigned nb_binds;                /* at least 1 */
	unsigned maxconn;                 /* global maxconn when not set */
	char *default_backend;            /* NULL when there is none */
	int backend_idx;                  /* index in cfg->backends, or -1 */
	int default_backend_line;         /* line naming it, 0 for a listen's own */
	struct cfg_timeouts t;
	int forwardfor;
	struct cfg_fwd fwd;               /* its arguments, when forwardfor */
	int httplog;
	struct cfg_rules *rules;          /* NULL when the section has none */
	struct acl_fmt *uid_fmt;          /* `unique-id-format`: each request's id, or NULL */
	char *uid_hdr;                    /* `unique-id-header`: sent to the server with
	                                   * the id (only with uid_fmt), or NULL */
	int stats_enabled;
	char *stats_uri;                  /* set iff stats_enabled */
	char *stats_prom_uri;             /* `stats prometheus-uri`: Prometheus text there, or NULL */
	char *stats_auth;                 /* `stats auth`: the Authorization values accepted,
	                                   * one per line ("Basic ..."), or NULL: no auth */
	unsigned stats_refresh_ms;
	int conn_mode;                    /* CFG_CONN_* */
	int splice;                       /* CFG_SPLICE_* bits */
	int from_listen;
	int line;
};

struct cfg_global {
	unsigned nbthread, maxconn;
	size_t bufsize, maxrewrite;
	uint64_t buf_limit;               /* tune.buffers.limit, 0: none */
	uint64_t buf_reserve;             /* < buf_limit when a limit is set */
	double fail_alloc_pct;            /* 0..100 */
	unsigned h2_max_streams;
	uint32_t max_streams;              /* maxstreams: HTTP/2 request streams open at once
	                                    * in the process, 0 = no cap */
	uint32_t h2_init_window, h2_header_table;
	uint32_t h2_encoder_table;         /* tune.h2.encoder-table-size, 0: none */
	uint32_t h2_max_header_list;      /* bufsize when not set */
	uint64_t h2_max_heap;             /* tune.h2.max-heap-per-conn, 0: the mux's default */
	uint32_t grace_ms;
	unsigned pipes_limit;             /* tune.pipes.limit; when not set, maxconn / 4
	                                   * (HAProxy's tune.maxpipes default), at least 1 */
	char *log_target;                 /* "stderr", "stdout", a file path, or NULL */
	char *cli_path;                   /* `stats socket PATH`: the command socket, or NULL */
	unsigned cli_mode;                /* its permissions (`mode`, octal), 0600 by default */
	int cli_level;                    /* enum cfg_cli_level (`level`), admin by default */
	uint32_t cli_timeout_ms;          /* `stats timeout`: a client of the socket that
	                                   * moves no byte for this long is closed, 10 s
	                                   * by default */
	unsigned cli_maxconn;             /* `stats maxconn`: clients served at once, 10
	                                   * by default; the next wait in the backlog */
};

/* What the command socket lets its users do (`stats socket ... level`). */
enum cfg_cli_level {
	CFG_CLI_USER = 0,      /* show commands only */
	CFG_CLI_OPERATOR,      /* also weights and drain */
	CFG_CLI_ADMIN,         /* everything, maintenance included */
};

struct cfg {
	struct cfg_global g;
	struct cfg_frontend *frontends;
	unsigned nb_frontends;
	struct cfg_backend *backends;
	unsigned nb_backends;
	char *warnings;                   /* newline-separated, or NULL */
	char *file;                       /* the name messages give the text */
};

/* Parses <text>; <name> is the file name used in messages. Returns a new cfg,
 * or NULL with a malloc'ed message in *err (caller frees; NULL only when even
 * that message could not be allocated). After the last line it checks that
 * every frontend has a bind, that the backends frontends use exist, have the
 * same mode, and have servers unless stats serve the frontend, that names are
 * unique, and that buffer limits are consistent. */
struct cfg *cfg_parse_text(const char *text, const char *name, char **err);

/* Reads and parses the file at <path>. Same returns as cfg_parse_text(); an
 * unreadable file is an error naming it and the reason. */
struct cfg *cfg_parse_file(const char *path, char **err);

/* Returns the built-in configuration text, used when no file is given. */
const char *cfg_default_text(void);

/* Frees <c> and everything it owns. NULL is accepted. */
void cfg_free(struct cfg *c);

/* Frees <r> and everything it owns. NULL is accepted. */
void cfg_rules_free(struct cfg_rules *r);

/* Parses a time with an optional unit into milliseconds (microseconds are
 * rounded up). Returns 0, or -1 when <s> is not a time or does not fit. */
int cfg_parse_time(const char *s, uint32_t *ms);

/* Parses a size with an optional k/m/g suffix. Returns 0, or -1 when <s> is
 * not a size or overflows. */
int cfg_parse_size(const char *s, uint64_t *out);

/* Returns the timeout of one health check of <srv> in <be>: `timeout check`
 * when set, the server's check interval otherwise. */
static inline uint32_t cfg_check_timeout_ms(const struct cfg_backend *be,
                                             const struct cfg_server *srv)
{
	return be->t.check_ms ? be->t.check_ms : srv->inter_ms;
}

#endif

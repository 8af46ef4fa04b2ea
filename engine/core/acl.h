/* acl.h - request conditions: fetches, converters, matchers, maps.
 *
 * Contract
 * --------
 * Everything here is compiled once when the configuration is loaded and
 * then only read, by any number of threads at once. Evaluation is pure: it
 * looks at one parsed request head (a struct h1_msg and the bytes its spans
 * point into), the client's address and the local port, and at nothing
 * else of the engine. Nothing is allocated while evaluating, except one
 * PCRE2 match block per thread, made on the first regex match of that
 * thread.
 *
 * Vocabulary (HAProxy's where the two overlap):
 *   fetch       a value taken from the request: path, hdr(host), src...;
 *               some yield several values (one per header occurrence)
 *   converter   a step applied to a fetched string: lower, upper, map(...)
 *   sample      a fetch followed by converters, "req.hdr(host),lower"
 *   acl         `acl NAME FETCH [-i] [-m METHOD] [-f FILE]... VALUE...`:
 *               true when one value of the fetch matches one pattern;
 *               several lines with the same name OR together. A pattern
 *               file holds one pattern per line (leading and trailing
 *               blanks trimmed, empty lines and '#' lines skipped); its
 *               patterns join the inline ones. Exact-string patterns are
 *               kept sorted and found by binary search, so a file of
 *               100,000 names costs ~17 compares per value
 *   condition   `if|unless TERM...`: terms are ACL names or `{ FETCH ... }`
 *               anonymous ACLs, `!` negates a term, terms side by side are
 *               ANDed, `||` separates alternatives
 *   format      a value with `%[sample]` parts, for header values and the like,
 *               and HAProxy's log-format variables %ci %cp %fi %fp %Ts %rt
 *               %pid %ID (numbers and IPv4 addresses in upper-case hex
 *               after `%{+X}o`, or for one variable as `%{+X}ci`)
 *
 * Errors are returned as malloc'ed messages without file and line, for the
 * caller (cfg.c) to prefix with its own.
 */
#ifndef SLUICE_ENGINE_ACL_H
#define SLUICE_ENGINE_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "mux/h1.h"

/* What evaluation looks at. src is parsed from src_str on first need and
 * cached here, so a ctx belongs to one evaluation on one thread. The
 * fields after src_addr serve the log-format variables of formats (%fi,
 * %Ts, %rt) and the unique-id fetch; zero where the caller has none. */
struct acl_ctx {
	const struct h1_msg *m;
	const char *base;            /* the bytes m's spans refer to */
	const char *src_str;         /* client address, numeric, or NULL */
	unsigned src_port, dst_port;
	int src_state;               /* 0: not parsed yet, 1: parsed, -1: none */
	int src_family;
	uint8_t src_addr[16];
	int dst_family;              /* local address (%fi): AF_INET, AF_INET6, 0: none */
	uint8_t dst_addr[16];
	uint64_t now_s;              /* %Ts: seconds since the epoch */
	uint64_t req_id;             /* %rt: the request's number, unique in the process */
	const char *uid;             /* the request's unique id (unique-id), or NULL */
	size_t uid_len;
};

struct map;
struct sample_expr;
struct acl;
struct acl_list;
struct acl_cond;
struct acl_fmt;

/* ---- maps ---- */

/* Loads the map file at <path>: one "KEY VALUE" per line (blanks separate
 * them, the value runs to the end of the line), '#' starts a comment line,
 * empty lines are skipped. A key given twice keeps its first value, as a
 * lookup would never reach the second. Returns the map, or NULL with
 * *err set ("FILE:LINE: what" for a bad line). */
struct map *map_load(const char *path, char **err);

/* Exact, longest-prefix and domain lookups of key[0..len). The domain
 * lookup tries the key, then each suffix that follows a '.', so the entry
 * "example.com" answers "www.example.com" as well. Return the entry's index
 * (0..map_count-1), or -1. */
long map_find(const struct map *mp, const char *key, size_t len);
long map_find_beg(const struct map *mp, const char *key, size_t len);
long map_find_dom(const struct map *mp, const char *key, size_t len);
size_t map_count(const struct map *mp);
const char *map_value(const struct map *mp, long idx);
const char *map_key(const struct map *mp, long idx);
const char *map_path(const struct map *mp);
/* Per-entry integer the owner may set once after loading (cfg.c stores the
 * backend index of each value); -1 until then. */
void map_set_ref(struct map *mp, long idx, int ref);
int map_ref(const struct map *mp, long idx);
void map_free(struct map *mp);

/* Reads the whole file at <path> into a new NUL-terminated string (its
 * length in *len), for the files read at load: maps and ACL pattern
 * files. Returns it, or NULL with errno set. */
char *acl_file_read(const char *path, size_t *len);

/* ---- samples ---- */

/* Parses "FETCH[(ARG)][,CONV[(ARGS)]]..." such as
 * "req.hdr(host),lower,map(hosts.map,www)". Returns the sample, or NULL
 * with *err set. */
struct sample_expr *sample_parse(const char *text, char **err);
void sample_free(struct sample_expr *se);

/* Returns the map of the sample's last converter when that is a map
 * lookup, else NULL (so the owner can resolve the values once). */
struct map *sample_map(const struct sample_expr *se);

/* Returns the default of the sample's last converter when that is a map
 * lookup with a default, else NULL. */
const char *sample_map_default(const struct sample_expr *se);

/* Evaluates <se> to one string: the first value of the fetch, through the
 * converters. <tmp>[0..room) receives converted or numeric values. On
 * success, *out / *len hold the value (pointing into the head, <tmp> or a
 * map) and, when the last step was a map lookup, *map_idx the entry (-1
 * for the map's default). Returns 1, or 0 when there is no value (the
 * fetch found nothing, a map missed without default, tmp too small). */
int sample_eval(const struct sample_expr *se, struct acl_ctx *ctx, char *tmp, size_t room,
                const char **out, size_t *len, long *map_idx);

/* ---- ACLs and conditions ---- */

struct acl_list *acl_list_new(void);
void acl_list_free(struct acl_list *l);

/* Adds the ACL of words argv[0..argc) ("NAME FETCH [flags] VALUE...") to
 * <l>, ORed with any earlier one of the same name. Returns 0, or -1 with
 * *err set. */
int acl_add(struct acl_list *l, int argc, char **argv, char **err);

/* Parses the condition in argv[0..argc), which starts with "if" or
 * "unless". Named ACLs are looked up in <l> (they must already be
 * declared); anonymous ones belong to the condition. Returns it, or NULL
 * with *err set. */
struct acl_cond *acl_cond_parse(const struct acl_list *l, int argc, char **argv, char **err);
void acl_cond_free(struct acl_cond *c);

/* Returns 1 when <c> holds for the request in <ctx> (NULL holds always). */
int acl_cond_eval(const struct acl_cond *c, struct acl_ctx *ctx);

/* ---- formats ---- */

/* Parses a value with "%[sample]" parts and log-format variables ("%%" is
 * a percent sign; a '%' followed by anything else than a letter, '[' or
 * '{' stands for itself, an unknown variable name is an error). A value
 * that may not hold CR, LF or NUL (<no_ctl>: header values) is refused
 * when its literal parts do; the fetched parts are checked when built.
 * Returns it, or NULL with *err set. */
struct acl_fmt *acl_fmt_parse(const char *text, int no_ctl, char **err);
void acl_fmt_free(struct acl_fmt *f);

/* Builds the value of <f> into dst[0..room). A part that fetches nothing
 * adds nothing. Returns its length, or -1 when it does not fit or (for a
 * no_ctl format) a fetched part holds CR, LF or NUL. */
long acl_fmt_build(const struct acl_fmt *f, struct acl_ctx *ctx, char *dst, size_t room);

/* ---- regex replacement (replace-header) ---- */

struct acl_regex;

/* Compiles <re> (whole-value match, as HAProxy's replace-header) with the
 * replacement <repl>, where \1..\9 name groups. Returns it, or NULL with
 * *err set (PCRE2's message and offset for a bad regex). */
struct acl_regex *acl_regex_new(const char *re, const char *repl, char **err);
void acl_regex_free(struct acl_regex *r);

/* Writes the replacement of subject s[0..len) into dst[0..room) (its
 * length into *outlen) when the regex matches. Returns 1 when replaced, 0
 * when it does not match (the value stays), or -1 when the result does not
 * fit or holds CR or LF. */
int acl_regex_replace(const struct acl_regex *r, const char *s, size_t len, char *dst, size_t room,
                      size_t *outlen);

/* Parses an address with an optional "/BITS" into family, 16 address bytes
 * and prefix bits. Returns 0, or -1. */
int acl_parse_net(const char *s, int *family, uint8_t addr[16], unsigned *bits);

/* Returns 1 when the address (family, a) lies in net (nfam, n, bits). An
 * IPv4 address also matches its IPv4-mapped IPv6 form and back. */
int acl_net_match(int family, const uint8_t a[16], int nfam, const uint8_t n[16], unsigned bits);

#endif /* SLUICE_ENGINE_ACL_H */

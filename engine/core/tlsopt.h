/* tlsopt.h - the TLS words of the configuration, as HAProxy spells them:
 * those of `bind` and `server` lines, the ones `default-server` passes on,
 * and the global `ssl-default-bind-*` / `ssl-default-server-*` defaults.
 *
 * A line's TLS settings are built in layers, each overriding the one
 * before: the global defaults, then (servers) the section's
 * `default-server` words, then the line's own words, then (binds) a
 * crt-list entry's `[...]` words for that certificate alone. Defaults are kept as
 * the words themselves (struct tls_words, owned copies), checked on their
 * own line and replayed in front of each line they apply to, so that one
 * reader (tlsopt_word) gives every layer the same meaning, and the option
 * structs of tls.h can keep borrowing their strings.
 */
#ifndef SLUICE_ENGINE_TLSOPT_H
#define SLUICE_ENGINE_TLSOPT_H

#include <stddef.h>
#include "engine/core/tls.h"

/* Words kept for later lines (owned copies). */
struct tls_words {
	char **v;
	unsigned n;
};

/* Where a word is accepted. */
enum {
	TLSO_BIND = 1 << 0,   /* bind lines (and ssl-default-bind-*) */
	TLSO_SRV  = 1 << 1,   /* server and default-server lines (and ssl-default-server-*) */
	TLSO_OPT  = 1 << 2,   /* also a word of ssl-default-{bind,server}-options */
	TLSO_CRT  = 1 << 3,   /* also a per-certificate word of a crt-list line's `[...]`
			       * (a bind word: it sets the same field as on a bind line) */
};

/* The global directory a relative file path is taken from (HAProxy's
 * crt-base and ca-base). */
enum {
	TLSO_BASE_CRT = 1,    /* crt-base: after crt and crt-list, and in a crt-list */
	TLSO_BASE_CA  = 2,    /* ca-base: after ca-file */
};

/* The TLS settings of one bind or server line being read. */
struct tlsopt_set {
	int ssl;                  /* `ssl` (1) or `no-ssl` (0) last */
	int seen;                 /* TLS words other than ssl/no-ssl given on the line itself */
	struct tls_bind_opts bind;
	struct tls_srv_opts srv;
};

/* Appends copies of <argv>[0..n) to <w>. Returns 0 or -1 (out of memory). */
int tls_words_add(struct tls_words *w, char *const *argv, unsigned n);

/* Makes <dst> (empty) a deep copy of <src>. Returns 0 or -1 (out of
 * memory, <dst> then empty). */
int tls_words_copy(struct tls_words *dst, const struct tls_words *src);

/* Frees the words of <w> and empties it. */
void tls_words_free(struct tls_words *w);

/* Reads the TLS word argv[i] (and its value) of a line of kind <where>
 * (TLSO_BIND, TLSO_SRV, or TLSO_CRT for a crt-list entry's options, which
 * fill <t>->bind) into <t>. Returns the number of words taken
 * (1 or 2), 0 when argv[i] is not a TLS word of that kind, or -1 with a
 * message in <err>. `sni str(NAME)` is unwrapped in place. */
int tlsopt_word(struct tlsopt_set *t, int where, char **argv, int argc, int i,
		char *err, size_t errlen);

/* Replays the saved words <w> (already checked) into <t>, then clears
 * <t>->seen so that only the line's own words count as given. Returns 0, or
 * -1 with <err>. */
int tlsopt_apply(struct tlsopt_set *t, int where, const struct tls_words *w, char *err, size_t errlen);

/* Returns the TLSO_BASE_* directory that a relative value of the line word
 * <word> is taken from, or 0 when its value is not a file path. The
 * parser rewrites such values before tlsopt_word() sees them. */
int tlsopt_path_base(const char *word);

/* Writes the TLS words of kind <where>, comma-separated, into <buf>. */
void tlsopt_list(int where, char *buf, size_t len);

/* Reads the global keyword argv[0] ("ssl-default-bind-options",
 * "ssl-default-server-ciphers", ...): checks it (with OpenSSL, so that a
 * bad cipher list is refused on this line) and appends the words it stands
 * for to <bind> or <srv>. Returns 1 when done, 0 when argv[0] is not such a
 * keyword, -1 with a message in <err>. */
int tlsopt_global(char **argv, int argc, struct tls_words *bind, struct tls_words *srv,
		  char *err, size_t errlen);

#endif /* SLUICE_ENGINE_TLSOPT_H */

/* fuzz_statspage.c - fuzz target: the stats query parser and the renderers
 * of engine/core/statspage.h over names taken from the input.
 *
 * Input: QUERY [NUL FRONTEND-NAME [NUL BACKEND-NAME [NUL SERVER-NAME
 * [NUL CHECK-REASON]]]]. Names come from the configuration and the check,
 * so they may hold anything but NUL; the renderers must escape them.
 * Checked after every input:
 *   - statspage_fmt_parse() reads only the query (an exact block), returns
 *     a format, returns <dflt> only when the query names none (the same
 *     answer whatever the default otherwise), and a leading '?' or ';' does
 *     not change the answer;
 *   - each format rendered at once and in pieces of a size drawn from the
 *     input gives the same bytes, every call makes progress, and once done
 *     nothing more comes;
 *   - Prometheus: every line is a comment or a sample of a sluice_ family
 *     (a name cannot start a line of its own); HTML: a name holding one
 *     of < > & " ' never appears unescaped; JSON: no control byte but '\n' (escaped
 *     names), and the quotes balance.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/core/statspage.h"
#include "tests/fuzz/fuzz_common.h"

#define SPFZ_OUT_MAX (1u << 20)

/* Renders <d> in <fmt> with pieces of <room> bytes into a malloc'ed block
 * (grown as needed: a fixed 1 MiB block per call made the campaign spend
 * its time in the allocator). Returns it; *len gets its length. */
static char *spfz_render(enum statspage_fmt fmt, const struct statspage_data *d, size_t room,
                         size_t *len)
{
	struct statspage_cursor cur = { 0 };
	size_t cap = 32768, total = 0, calls = 0;
	char *out = malloc(cap), *piece = malloc(room);

	FZ_CHECK(out && piece, "out of memory");
	while (!cur.done) {
		size_t n = statspage_render(fmt, d, &cur, piece, room);

		FZ_CHECK(n > 0 || cur.done, "no progress at %zu bytes (room %zu)", total, room);
		FZ_CHECK(n <= room, "%zu bytes in a room of %zu", n, room);
		FZ_CHECK(total + n < SPFZ_OUT_MAX, "runaway output");
		if (total + n > cap) {
			cap *= 2;
			out = realloc(out, cap);
			FZ_CHECK(out != NULL, "out of memory");
		}
		memcpy(out + total, piece, n);
		total += n;
		FZ_CHECK(++calls < 2000000, "runaway rendering");
	}
	FZ_CHECK(statspage_render(fmt, d, &cur, piece, room) == 0, "output after done");
	free(piece);
	*len = total;
	return out;
}

/* Checks the query parser on q[0..len) (q is an exact block). */
static void spfz_check_query(const char *q, size_t len)
{
	enum statspage_fmt a = statspage_fmt_parse(q, len, STATSPAGE_HTML);
	enum statspage_fmt b = statspage_fmt_parse(q, len, STATSPAGE_PROM);
	enum statspage_fmt c = statspage_fmt_parse(q, len, STATSPAGE_JSON);

	/* every format the page has: CSV and OpenMetrics came after the
	 * first three, and a query may name them (";csv" for one) */
	FZ_CHECK(a <= STATSPAGE_OPENMETRICS && b <= STATSPAGE_OPENMETRICS &&
	         c <= STATSPAGE_OPENMETRICS, "format %d %d %d", a, b, c);
	/* a query that names a format names it whatever the default */
	if (a != STATSPAGE_HTML || b != STATSPAGE_PROM || c != STATSPAGE_JSON)
		FZ_CHECK(a == b && b == c, "formats %d %d %d depend on the default", a, b, c);
	if (len && q[0] != '?' && q[0] != ';') {
		char *pq = malloc(len + 1);

		FZ_CHECK(pq != NULL, "out of memory");
		pq[0] = '?';
		memcpy(pq + 1, q, len);
		FZ_CHECK(statspage_fmt_parse(pq, len + 1, STATSPAGE_HTML) == a, "'?' changes the format");
		free(pq);
	}
}

/* Checks the Prometheus output <o>[0..n): comments and sluice_ samples only. */
static void spfz_check_prom(const char *o, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(o + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - o) : n;

		FZ_CHECK(o[i] == '#' || (end - i > 7 && !memcmp(o + i, "sluice_", 7)),
		         "stray Prometheus line: %.*s", (int)(end - i), o + i);
		i = end + 1;
	}
	FZ_CHECK(n && o[n - 1] == '\n', "Prometheus output does not end with a line end");
}

/* Checks the JSON output <o>[0..n): control bytes and quotes. */
static void spfz_check_json(const char *o, size_t n)
{
	size_t quotes = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)o[i];

		FZ_CHECK(ch >= 0x20 || ch == '\n', "raw control byte %#x in JSON at %zu", ch, i);
		if (ch == '\\')
			i++;  /* whatever follows is escaped */
		else if (ch == '"')
			quotes++;
	}
	FZ_CHECK(quotes % 2 == 0, "unbalanced quotes in JSON");
}

/* Returns the <k>th NUL-separated field of data[0..size) as an exact,
 * NUL-terminated block, or NULL when there are fewer fields. */
static char *spfz_field(const uint8_t *data, size_t size, unsigned k)
{
	size_t from = 0, to;

	for (unsigned i = 0; i < k; i++) {
		const uint8_t *z = memchr(data + from, 0, size - from);

		if (!z)
			return NULL;
		from = (size_t)(z - data) + 1;
	}
	to = from;
	while (to < size && data[to])
		to++;
	return fz_strdup(data + from, to - from);
}

/* Wraps each name in markers ("ZqX" ... "XqZ") that no escaping changes,
 * so that finding a whole marked name in the HTML output means it went out
 * unescaped (a bare "<" would match the page's own markup). */
static void spfz_mark(char *names[4])
{
	for (unsigned k = 0; k < 4; k++) {
		size_t n;
		char *m;

		if (!names[k])
			continue;
		n = strlen(names[k]);
		m = malloc(n + 7);
		FZ_CHECK(m != NULL, "out of memory");
		memcpy(m, "ZqX", 3);
		memcpy(m + 3, names[k], n);
		memcpy(m + 3 + n, "XqZ", 4);
		free(names[k]);
		names[k] = m;
	}
}

/* libFuzzer entry. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum statspage_fmt fmts[] = { STATSPAGE_HTML, STATSPAGE_JSON, STATSPAGE_PROM,
						   STATSPAGE_CSV, STATSPAGE_OPENMETRICS };
	struct statspage_frontend fe = { 0 };
	struct statspage_backend be = { 0 };
	struct statspage_server srv = { 0 };
	struct statspage_thread thr = { .loops = 1 };
	struct statspage_data d = { 0 };
	char *names[4] = { 0 };
	struct fz_rng rng;
	size_t qlen = 0;
	char *q;

	if (size > 4096)
		return 0;  /* names are cut at 128 bytes: longer inputs add nothing */
	fz_rng_init(&rng, data, size);
	while (qlen < size && data[qlen])
		qlen++;
	q = fz_dup(data, qlen);
	spfz_check_query(q, qlen);
	free(q);

	for (unsigned k = 0; k < 4; k++)
		names[k] = spfz_field(data, size, k + 1);
	spfz_mark(names);
	fe = (struct statspage_frontend){ names[0] ? names[0] : "fe", 3, 100, 1 };
	be = (struct statspage_backend){ .name = names[1] ? names[1] : "be", .cur = 1, .total = 7,
		.servers = 1, .active = 1, .first_srv = 0, .balance_lc = (int)fz_below(&rng, 2) };
	srv = (struct statspage_server){ .name = names[2] ? names[2] : "srv", .cur = 1, .total = 7,
		.weight = 1, .up = 1, .chk_reason = names[3], .checked = names[3] != NULL,
		.addr = "127.0.0.1:80", .state = (enum statspage_srv_state)fz_below(&rng, 3) };
	d.version = "fuzz";
	d.uptime_ms = 1234;
	d.refresh_s = fz_below(&rng, 2) * 5;
	d.st.nbthread = 1;
	d.fe = &fe;
	d.be = &be;
	d.srv = &srv;
	d.thr = &thr;
	d.nb_fe = d.nb_be = d.nb_srv = d.nb_thr = 1;

	for (unsigned f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
		/* tiny rooms cost one call per byte or so: one input in eight */
		size_t l1, l2, room = fz_below(&rng, 8) ? 64 + fz_below(&rng, 4032) : fz_below(&rng, 16) + 1;
		char *whole = spfz_render(fmts[f], &d, 65536, &l1);
		char *parts = spfz_render(fmts[f], &d, room, &l2);

		FZ_CHECK(l1 == l2 && !memcmp(whole, parts, l1),
		         "format %d: %zu bytes at once, %zu in pieces of %zu", f, l1, l2, room);
		if (fmts[f] == STATSPAGE_PROM)
			spfz_check_prom(whole, l1);
		else if (fmts[f] == STATSPAGE_JSON)
			spfz_check_json(whole, l1);
		else if (fmts[f] == STATSPAGE_HTML)
			for (unsigned k = 0; k < 4; k++)
				if (names[k] && strpbrk(names[k], "<>&\"'"))
					FZ_CHECK(!memmem(whole, l1, names[k], strlen(names[k])),
					         "name '%s' unescaped in HTML", names[k]);
		free(whole);
		free(parts);
	}
	for (unsigned k = 0; k < 4; k++)
		free(names[k]);
	return 0;
}

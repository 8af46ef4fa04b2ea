/* bench_h1.c - cost of the HTTP/1 hot path: parsing a browser request head,
 * rewriting it in place, and scanning a chunked body. Prints ns per
 * operation and MB/s. Usage: bench_h1 [iterations]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mux/h1.h"

static const char browser[] =
	"GET /search?q=http%2F1.1+parser&lang=en HTTP/1.1\r\n"
	"Host: www.example.org\r\n"
	"Connection: keep-alive\r\n"
	"sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
	"sec-ch-ua-mobile: ?0\r\n"
	"sec-ch-ua-platform: \"Linux\"\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"Sec-Fetch-User: ?1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Referer: https://www.example.org/\r\n"
	"Accept-Encoding: gzip, deflate, br, zstd\r\n"
	"Accept-Language: en-US,en;q=0.9,fr;q=0.8\r\n"
	"Cookie: session=abc123; theme=dark; _ga=GA1.2.3.4\r\n"
	"\r\n";

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile long sink;

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000, i;
	size_t len = sizeof(browser) - 1;
	struct h1_rewrite rw = { .add_conn_close = 0, .xff = "192.0.2.1", .via = "1.1 sluice" };
	static char area[16384], scratch[16384], body[65536 + 4096];
	struct h1_msg m;
	size_t blen = 0;
	double t0, t;

	t0 = now_ns();
	for (i = 0; i < n; i++)
		sink += h1_parse_head(browser, len, 1, 16384, &m);
	t = (now_ns() - t0) / (double)n;
	printf("parse   %zu-byte browser head: %6.0f ns  %6.0f MB/s\n", len, t, (double)len / t * 1e3);

	t0 = now_ns();
	for (i = 0; i < n; i++) {
		memcpy(area, browser, len);
		if (h1_parse_head(area, len, 1, 16384, &m) <= 0 ||
		    h1_rewrite_head(&m, area, sizeof(area), 0, &rw, scratch, sizeof(scratch)) <= 0)
			return 1;
		sink += m.head_len;
	}
	t = (now_ns() - t0) / (double)n;
	printf("parse+rewrite (memcpy incl.):     %6.0f ns\n", t);

	/* a body of 16 chunks of 4 KiB */
	for (i = 0; i < 16; i++) {
		blen += (size_t)sprintf(body + blen, "1000\r\n");
		memset(body + blen, 'x', 4096);
		blen += 4096;
		blen += (size_t)sprintf(body + blen, "\r\n");
	}
	blen += (size_t)sprintf(body + blen, "0\r\n\r\n");
	t0 = now_ns();
	for (i = 0; i < n / 10; i++) {
		struct h1_body b = { .mode = H1_BODY_CHUNKED };

		sink += h1_body_scan(&b, body, blen);
		if (!b.done)
			return 1;
	}
	t = (now_ns() - t0) / (double)(n / 10);
	printf("chunked scan, 16 x 4 KiB chunks:  %6.0f ns  %6.0f MB/s\n", t, (double)blen / t * 1e3);
	return 0;
}

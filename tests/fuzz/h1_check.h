/* h1_check.h - the HTTP/1 fuzz targets' common driver (h1_check.c).
 *
 * Both the request and the response target run one byte stream through the
 * parser, the body framing and the rewriter, message after message
 * (pipelining, interim responses), and check after each step properties
 * that must hold for any input; see h1_check.c.
 */
#ifndef SLUICE_TESTS_FUZZ_H1_CHECK_H
#define SLUICE_TESTS_FUZZ_H1_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Runs the checks over data[0..size) read as requests (<is_request>) or as
 * responses. A response stream may start with a line "@METHOD\n" naming the
 * request method it answers (HEAD and CONNECT change its framing); the
 * default is GET. Aborts on a broken invariant. */
void h1fz_run(const uint8_t *data, size_t size, int is_request);

#endif

/* h2_check.h - helpers shared by the HTTP/2 fuzz targets (h2_check.c). */
#ifndef SLUICE_TESTS_FUZZ_H2_CHECK_H
#define SLUICE_TESTS_FUZZ_H2_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "mux/h2.h"
#include "tests/fuzz/fuzz_common.h"

/* Bounds of the waits on the scheduler thread, in ms. Generous: under a
 * loaded machine a slow turn must not read as a hang, while a real hang
 * (a connection that never closes, a buffer never given back) still ends
 * the input with an abort instead of a libFuzzer timeout. */
#define H2FZ_WAIT_MS 5000

/* Writes data[0..size) to <fd> in pieces drawn from <rng>, reading and
 * dropping whatever the peer sends meanwhile so that neither side blocks.
 * Stops early when the peer closed. */
void h2fz_write(int fd, const uint8_t *data, size_t size, struct fz_rng *rng);

/* Reads and drops what is pending on <fd>. Returns the number of bytes
 * read, or -1 once the peer closed. */
long h2fz_drain(int fd);

/* Checks the counters of a closed connection: every RST_STREAM and GOAWAY
 * counted is a frame, memory stayed under the hard cap (mem_cap * 1.5 +
 * 64 KiB, see h2_conn.c) and at most one session was ended for memory. */
void h2fz_check_stats(const struct h2c_stats *st, size_t mem_cap);

/* Checks that <req>[0..len), what a stream read in HTTP/1.1 wire format
 * (a response in client role when <is_request> is 0), is one message whose
 * head parses and whose body framing does not run past the bytes given:
 * the HTTP/2 to HTTP/1.1 conversion never yields a message that the
 * HTTP/1 side would frame differently. <complete> says the stream read it
 * to its end, which must then be the end of the framing. <req_meth> is the
 * method a response answers. */
void h2fz_check_h1(const char *req, size_t len, int is_request, int complete, int req_meth);

#endif

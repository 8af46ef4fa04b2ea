/* fuzz_h1_request.c - fuzz target: HTTP/1 requests, head parser and body framing
 * (chunked included), pipelined, then rewritten (mux/h1.h). The checks are
 * in h1_check.c.
 */
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/h1_check.h"

/* libFuzzer entry: one input is a byte stream of requests. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	h1fz_run(data, size, 1);
	return 0;
}

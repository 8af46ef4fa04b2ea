/* fuzz_h1_response.c - fuzz target: HTTP/1 responses, head parser and body
 * framing (chunked included), interim heads, then rewritten (mux/h1.h). An
 * input may start with "@METHOD\n" to name the request method answered.
 * The checks are in h1_check.c.
 */
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/h1_check.h"

/* libFuzzer entry: one input is a byte stream of responses. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	h1fz_run(data, size, 0);
	return 0;
}

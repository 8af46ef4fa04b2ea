/* opattern.c - the read-only pattern block behind generated bodies. */
#include "opattern.h"

#include <pthread.h>

/* One period more than a whole number of periods near 64 KiB, so that any
 * phase has at least 1074 full periods after it. */
#define OPATTERN_BLOCK_LEN (OPATTERN_PERIOD * 1075)

struct opattern_block {
	pthread_once_t once;
	char bytes[OPATTERN_BLOCK_LEN];
};

/* Written once under pthread_once, read-only afterwards. */
static struct opattern_block opattern_block = { .once = PTHREAD_ONCE_INIT };

static void opattern_fill(void)
{
	static const char alphabet[] = OPATTERN_ALPHABET;
	_Static_assert(sizeof(alphabet) - 1 == OPATTERN_PERIOD, "alphabet length is the period");

	for (size_t i = 0; i < OPATTERN_BLOCK_LEN; i++)
		opattern_block.bytes[i] = alphabet[i % OPATTERN_PERIOD];
}

const char *opattern_at(uint64_t ofs, size_t *avail)
{
	size_t phase = (size_t)(ofs % OPATTERN_PERIOD);

	pthread_once(&opattern_block.once, opattern_fill);
	*avail = OPATTERN_BLOCK_LEN - phase;
	return opattern_block.bytes + phase;
}

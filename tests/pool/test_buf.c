/* test_buf.c - ring arithmetic of pool/buf.h. */
#include <criterion/criterion.h>
#include <string.h>

#include "pool/buf.h"

#define AREA 8

/* Returns a buffer over <area> (AREA bytes) with <data> bytes at <head>,
 * filled so that data byte i is 'a' + i. */
static struct buf mkbuf(char *area, size_t head, size_t data)
{
	struct buf b = { .area = area, .size = AREA, .head = head, .data = data };

	memset(area, '.', AREA);
	for (size_t i = 0; i < data; i++)
		area[b_wrap_ofs(&b, i)] = (char)('a' + i);
	return b;
}

Test(buf, null_and_empty)
{
	struct buf b = BUF_NULL;

	cr_assert(b_is_null(&b));
	cr_assert(b_empty(&b));
	cr_assert_eq(b_data(&b), 0);
	cr_assert_eq(b_room(&b), 0);
}

Test(buf, wrap_offsets)
{
	char area[AREA];
	struct buf b = mkbuf(area, 6, 4);

	cr_assert_eq(b_wrap_ofs(&b, 0), 6);
	cr_assert_eq(b_wrap_ofs(&b, 1), 7);
	cr_assert_eq(b_wrap_ofs(&b, 2), 0);
	cr_assert_eq(b_wrap_ofs(&b, 3), 1);
	cr_assert_eq(b_tail(&b), area + 2);
	cr_assert_eq(b_byte(&b, 2), 'c');
	cr_assert_eq(b_byte(&b, 3), 'd');
	cr_assert_eq(b_room(&b), 4);
}

Test(buf, contig_data_and_space)
{
	char area[AREA];
	struct buf b;

	/* not wrapped, room at both ends */
	b = mkbuf(area, 2, 3);
	cr_assert_eq(b_contig_data(&b), 3);
	cr_assert_eq(b_contig_space(&b), 3); /* tail 5 .. end */

	/* data wrapped: space is the hole in the middle */
	b = mkbuf(area, 6, 4);
	cr_assert_eq(b_contig_data(&b), 2);
	cr_assert_eq(b_contig_space(&b), 4);

	/* data ends exactly at the end: space is at the start */
	b = mkbuf(area, 5, 3);
	cr_assert_eq(b_contig_data(&b), 3);
	cr_assert_eq(b_tail(&b), area);
	cr_assert_eq(b_contig_space(&b), 5);

	/* full, wrapped */
	b = mkbuf(area, 3, AREA);
	cr_assert(b_full(&b));
	cr_assert_eq(b_contig_space(&b), 0);
	cr_assert_eq(b_contig_data(&b), 5);

	/* empty at 0 */
	b = mkbuf(area, 0, 0);
	cr_assert_eq(b_contig_space(&b), AREA);
	cr_assert_eq(b_contig_data(&b), 0);
}

Test(buf, putblk_across_the_wrap)
{
	char area[AREA], out[AREA + 1] = { 0 };
	struct buf b = mkbuf(area, 5, 2); /* "ab" at 5,6 */

	cr_assert_eq(b_putblk(&b, "CDEFGHIJ", 8), 6); /* only 6 fit */
	cr_assert(b_full(&b));
	cr_assert_eq(b_peek(&b, 0, out, AREA), AREA);
	cr_assert_str_eq(out, "abCDEFGH");
	/* raw layout: 7 = 'C', then 0.. = "DEFGH" */
	cr_assert_eq(area[7], 'C');
	cr_assert_eq(memcmp(area, "DEFGH", 5), 0);
	cr_assert_eq(b_putblk(&b, "x", 1), 0);
}

Test(buf, peek_at_offsets)
{
	char area[AREA], out[AREA] = { 0 };
	struct buf b = mkbuf(area, 6, 5); /* abcde over 6,7,0,1,2 */

	cr_assert_eq(b_peek(&b, 1, out, 3), 3);
	cr_assert_eq(memcmp(out, "bcd", 3), 0);
	cr_assert_eq(b_peek(&b, 3, out, 10), 2); /* clipped to the data */
	cr_assert_eq(memcmp(out, "de", 2), 0);
	cr_assert_eq(b_peek(&b, 5, out, 1), 0);
	cr_assert_eq(b_peek(&b, 9, out, 1), 0);
}

Test(buf, del_moves_head_and_realigns_when_empty)
{
	char area[AREA];
	struct buf b = mkbuf(area, 6, 4);

	b_del(&b, 3);
	cr_assert_eq(b.head, 1);
	cr_assert_eq(b_data(&b), 1);
	cr_assert_eq(*b_head(&b), 'd');
	b_del(&b, 1);
	cr_assert(b_empty(&b));
	cr_assert_eq(b.head, 0, "an emptied buffer restarts at 0");
	cr_assert_eq(b_contig_space(&b), AREA);

	b = mkbuf(area, 3, 2);
	b_reset(&b);
	cr_assert_eq(b.head, 0);
	cr_assert(b_empty(&b));
}

Test(buf, realign_wrapped_data)
{
	char area[AREA];
	struct buf b = mkbuf(area, 6, 5);

	b_realign(&b);
	cr_assert_eq(b.head, 0);
	cr_assert_eq(b_data(&b), 5);
	cr_assert_eq(memcmp(area, "abcde", 5), 0);
	cr_assert_eq(b_contig_data(&b), 5);
	cr_assert_eq(b_contig_space(&b), 3);
}

/* Every head and length on small areas: realign keeps the bytes in order
 * and leaves them contiguous at 0. */
Test(buf, realign_every_layout)
{
	for (size_t size = 1; size <= AREA; size++) {
		for (size_t head = 0; head < size; head++) {
			for (size_t data = 0; data <= size; data++) {
				char area[AREA];
				struct buf b = { .area = area, .size = size, .head = head, .data = data };

				memset(area, '.', sizeof(area));
				for (size_t i = 0; i < data; i++)
					area[b_wrap_ofs(&b, i)] = (char)('a' + i);
				b_realign(&b);
				cr_assert_eq(b.head, 0);
				cr_assert_eq(b.data, data);
				for (size_t i = 0; i < data; i++)
					cr_assert_eq(area[i], (char)('a' + i),
						     "size %zu head %zu data %zu byte %zu",
						     size, head, data, i);
			}
		}
	}
}

/* A stream through a small ring: what goes in comes out in order. */
Test(buf, stream_through_the_ring)
{
	char area[AREA], out[4];
	struct buf b = { .area = area, .size = AREA };
	unsigned in = 0, got = 0;

	for (int round = 0; round < 100; round++) {
		char src[3];

		for (int i = 0; i < 3; i++)
			src[i] = (char)(in + (unsigned)i);
		in += (unsigned)b_putblk(&b, src, 3);
		size_t n = b_peek(&b, 0, out, (size_t)(round % 4 + 1));
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(out[i], (char)(got + i));
		b_del(&b, n);
		got += (unsigned)n;
		cr_assert_eq(in - got, b_data(&b));
	}
	cr_assert_gt(got, 150);
}

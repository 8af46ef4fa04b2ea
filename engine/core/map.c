/* map.c - key/value files for map(), map_beg() and map_dom() (see acl.h).
 *
 * The whole file is read into one arena; keys and values are NUL-terminated
 * in place, so loading costs one read, one pass and one hash table insert
 * per line, with no allocation per entry. The table is open addressing with
 * linear probing at most half full: an exact lookup is one hash and, on
 * average, one or two key compares. Prefix and domain lookups are a few
 * exact lookups of shorter keys, so no second structure is kept.
 */
#include "engine/core/acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct map_ent {
	const char *key, *val;
	uint32_t klen;
	int ref;
};

struct map {
	char *path;
	char *arena;
	struct map_ent *ents;
	size_t nb;
	uint32_t *slots;     /* entry index + 1; 0: empty */
	size_t mask;
};

/* FNV-1a: short keys (host names), no seed needed since the keys come from
 * the operator's file, not from clients. */
static uint64_t map_hash(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Returns a new "FILE:LINE: what" message. */
static char *map_err(const char *path, int line, const char *what, int err_no)
{
	char *out = NULL;

	if (line)
		(void)!asprintf(&out, "map %s:%d: %s", path, line, what);
	else
		(void)!asprintf(&out, "map %s: %s (%s)", path, what, strerror(err_no));
	return out;
}

char *acl_file_read(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return NULL;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = 0;
	*len = n;
	return buf;
}

long map_find(const struct map *mp, const char *key, size_t len)
{
	size_t i;

	if (!mp->nb)
		return -1;
	for (i = map_hash(key, len) & mp->mask; mp->slots[i]; i = (i + 1) & mp->mask) {
		const struct map_ent *e = &mp->ents[mp->slots[i] - 1];

		if (e->klen == len && memcmp(e->key, key, len) == 0)
			return (long)(mp->slots[i] - 1);
	}
	return -1;
}

long map_find_beg(const struct map *mp, const char *key, size_t len)
{
	for (size_t l = len; l > 0; l--) {
		long i = map_find(mp, key, l);

		if (i >= 0)
			return i;
	}
	return -1;
}

long map_find_dom(const struct map *mp, const char *key, size_t len)
{
	for (size_t o = 0; o < len; o++) {
		if (o == 0 || key[o - 1] == '.') {
			long i = map_find(mp, key + o, len - o);

			if (i >= 0)
				return i;
		}
	}
	return -1;
}

struct map *map_load(const char *path, char **err)
{
	struct map *mp = calloc(1, sizeof(*mp));
	size_t len = 0, cap = 0, lines = 1, i;
	char *p, *end;
	int line = 0;

	*err = NULL;
	if (!mp || !(mp->path = strdup(path)))
		goto oom;
	if (!(mp->arena = acl_file_read(path, &len))) {
		*err = map_err(path, 0, "cannot read", errno);
		map_free(mp);
		return NULL;
	}
	for (i = 0; i < len; i++)
		lines += mp->arena[i] == '\n';
	/* at most half full, so probes stay short */
	for (cap = 16; cap < lines * 2; cap <<= 1)
		;
	mp->mask = cap - 1;
	if (!(mp->slots = calloc(cap, sizeof(*mp->slots))) ||
	    !(mp->ents = malloc(lines * sizeof(*mp->ents))))
		goto oom;
	for (p = mp->arena, end = p + len; p < end; ) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *k, *v, *ve;
		size_t s;

		if (!eol)
			eol = end;
		line++;
		ve = eol;
		if (ve > p && ve[-1] == '\r')
			ve--;
		*ve = 0;
		k = p;
		p = eol + 1;
		while (*k == ' ' || *k == '\t')
			k++;
		if (!*k || *k == '#')
			continue;
		for (v = k; *v && *v != ' ' && *v != '\t'; v++)
			;
		if (!*v) {
			*err = map_err(path, line, "missing value after the key", 0);
			map_free(mp);
			return NULL;
		}
		*v++ = 0;
		while (*v == ' ' || *v == '\t')
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = 0;
		if (!*v) {
			*err = map_err(path, line, "missing value after the key", 0);
			map_free(mp);
			return NULL;
		}
		for (const char *c = k; c < ve; c++)
			if (*c && ((unsigned char)*c < 0x20 || *c == 0x7f)) {
				*err = map_err(path, line, "control character", 0);
				map_free(mp);
				return NULL;
			}
		if ((size_t)(v - k) > UINT32_MAX)
			continue;
		if (map_find(mp, k, strlen(k)) >= 0)
			continue; /* first one wins */
		mp->ents[mp->nb] = (struct map_ent){ .key = k, .val = v, .klen = (uint32_t)strlen(k),
		                                     .ref = -1 };
		for (s = map_hash(k, mp->ents[mp->nb].klen) & mp->mask; mp->slots[s]; s = (s + 1) & mp->mask)
			;
		mp->slots[s] = (uint32_t)(++mp->nb);
	}
	return mp;
oom:
	map_free(mp);
	*err = strdup("out of memory");
	return NULL;
}

size_t map_count(const struct map *mp) { return mp->nb; }
const char *map_value(const struct map *mp, long idx) { return mp->ents[idx].val; }
const char *map_key(const struct map *mp, long idx) { return mp->ents[idx].key; }
const char *map_path(const struct map *mp) { return mp->path; }
void map_set_ref(struct map *mp, long idx, int ref) { mp->ents[idx].ref = ref; }
int map_ref(const struct map *mp, long idx) { return mp->ents[idx].ref; }

void map_free(struct map *mp)
{
	if (!mp)
		return;
	free(mp->path);
	free(mp->arena);
	free(mp->ents);
	free(mp->slots);
	free(mp);
}

/* replay_main.c - runs a fuzz target over corpus files without libFuzzer.
 *
 * Usage: replay_TARGET PATH...  Each PATH is a file or a directory whose
 * regular files (not recursively, dot-files skipped) are inputs. Every
 * input is copied into a block of exactly its size and given to
 * LLVMFuzzerTestOneInput(), so gcc builds and the ASan+UBSan build of CI
 * check the corpora with the same invariants as a fuzzing campaign. A
 * broken invariant abort()s; the name of the input is printed first so the
 * failing file is known. Exits 0 after the last input, 1 when a path cannot
 * be read or holds no input at all (an empty corpus replays nothing, which
 * must not pass silently).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tests/fuzz/fuzz_common.h"

static unsigned long nb_inputs;

/* Reads the file at <path> and runs the target on it. Returns 0, or -1 when
 * the file cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f) {
		perror(path);
		return -1;
	}
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		perror(path);
		fclose(f);
		return -1;
	}
	data = malloc(size ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: short read\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* named before the run: an abort inside leaves this as the last line */
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
	nb_inputs++;
	return 0;
}

/* Replays <path>: one file, or every regular file of a directory, in name
 * order so that runs repeat. Returns 0 or -1. */
static int replay_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n, i, rc = 0;

	if (stat(path, &st) < 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	n = scandir(path, &ents, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		char full[4096];

		if (ents[i]->d_name[0] != '.' && rc == 0) {
			snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name);
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
				rc = replay_file(full);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

/* Replays every path given (see the file comment). Returns 0, or 1 when a
 * path cannot be read or nothing was replayed. */
int main(int argc, char **argv)
{
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 1;
	}
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i]) < 0)
			return 1;
	printf("replay: %lu inputs, no invariant broken\n", nb_inputs);
	return nb_inputs ? 0 : 1;
}

/* gen.h - private to engine.c and reload.c: the life of one generation of
 * the engine (see struct engine and struct sluice in core/ctx.h).
 *
 * A generation is built from a parsed configuration (gen_new), given its
 * listening sockets (gen_bind: bound fresh, or moved over from the live
 * generation by address), started on its own threads (gen_start), told to
 * stop (gen_stop: the engine's stop, or a reload's retirement of the old
 * generation), and once its threads ended (e->ended), joined and freed
 * (gen_reap). Every call here is made under the owner's lock, except the
 * threads' own hooks.
 */
#ifndef SLUICE_ENGINE_GEN_H
#define SLUICE_ENGINE_GEN_H

#include "engine/core/ctx.h"

/* Returns a malloc'ed message built from <fmt>, or NULL without memory. */
char *eng_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Builds generation <c> (which it then owns, freed on failure too) for
 * handle <h> on pool slot <slot>. Returns NULL with *err set. */
struct engine *gen_new(struct sluice *h, struct cfg *c, unsigned slot, char **err);

/* Gives <e> its listening sockets: for each bind line, the sockets of the
 * same address in <prev> (which then keeps them open for <e>), else fresh
 * ones, at least one per thread. <prev> may be NULL. Returns 0, or -1
 * with *err set and <prev> as it was. */
int gen_bind(struct engine *e, struct engine *prev, char **err);

/* Undoes what gen_bind() took from <prev> when <e> will not run: the
 * moved sockets are <prev>'s again. */
void gen_unbind(struct engine *e, struct engine *prev);

/* Opens the log and starts the threads of a bound <e>. Returns 0, or -1
 * with *err set and no thread of <e> left running. */
int gen_start(struct engine *e, char **err);

/* Asks the started <e> to stop in <mode> (a harder mode wins). */
void gen_stop(struct engine *e, enum sluice_stop_mode mode);

/* Retires <e> after a reload: a graceful stop that lets idle keep-alive
 * clients send one more request, and returns once none of its threads
 * listens any more (a connection made after the return reaches the new
 * generation). Called from a thread of <e> (the command socket's reload),
 * it stops that thread's listeners itself instead of waiting for them. */
void gen_retire(struct engine *e);

/* Joins the threads of <e> (which ended, or never started), takes it off
 * the owner's list while adding its counters to the carry, gives its pool
 * slot back and frees it. Returns what sched_join() returned. */
int gen_reap(struct engine *e);

/* Returns non-zero when the calling thread is a worker of some generation:
 * it must then never wait for the owner's lock (see struct sluice). */
int gen_on_worker(void);

/* Joins and frees (gen_reap) every generation of <h> but the live one
 * whose threads ended. Under the owner's lock. */
void gen_reap_retired(struct sluice *h);

#endif /* SLUICE_ENGINE_GEN_H */

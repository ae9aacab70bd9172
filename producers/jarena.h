/* Page arenas for jansson: the values one thread builds while it reads an ArcGIS page are
 * carved from large blocks of their own, and the blocks are returned at once when the last of
 * those values is released, in whichever thread that happens.
 *
 * Why: a page's rows are read in the prefetch thread and released by the row workers and the
 * main thread. With malloc, each of a row's ~90 small blocks is freed into another thread's
 * arena (glibc keeps per-thread arenas), which costs a third of the kind's CPU and leaves the
 * freed space scattered over several arenas (peak RSS rose with it). A page arena makes each
 * allocation a pointer bump and each release an atomic decrement.
 *
 * jarena_install() reserves an address range for the blocks (1 GiB of address space, no memory
 * until used) and routes jansson's allocations through this file: in a thread with an arena
 * entered they come from its blocks, elsewhere from malloc as before (so json_dumps' text is
 * still free()'d by its callers). A release tells an arena's value from malloc's by its address.
 * Without jarena_install (or when the range cannot be reserved), jarena_new() returns NULL and
 * jansson uses malloc; when the range is full, an arena's values come from malloc too. */
#ifndef BLOTTER_JARENA_H
#define BLOTTER_JARENA_H

#include <stddef.h>

struct jarena;

void jarena_install(void);
/* A new arena (NULL when not installed or out of memory), held once by its caller. */
struct jarena *jarena_new(void);
/* The calling thread's jansson allocations come from a until jarena_leave (a NULL: from malloc).
 * Only one thread at a time may have a given arena entered. Between the two, ask jansson for
 * nothing its caller free()s (json_dumps' text: json_dumpb into a buffer instead). */
void jarena_enter(struct jarena *a);
void jarena_leave(void);
/* Drop the caller's hold: the blocks go when every value allocated from a has been freed too. */
void jarena_release(struct jarena *a);

/* Arena blocks mapped now, and ever (tests and metrics). */
size_t jarena_blocks_live(void);
size_t jarena_blocks_total(void);

#endif

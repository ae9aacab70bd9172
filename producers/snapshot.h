/* The snapshot of a source that republishes whole files or layers (the ArcGIS and CSV kinds):
 * per incident, a fingerprint of the content last published and the unit (file, layer) it
 * came from, so that a walk over a refreshed unit publishes only new and changed rows, and
 * rows that disappeared from their unit are counted once the unit's walk is complete.
 *
 * Memory is 16 bytes per incident (a 48-bit id hash, a 48-bit content fingerprint, the unit,
 * the walk that last saw it) in an open-addressing table at most 85% full: 19 to 38 bytes per
 * incident, and twice that for a moment while the table doubles. It is rebuilt at start from the
 * incidents topic (each message carries its fingerprint and unit as headers,
 * producers/publish.h), so the producer keeps no local state.
 *
 * Thread-safe: the row workers offer rows while the main thread ends walks. Pure: no I/O. */
#ifndef BLOTTER_SNAPSHOT_H
#define BLOTTER_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;

struct snapshot *snapshot_new(void);
void snapshot_destroy(struct snapshot *s);

enum snap_verdict { SNAP_NEW = 0, SNAP_CHANGED, SNAP_SAME };

/* A row of unit seen in the walk `stamp`, with its content fingerprint. Records it (seen by
 * this walk, fingerprint fp) and says whether it is new, changed or the same as last
 * published. -1 (SNAP_NEW) on out of memory is not possible: the row is then treated as new. */
enum snap_verdict snapshot_offer(struct snapshot *s, const char *unit, const char *stamp,
                                 const char *id, size_t id_len, uint64_t fp);
/* What a message of the incidents topic says was published (rebuilding at start). */
void snapshot_load(struct snapshot *s, const char *unit, const char *id, size_t id_len,
                   uint64_t fp);

/* The walk `stamp` of unit begins at its first row in this process (vanished rows are only
 * counted for walks seen whole). */
void snapshot_walk_begin(struct snapshot *s, const char *unit, const char *stamp);
/* The walk `stamp` of unit is complete: count and forget the unit's incidents it did not see.
 * -1 when the walk did not begin in this process (after a restart mid-walk). */
long snapshot_walk_end(struct snapshot *s, const char *unit, const char *stamp);

/* Forget everything (a message was not delivered: what was recorded may not be in Kafka). */
void snapshot_forget(struct snapshot *s);
size_t snapshot_size(struct snapshot *s);

/* Header values of a published incident: the fingerprint as 16 hex digits, and back. */
void snapshot_fp_hex(uint64_t fp, char out[17]);
int snapshot_fp_parse(const char *hex, size_t len, uint64_t *fp);

#endif

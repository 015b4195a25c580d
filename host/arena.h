/*
 * arena.h — per-batch bump allocator behind the SDK's opaque beast_arena.
 * Chunks are kept across resets, so a batch that is reused allocates nothing
 * in steady state. Not thread-safe: one owner thread at a time.
 */
#ifndef HOST_ARENA_H
#define HOST_ARENA_H

#include <stddef.h>

#include "beast/plugin.h"

/* Creates an empty arena whose first chunk holds `chunk_size` bytes.
 * Returns NULL on out-of-memory. The caller owns it: host_arena_destroy. */
beast_arena *host_arena_create(size_t chunk_size);
void host_arena_destroy(beast_arena *arena);

/* 16-byte aligned, uninitialised memory valid until the next reset.
 * Requests larger than the chunk size get a chunk of their own.
 * Returns NULL on out-of-memory only. */
void *host_arena_alloc(beast_arena *arena, size_t size);

/* Forgets every allocation; keeps the largest chunks for reuse (up to the
 * total the arena held before), frees oversize ones beyond that. */
void host_arena_reset(beast_arena *arena);

/* Bytes handed out since the last reset. */
size_t host_arena_used(const beast_arena *arena);

#endif

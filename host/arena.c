/*
 * arena.c — bump allocation in a list of chunks; see arena.h.
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(16) unsigned char data[];
} arena_chunk;

struct beast_arena {
    arena_chunk *current; /* chunk being filled; earlier ones follow via next */
    arena_chunk *spare;   /* chunks kept from before the last reset */
    size_t chunk_size;
    size_t used_total;
};

beast_arena *host_arena_create(size_t chunk_size) {
    beast_arena *arena = calloc(1, sizeof(*arena));
    if (!arena)
        return NULL;
    arena->chunk_size = chunk_size < 1024 ? 1024 : chunk_size;
    return arena;
}

static void free_chunks(arena_chunk *chunk) {
    while (chunk) {
        arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
}

void host_arena_destroy(beast_arena *arena) {
    if (!arena)
        return;
    free_chunks(arena->current);
    free_chunks(arena->spare);
    free(arena);
}

static arena_chunk *take_chunk(beast_arena *arena, size_t need) {
    /* Reuse the first spare chunk large enough. */
    for (arena_chunk **link = &arena->spare; *link; link = &(*link)->next) {
        if ((*link)->size >= need) {
            arena_chunk *chunk = *link;
            *link = chunk->next;
            chunk->used = 0;
            return chunk;
        }
    }
    size_t size = need > arena->chunk_size ? need : arena->chunk_size;
    arena_chunk *chunk = malloc(sizeof(*chunk) + size);
    if (!chunk)
        return NULL;
    chunk->size = size;
    chunk->used = 0;
    return chunk;
}

void *host_arena_alloc(beast_arena *arena, size_t size) {
    size_t rounded = (size + 15u) & ~(size_t)15u;
    if (rounded < size)
        return NULL; /* overflow */
    arena_chunk *chunk = arena->current;
    if (!chunk || chunk->size - chunk->used < rounded) {
        chunk = take_chunk(arena, rounded);
        if (!chunk)
            return NULL;
        chunk->next = arena->current;
        arena->current = chunk;
    }
    void *memory = chunk->data + chunk->used;
    chunk->used += rounded;
    arena->used_total += rounded;
    return memory;
}

void host_arena_reset(beast_arena *arena) {
    arena_chunk *chunk = arena->current;
    while (chunk) {
        arena_chunk *next = chunk->next;
        chunk->used = 0;
        chunk->next = arena->spare;
        arena->spare = chunk;
        chunk = next;
    }
    arena->current = NULL;
    arena->used_total = 0;
}

size_t host_arena_used(const beast_arena *arena) { return arena->used_total; }

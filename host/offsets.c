/*
 * offsets.c — the offset tracker; see offsets.h for the protocol.
 */
#include "offsets.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_partition(const char *topic, int32_t partition) {
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)topic; *p; p++)
        hash = (hash ^ *p) * 16777619u;
    return (hash ^ (uint32_t)partition) * 16777619u;
}

int host_track_table_init(host_track_table *table, uint32_t window) {
    memset(table, 0, sizeof(*table));
    uint32_t size = 16;
    while (size < window)
        size <<= 1;
    table->window = size;
    table->bucket_mask = 1023;
    table->buckets = calloc(table->bucket_mask + 1, sizeof(*table->buckets));
    if (!table->buckets)
        return -1;
    pthread_mutex_init(&table->lock, NULL);
    return 0;
}

void host_track_table_destroy(host_track_table *table) {
    host_track *track = table->all;
    while (track) {
        host_track *next = track->all_next;
        free(track->topic);
        free(track->offsets);
        free((void *)track->states);
        free(track);
        track = next;
    }
    free(table->buckets);
    pthread_mutex_destroy(&table->lock);
    memset(table, 0, sizeof(*table));
}

static host_track *create_track(host_track_table *table, const char *topic, int32_t partition) {
    host_track *track = calloc(1, sizeof(*track));
    if (!track)
        return NULL;
    track->topic = strdup(topic);
    track->offsets = calloc(table->window, sizeof(*track->offsets));
    track->states = calloc(table->window, sizeof(*track->states));
    if (!track->topic || !track->offsets || !track->states) {
        free(track->topic);
        free(track->offsets);
        free((void *)track->states);
        free(track);
        return NULL;
    }
    track->partition = partition;
    track->mask = table->window - 1;
    track->committed = -1;
    track->acked_next = -1;
    /* An odd value that is acked(seq) for no seq the window will see before
     * register overwrites the slot. The offsets are written now too, so the
     * window's memory is resident from the start: RSS does not creep up as
     * the first window's worth of messages passes through each partition. */
    for (uint32_t i = 0; i < table->window; i++) {
        atomic_init(&track->states[i], 0xFFFFFFFFu);
        track->offsets[i] = -1;
    }
    return track;
}

host_track *host_track_find(host_track_table *table, const char *topic, int32_t partition,
                            int create) {
    host_track *last = table->last;
    if (last && last->partition == partition && strcmp(last->topic, topic) == 0)
        return last;
    uint32_t bucket = hash_partition(topic, partition) & table->bucket_mask;
    for (host_track *track = table->buckets[bucket]; track; track = track->next)
        if (track->partition == partition && strcmp(track->topic, topic) == 0)
            return table->last = track;
    if (!create)
        return NULL;
    host_track *track = create_track(table, topic, partition);
    if (!track)
        return NULL;
    pthread_mutex_lock(&table->lock);
    track->next = table->buckets[bucket];
    table->buckets[bucket] = track;
    track->all_next = table->all;
    table->all = track;
    pthread_mutex_unlock(&table->lock);
    return table->last = track;
}

void host_track_reset(host_track *track) {
    uint32_t tail = atomic_load_explicit(&track->tail, memory_order_relaxed);
    atomic_store_explicit(&track->head, tail, memory_order_release);
    track->committed = -1;
    track->acked_next = -1;
}

int host_track_register(host_track *track, int64_t offset, uint32_t *seq_out) {
    uint32_t tail = atomic_load_explicit(&track->tail, memory_order_relaxed);
    /* acquire pairs with the committer's release of head: the slot we reuse
     * has been read by it. */
    uint32_t head = atomic_load_explicit(&track->head, memory_order_acquire);
    if (tail - head > track->mask)
        return -1;
    uint32_t slot = tail & track->mask;
    track->offsets[slot] = offset;
    atomic_store_explicit(&track->states[slot], tail << 1, memory_order_relaxed);
    /* release pairs with the committer's acquire of tail: offset and pending
     * state are visible before the slot counts as registered. */
    atomic_store_explicit(&track->tail, tail + 1, memory_order_release);
    *seq_out = tail;
    return 0;
}

void host_track_ack(host_track *track, uint32_t seq) {
    uint32_t expected = seq << 1;
    /* release pairs with the committer's acquire load of the state: whatever
     * the acker wrote (the row is durable) happens before the commit. A
     * failed CAS means the slot belongs to a newer seq: a stale ack. */
    atomic_compare_exchange_strong_explicit(&track->states[seq & track->mask], &expected,
                                            (seq << 1) | 1u, memory_order_release,
                                            memory_order_relaxed);
}

int64_t host_track_advance(host_track *track) {
    uint32_t head = atomic_load_explicit(&track->head, memory_order_relaxed);
    uint32_t tail = atomic_load_explicit(&track->tail, memory_order_acquire);
    uint32_t start = head;
    int64_t last_offset = -1;
    while (head != tail) {
        uint32_t state =
            atomic_load_explicit(&track->states[head & track->mask], memory_order_acquire);
        if (state != ((head << 1) | 1u))
            break;
        last_offset = track->offsets[head & track->mask];
        head++;
    }
    if (head != start) {
        /* release pairs with the registering thread's acquire of head. */
        atomic_store_explicit(&track->head, head, memory_order_release);
        track->acked_next = last_offset + 1;
    }
    return track->acked_next;
}

uint32_t host_track_inflight(const host_track *track) {
    uint32_t tail = atomic_load_explicit(&track->tail, memory_order_acquire);
    uint32_t head = atomic_load_explicit(&track->head, memory_order_acquire);
    return tail - head;
}

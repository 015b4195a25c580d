/*
 * ring.c — see ring.h. Index arithmetic relies on unsigned 32-bit wrap.
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

int host_ring_init(host_ring *ring, uint32_t capacity, uint32_t slot_size) {
    uint32_t size = 2;
    while (size < capacity && size < (1u << 30))
        size <<= 1;
    ring->slots = malloc((size_t)size * slot_size);
    if (!ring->slots)
        return -1;
    ring->mask = size - 1;
    ring->slot_size = slot_size;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    return 0;
}

void host_ring_destroy(host_ring *ring) {
    free(ring->slots);
    ring->slots = NULL;
}

/* Copies `count` slots between the ring (starting at index) and a flat array,
 * splitting at the wrap point. */
static void copy_in(host_ring *ring, uint32_t index, const unsigned char *from, uint32_t count) {
    uint32_t start = index & ring->mask;
    uint32_t first = ring->mask + 1 - start;
    if (first > count)
        first = count;
    memcpy(ring->slots + (size_t)start * ring->slot_size, from, (size_t)first * ring->slot_size);
    memcpy(ring->slots, from + (size_t)first * ring->slot_size,
           (size_t)(count - first) * ring->slot_size);
}

static void copy_out(const host_ring *ring, uint32_t index, unsigned char *to, uint32_t count) {
    uint32_t start = index & ring->mask;
    uint32_t first = ring->mask + 1 - start;
    if (first > count)
        first = count;
    memcpy(to, ring->slots + (size_t)start * ring->slot_size, (size_t)first * ring->slot_size);
    memcpy(to + (size_t)first * ring->slot_size, ring->slots,
           (size_t)(count - first) * ring->slot_size);
}

uint32_t host_ring_enqueue_burst(host_ring *ring, const void *slots, uint32_t count) {
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    /* acquire pairs with the consumer's release of head: its reads of the
     * slots we are about to overwrite are complete. */
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    uint32_t free_slots = ring->mask + 1 - (tail - head);
    if (count > free_slots)
        count = free_slots;
    if (count == 0)
        return 0;
    copy_in(ring, tail, slots, count);
    /* release pairs with the consumer's acquire of tail: slot contents are
     * visible before the new tail is. */
    atomic_store_explicit(&ring->tail, tail + count, memory_order_release);
    return count;
}

uint32_t host_ring_dequeue_burst(host_ring *ring, void *slots, uint32_t max) {
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    /* acquire pairs with the producer's release of tail. */
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint32_t available = tail - head;
    if (max > available)
        max = available;
    if (max == 0)
        return 0;
    copy_out(ring, head, slots, max);
    /* release pairs with the producer's acquire of head. */
    atomic_store_explicit(&ring->head, head + max, memory_order_release);
    return max;
}

uint32_t host_ring_count(const host_ring *ring) {
    uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    uint32_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return tail - head;
}

/*
 * ring.h — bounded single-producer/single-consumer ring of fixed-size slots
 * (after Linux kfifo and DPDK rte_ring): power-of-two capacity, free-running
 * 32-bit indices masked on use, head and tail on separate cache lines, C11
 * release/acquire. One thread enqueues, one thread dequeues.
 */
#ifndef HOST_RING_H
#define HOST_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct host_ring {
    _Alignas(64) _Atomic uint32_t tail; /* written by the producer only */
    _Alignas(64) _Atomic uint32_t head; /* written by the consumer only */
    _Alignas(64) uint32_t mask;
    uint32_t slot_size;
    unsigned char *slots;
} host_ring;

/* Capacity is rounded up to a power of two. 0 ok, -1 out of memory. */
int host_ring_init(host_ring *ring, uint32_t capacity, uint32_t slot_size);
void host_ring_destroy(host_ring *ring);

/* Copies up to `count` slots in; returns how many fit. @locality producer */
uint32_t host_ring_enqueue_burst(host_ring *ring, const void *slots, uint32_t count);
/* Copies up to `max` slots out; returns how many there were. @locality consumer */
uint32_t host_ring_dequeue_burst(host_ring *ring, void *slots, uint32_t max);

/* Approximate from any thread; exact from the producer or consumer. */
uint32_t host_ring_count(const host_ring *ring);
static inline uint32_t host_ring_capacity(const host_ring *ring) { return ring->mask + 1; }

#endif

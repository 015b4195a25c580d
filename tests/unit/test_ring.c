/*
 * test_ring.c — the SPSC ring: capacity, wrap-around, bursts, and a
 * two-thread stress run in which every item arrives exactly once, in order.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "ring.h"

typedef struct item {
    uint64_t sequence;
    uint64_t check;
} item;

static void test_capacity_rounds_up_and_fills(void **state) {
    (void)state;
    host_ring ring;
    assert_int_equal(host_ring_init(&ring, 100, sizeof(item)), 0);
    assert_int_equal(host_ring_capacity(&ring), 128);
    item value = {0, 0};
    for (uint32_t i = 0; i < 128; i++) {
        value.sequence = i;
        assert_int_equal(host_ring_enqueue_burst(&ring, &value, 1), 1);
    }
    assert_int_equal(host_ring_enqueue_burst(&ring, &value, 1), 0); /* full */
    assert_int_equal(host_ring_count(&ring), 128);
    item out[200];
    assert_int_equal(host_ring_dequeue_burst(&ring, out, 200), 128);
    for (uint32_t i = 0; i < 128; i++)
        assert_int_equal(out[i].sequence, i);
    assert_int_equal(host_ring_dequeue_burst(&ring, out, 1), 0); /* empty */
    host_ring_destroy(&ring);
}

static void test_bursts_wrap_around(void **state) {
    (void)state;
    host_ring ring;
    assert_int_equal(host_ring_init(&ring, 8, sizeof(item)), 0);
    item in[8], out[8];
    uint64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 1000; round++) {
        uint32_t want = (uint32_t)(round % 7) + 1;
        for (uint32_t i = 0; i < want; i++)
            in[i].sequence = next_in + i;
        uint32_t put = host_ring_enqueue_burst(&ring, in, want);
        next_in += put;
        uint32_t got = host_ring_dequeue_burst(&ring, out, (uint32_t)(round % 5) + 1);
        for (uint32_t i = 0; i < got; i++)
            assert_int_equal(out[i].sequence, next_out++);
    }
    uint32_t got;
    while ((got = host_ring_dequeue_burst(&ring, out, 8)) > 0)
        for (uint32_t i = 0; i < got; i++)
            assert_int_equal(out[i].sequence, next_out++);
    assert_int_equal(next_in, next_out);
    host_ring_destroy(&ring);
}

#define STRESS_ITEMS 5000000u

static void *produce(void *arg) {
    host_ring *ring = arg;
    item burst[32];
    uint64_t next = 0;
    while (next < STRESS_ITEMS) {
        uint32_t want = (uint32_t)(next % 31) + 1;
        if (next + want > STRESS_ITEMS)
            want = (uint32_t)(STRESS_ITEMS - next);
        for (uint32_t i = 0; i < want; i++)
            burst[i] = (item){next + i, (next + i) * 2654435761u};
        uint32_t put = 0;
        while (put < want)
            put += host_ring_enqueue_burst(ring, burst + put, want - put);
        next += want;
    }
    return NULL;
}

static void test_two_threads_every_item_once_in_order(void **state) {
    (void)state;
    host_ring ring;
    assert_int_equal(host_ring_init(&ring, 1024, sizeof(item)), 0);
    pthread_t producer;
    pthread_create(&producer, NULL, produce, &ring);
    item out[64];
    uint64_t expected = 0;
    while (expected < STRESS_ITEMS) {
        uint32_t got = host_ring_dequeue_burst(&ring, out, 64);
        for (uint32_t i = 0; i < got; i++) {
            if (out[i].sequence != expected || out[i].check != expected * 2654435761u)
                fail_msg("item %llu arrived as %llu", (unsigned long long)expected,
                         (unsigned long long)out[i].sequence);
            expected++;
        }
    }
    pthread_join(producer, NULL);
    assert_int_equal(host_ring_count(&ring), 0);
    host_ring_destroy(&ring);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounds_up_and_fills),
        cmocka_unit_test(test_bursts_wrap_around),
        cmocka_unit_test(test_two_threads_every_item_once_in_order),
    };
    return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}

/*
 * kafka_properties.h — the `--property KEY=VALUE` options of the Kafka
 * command-line tools (beast-load, tests/bench/drain), applied to a librdkafka
 * configuration. Header only: tools/common has no binary of its own.
 */
#ifndef BEAST_TOOLS_KAFKA_PROPERTIES_H
#define BEAST_TOOLS_KAFKA_PROPERTIES_H

#include <stdio.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

/* Sets every "key=value" of properties (already checked to hold a '=') on
 * conf. 0, or -1 with `--property "...": reason` in errstr. */
static inline int kafka_conf_set_properties(rd_kafka_conf_t *conf, const char *const *properties,
                                            int count, char *errstr, size_t errstr_size) {
    for (int i = 0; i < count; i++) {
        char key[256], reason[256];
        const char *equals = strchr(properties[i], '=');
        snprintf(key, sizeof(key), "%.*s", (int)(equals - properties[i]), properties[i]);
        if (rd_kafka_conf_set(conf, key, equals + 1, reason, sizeof(reason)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "--property \"%s\": %s", properties[i], reason);
            return -1;
        }
    }
    return 0;
}

#endif

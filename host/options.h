/*
 * options.h — a plugin's declared options applied to one config group: the
 * host's implementation of the SDK's opaque beast_config. Validation rejects
 * unknown keys (listing the valid ones), wrong types and missing required
 * keys with `file:line: path.key: reason`; defaults fill the rest.
 */
#ifndef HOST_OPTIONS_H
#define HOST_OPTIONS_H

#include <libconfig.h>
#include <stddef.h>

#include "beast/plugin.h"

typedef struct host_option_value {
    const beast_option *option;
    int is_set;
    char *text; /* STRING (expanded), also the text form of every other type */
    int64_t integer;
    double real;
    int boolean;
    char **items; /* LIST */
    size_t item_count;
} host_option_value;

struct beast_config {
    host_option_value *values;
    size_t count;
};

/* Validates `group` (may be NULL: all defaults) against up to two option
 * tables (the plugin's and the host's own keys for that kind; either may be
 * NULL) and fills `out`. `path` names the group in messages
 * ("pipelines.bookings.sink"). Keys listed in `ignored` (NULL-terminated, may
 * be NULL) are accepted and skipped. 0 ok; -1 with errstr. The caller owns
 * `out`: host_options_free. */
int host_options_apply(const config_setting_t *group, const char *path,
                       const beast_option *plugin_options, const beast_option *host_options,
                       const char *const *ignored, beast_config *out, char *errstr,
                       size_t errstr_size);
void host_options_free(beast_config *config);

/* Typed lookups (the host API's config_* functions). */
const host_option_value *host_options_get(const beast_config *config, const char *name);
const char *host_config_string(const beast_config *config, const char *name);
int64_t host_config_int(const beast_config *config, const char *name);
int host_config_bool(const beast_config *config, const char *name);
double host_config_double(const beast_config *config, const char *name);
size_t host_config_list_size(const beast_config *config, const char *name);
const char *host_config_list_item(const beast_config *config, const char *name, size_t index);
int host_config_is_set(const beast_config *config, const char *name);

/* Expands ${VAR} and ${VAR:-default} in `text`. Returns a malloc'd string
 * (caller frees) or NULL with errstr (unset variable without default,
 * unterminated reference, out of memory). */
char *host_expand_env(const char *text, char *errstr, size_t errstr_size);

/* "file:line: " for a setting, or "file: " when libconfig knows no line. */
void host_setting_where(const config_setting_t *setting, char *out, size_t out_size);

/* The option type's name for messages and docs: string, int, bool, ... */
const char *host_option_type_name(beast_option_type type);

#endif

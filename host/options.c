/*
 * options.c — config map validation and lookups; see options.h.
 */
#include "options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *host_option_type_name(beast_option_type type) {
    switch (type) {
    case BEAST_OPT_STRING:
        return "string";
    case BEAST_OPT_INT:
        return "int";
    case BEAST_OPT_BOOL:
        return "bool";
    case BEAST_OPT_DOUBLE:
        return "number";
    case BEAST_OPT_LIST:
        return "list of strings";
    }
    return "?";
}

void host_setting_where(const config_setting_t *setting, char *out, size_t out_size) {
    const char *file = setting ? config_setting_source_file(setting) : NULL;
    unsigned line = setting ? config_setting_source_line(setting) : 0;
    if (file && line)
        snprintf(out, out_size, "%s:%u: ", file, line);
    else if (file)
        snprintf(out, out_size, "%s: ", file);
    else
        out[0] = '\0';
}

char *host_expand_env(const char *text, char *errstr, size_t errstr_size) {
    size_t capacity = strlen(text) + 64, used = 0;
    char *out = malloc(capacity);
    if (!out)
        goto out_of_memory;
    for (const char *p = text; *p;) {
        const char *piece = p;
        size_t piece_length = 1;
        char name[256];
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                snprintf(errstr, errstr_size, "unterminated ${ in \"%s\"", text);
                free(out);
                return NULL;
            }
            const char *name_end = strstr(p + 2, ":-");
            const char *fallback = NULL;
            if (name_end && name_end < end)
                fallback = name_end + 2;
            else
                name_end = end;
            size_t name_length = (size_t)(name_end - (p + 2));
            if (name_length == 0 || name_length >= sizeof(name)) {
                snprintf(errstr, errstr_size, "bad variable reference in \"%s\"", text);
                free(out);
                return NULL;
            }
            memcpy(name, p + 2, name_length);
            name[name_length] = '\0';
            const char *value = getenv(name);
            if (value && (!fallback || value[0])) {
                piece = value;
                piece_length = strlen(value);
            } else if (fallback) {
                piece = fallback;
                piece_length = (size_t)(end - fallback);
            } else {
                snprintf(errstr, errstr_size,
                         "environment variable %s is not set (write ${%s:-default} for a default)",
                         name, name);
                free(out);
                return NULL;
            }
            p = end + 1;
        } else {
            p++;
        }
        if (used + piece_length + 1 > capacity) {
            capacity = (used + piece_length + 1) * 2;
            char *grown = realloc(out, capacity);
            if (!grown)
                goto out_of_memory;
            out = grown;
        }
        memcpy(out + used, piece, piece_length);
        used += piece_length;
    }
    out[used] = '\0';
    return out;
out_of_memory:
    free(out);
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
}

static const beast_option *find_option(const beast_option *table, const char *name) {
    for (const beast_option *option = table; option && option->name; option++)
        if (strcmp(option->name, name) == 0)
            return option;
    return NULL;
}

static size_t count_options(const beast_option *table) {
    size_t count = 0;
    for (const beast_option *option = table; option && option->name; option++)
        count++;
    return count;
}

/* Appends "a, b, c" of both tables to out. */
static void list_valid_keys(const beast_option *first, const beast_option *second, char *out,
                            size_t out_size) {
    out[0] = '\0';
    const beast_option *tables[2] = {first, second};
    for (int t = 0; t < 2; t++)
        for (const beast_option *option = tables[t]; option && option->name; option++) {
            size_t used = strlen(out);
            snprintf(out + used, out_size - used, "%s%s", used ? ", " : "", option->name);
        }
}

/* Parses a text value of `type` into `value` (defaults and list items). */
static int parse_text(host_option_value *value, const char *text, char *why, size_t why_size) {
    char *end = NULL;
    value->text = strdup(text);
    if (!value->text) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    switch (value->option->type) {
    case BEAST_OPT_STRING:
        return 0;
    case BEAST_OPT_INT:
        errno = 0;
        value->integer = strtoll(text, &end, 10);
        if (errno || end == text || *end) {
            snprintf(why, why_size, "expected an integer, got \"%s\"", text);
            return -1;
        }
        value->real = (double)value->integer;
        return 0;
    case BEAST_OPT_DOUBLE:
        errno = 0;
        value->real = strtod(text, &end);
        if (errno || end == text || *end) {
            snprintf(why, why_size, "expected a number, got \"%s\"", text);
            return -1;
        }
        return 0;
    case BEAST_OPT_BOOL:
        if (strcmp(text, "true") == 0)
            value->boolean = 1;
        else if (strcmp(text, "false") == 0)
            value->boolean = 0;
        else {
            snprintf(why, why_size, "expected true or false, got \"%s\"", text);
            return -1;
        }
        return 0;
    case BEAST_OPT_LIST: {
        /* Default lists are comma-separated text. */
        size_t count = text[0] ? 1 : 0;
        for (const char *p = text; *p; p++)
            count += *p == ',';
        value->items = calloc(count + 1, sizeof(char *));
        if (!value->items) {
            snprintf(why, why_size, "out of memory");
            return -1;
        }
        const char *start = text;
        for (size_t i = 0; i < count; i++) {
            const char *comma = strchr(start, ',');
            size_t length = comma ? (size_t)(comma - start) : strlen(start);
            value->items[i] = strndup(start, length);
            start = comma ? comma + 1 : start + length;
        }
        value->item_count = count;
        return 0;
    }
    }
    return -1;
}

/* Reads a config setting as `option`'s type. */
static int read_setting(host_option_value *value, const config_setting_t *setting, char *why,
                        size_t why_size) {
    const beast_option *option = value->option;
    int type = config_setting_type(setting);
    char number[64];
    switch (option->type) {
    case BEAST_OPT_STRING: {
        if (type != CONFIG_TYPE_STRING) {
            snprintf(why, why_size, "expected a string");
            return -1;
        }
        value->text = host_expand_env(config_setting_get_string(setting), why, why_size);
        return value->text ? 0 : -1;
    }
    case BEAST_OPT_INT:
        if (type == CONFIG_TYPE_STRING) {
            /* "${VAR:-500}" is allowed wherever a number is. */
            char *text = host_expand_env(config_setting_get_string(setting), why, why_size);
            if (!text)
                return -1;
            int rc = parse_text(value, text, why, why_size);
            free(text);
            return rc;
        }
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
            snprintf(why, why_size, "expected an integer");
            return -1;
        }
        value->integer = config_setting_get_int64(setting);
        value->real = (double)value->integer;
        snprintf(number, sizeof(number), "%lld", (long long)value->integer);
        value->text = strdup(number);
        return value->text ? 0 : -1;
    case BEAST_OPT_DOUBLE:
        if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
            value->real = (double)config_setting_get_int64(setting);
        else if (type == CONFIG_TYPE_FLOAT)
            value->real = config_setting_get_float(setting);
        else {
            snprintf(why, why_size, "expected a number");
            return -1;
        }
        snprintf(number, sizeof(number), "%g", value->real);
        value->text = strdup(number);
        return value->text ? 0 : -1;
    case BEAST_OPT_BOOL:
        if (type == CONFIG_TYPE_STRING) {
            char *text = host_expand_env(config_setting_get_string(setting), why, why_size);
            if (!text)
                return -1;
            int rc = parse_text(value, text, why, why_size);
            free(text);
            return rc;
        }
        if (type != CONFIG_TYPE_BOOL) {
            snprintf(why, why_size, "expected true or false");
            return -1;
        }
        value->boolean = config_setting_get_bool(setting);
        value->text = strdup(value->boolean ? "true" : "false");
        return value->text ? 0 : -1;
    case BEAST_OPT_LIST: {
        if (type == CONFIG_TYPE_STRING) { /* a single string is a list of one */
            value->items = calloc(2, sizeof(char *));
            if (!value->items)
                return -1;
            value->items[0] = host_expand_env(config_setting_get_string(setting), why, why_size);
            if (!value->items[0])
                return -1;
            value->item_count = 1;
            value->text = strdup(value->items[0]);
            return 0;
        }
        if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
            snprintf(why, why_size, "expected a list of strings");
            return -1;
        }
        int count = config_setting_length(setting);
        value->items = calloc((size_t)count + 1, sizeof(char *));
        if (!value->items)
            return -1;
        for (int i = 0; i < count; i++) {
            const config_setting_t *item = config_setting_get_elem(setting, (unsigned)i);
            if (config_setting_type(item) != CONFIG_TYPE_STRING) {
                snprintf(why, why_size, "item %d: expected a string", i);
                return -1;
            }
            value->items[i] = host_expand_env(config_setting_get_string(item), why, why_size);
            if (!value->items[i])
                return -1;
            value->item_count++;
        }
        value->text = strdup(count ? value->items[0] : "");
        return 0;
    }
    }
    return -1;
}

int host_options_apply(const config_setting_t *group, const char *path,
                       const beast_option *plugin_options, const beast_option *host_options,
                       const char *const *ignored, beast_config *out, char *errstr,
                       size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    char where[512];
    char why[512];
    size_t total = count_options(plugin_options) + count_options(host_options);
    out->values = calloc(total ? total : 1, sizeof(*out->values));
    if (!out->values) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    /* Unknown keys first: a misspelling is the likeliest mistake. */
    int length = group ? config_setting_length(group) : 0;
    for (int i = 0; i < length; i++) {
        const config_setting_t *setting = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(setting);
        int skip = 0;
        for (const char *const *key = ignored; key && *key; key++)
            skip |= strcmp(*key, name) == 0;
        if (skip || find_option(plugin_options, name) || find_option(host_options, name))
            continue;
        char valid[1024];
        list_valid_keys(plugin_options, host_options, valid, sizeof(valid));
        host_setting_where(setting, where, sizeof(where));
        snprintf(errstr, errstr_size, "%s%s%s%s: unknown key (valid keys: %s)", where, path,
                 path[0] ? "." : "", name, valid);
        return -1;
    }
    const beast_option *tables[2] = {plugin_options, host_options};
    for (int t = 0; t < 2; t++) {
        for (const beast_option *option = tables[t]; option && option->name; option++) {
            if (t == 1 && find_option(plugin_options, option->name))
                continue; /* the plugin's declaration wins */
            host_option_value *value = &out->values[out->count++];
            value->option = option;
            const config_setting_t *setting =
                group ? config_setting_get_member(group, option->name) : NULL;
            if (setting) {
                value->is_set = 1;
                if (read_setting(value, setting, why, sizeof(why)) != 0) {
                    host_setting_where(setting, where, sizeof(where));
                    snprintf(errstr, errstr_size, "%s%s%s%s: %s", where, path, path[0] ? "." : "",
                             option->name, why);
                    return -1;
                }
            } else if (option->required) {
                host_setting_where(group, where, sizeof(where));
                snprintf(errstr, errstr_size, "%s%s%s%s: required key is missing (%s)", where, path,
                         path[0] ? "." : "", option->name, option->doc ? option->doc : "");
                return -1;
            } else if (parse_text(value, option->default_value ? option->default_value : "", why,
                                  sizeof(why)) != 0 &&
                       option->default_value) {
                snprintf(errstr, errstr_size, "%s.%s: bad default: %s", path, option->name, why);
                return -1;
            }
        }
    }
    return 0;
}

void host_options_free(beast_config *config) {
    for (size_t i = 0; i < config->count; i++) {
        host_option_value *value = &config->values[i];
        free(value->text);
        for (size_t j = 0; j < value->item_count; j++)
            free(value->items[j]);
        free(value->items);
    }
    free(config->values);
    memset(config, 0, sizeof(*config));
}

const host_option_value *host_options_get(const beast_config *config, const char *name) {
    for (size_t i = 0; config && i < config->count; i++)
        if (strcmp(config->values[i].option->name, name) == 0)
            return &config->values[i];
    return NULL;
}

const char *host_config_string(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    if (!value || (!value->is_set && !value->option->default_value))
        return NULL;
    return value->text;
}

int64_t host_config_int(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    return value ? value->integer : 0;
}

int host_config_bool(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    return value ? value->boolean : 0;
}

double host_config_double(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    return value ? value->real : 0.0;
}

size_t host_config_list_size(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    return value ? value->item_count : 0;
}

const char *host_config_list_item(const beast_config *config, const char *name, size_t index) {
    const host_option_value *value = host_options_get(config, name);
    return value && index < value->item_count ? value->items[index] : NULL;
}

int host_config_is_set(const beast_config *config, const char *name) {
    const host_option_value *value = host_options_get(config, name);
    return value ? value->is_set : 0;
}

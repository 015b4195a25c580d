/* query.c — jobs.query, jobs.getQueryResults and jobs.get for a small,
 * documented subset of GoogleSQL, translated to SQLite over the stored rows:
 *
 *   SELECT [DISTINCT] item [, item]...  FROM `project.dataset.table` [[AS] alias]
 *     [WHERE cond] [GROUP BY expr|alias|ordinal, ...] [HAVING cond]
 *     [ORDER BY expr|alias|ordinal [ASC|DESC], ...] [LIMIT n [OFFSET m]]
 *
 * item: column path (a or rec.a), literal, @param, COUNT(*), COUNT([DISTINCT] x),
 * COUNTIF(cond), MIN, MAX, SUM, AVG, ANY_VALUE, LOWER, UPPER, COALESCE, IFNULL,
 * arithmetic (+ - * /), each with [AS] alias. cond: comparisons, AND/OR/NOT,
 * [NOT] IN (...), [NOT] BETWEEN, IS [NOT] NULL, [NOT] LIKE, TIMESTAMP '...'.
 * Anything else (joins, subqueries, UNNEST, window functions, SELECT *) is
 * answered with 400 invalidQuery naming what is unsupported. */
#include "bigquery.h"
#include "codec.h"
#include "emulator.h"
#include "http.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUERY_MAX_JOBS 1024
#define QUERY_MAX_PAGE 100000
#define QUERY_SUPPORTED                                                                            \
    "the emulator supports SELECT [DISTINCT] columns, literals, COUNT/COUNTIF/MIN/MAX/SUM/AVG"     \
    " FROM one table with WHERE, GROUP BY, HAVING, ORDER BY, LIMIT (see docs/emulator.md)"

/* ---- jobs --------------------------------------------------------------------- */

struct query_job {
    char *id;
    char *project;
    char *query;
    char *default_project; /* may be NULL */
    char *default_dataset; /* may be NULL */
    char *parameters;      /* queryParameters JSON text, may be NULL */
};

struct query_jobs {
    pthread_mutex_t lock;
    struct query_job jobs[QUERY_MAX_JOBS];
    size_t next;
};

static void query_job_clear(struct query_job *job) {
    free(job->id);
    free(job->project);
    free(job->query);
    free(job->default_project);
    free(job->default_dataset);
    free(job->parameters);
    memset(job, 0, sizeof *job);
}

static void query_job_copy(struct query_job *to, const struct query_job *from) {
    to->id = from->id ? xstrdup(from->id) : NULL;
    to->project = from->project ? xstrdup(from->project) : NULL;
    to->query = from->query ? xstrdup(from->query) : NULL;
    to->default_project = from->default_project ? xstrdup(from->default_project) : NULL;
    to->default_dataset = from->default_dataset ? xstrdup(from->default_dataset) : NULL;
    to->parameters = from->parameters ? xstrdup(from->parameters) : NULL;
}

struct query_jobs *query_jobs_create(void) {
    struct query_jobs *jobs = xcalloc(1, sizeof *jobs);
    pthread_mutex_init(&jobs->lock, NULL);
    return jobs;
}

void query_jobs_destroy(struct query_jobs *jobs) {
    if (!jobs)
        return;
    for (size_t i = 0; i < QUERY_MAX_JOBS; i++)
        query_job_clear(&jobs->jobs[i]);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}

static void query_jobs_remember(struct query_jobs *jobs, const struct query_job *job) {
    pthread_mutex_lock(&jobs->lock);
    struct query_job *slot = &jobs->jobs[jobs->next++ % QUERY_MAX_JOBS];
    query_job_clear(slot);
    query_job_copy(slot, job);
    pthread_mutex_unlock(&jobs->lock);
}

static bool query_jobs_find(struct query_jobs *jobs, const char *project, const char *id,
                            struct query_job *out) {
    bool found = false;
    pthread_mutex_lock(&jobs->lock);
    for (size_t i = 0; i < QUERY_MAX_JOBS && !found; i++) {
        const struct query_job *job = &jobs->jobs[i];
        if (job->id && strcmp(job->id, id) == 0 && strcmp(job->project, project) == 0) {
            query_job_copy(out, job);
            found = true;
        }
    }
    pthread_mutex_unlock(&jobs->lock);
    return found;
}

/* ---- tokens ------------------------------------------------------------------- */

enum token_kind {
    TOKEN_END,
    TOKEN_IDENT,
    TOKEN_QUOTED, /* `backtick` identifier */
    TOKEN_STRING,
    TOKEN_INT,
    TOKEN_FLOAT,
    TOKEN_PARAM,
    TOKEN_SYMBOL,
};

struct token {
    enum token_kind kind;
    char *text;
    size_t pos;
};

enum node_kind {
    NODE_COLUMN,
    NODE_INT,
    NODE_FLOAT,
    NODE_STRING,
    NODE_TIMESTAMP, /* TIMESTAMP 'literal', text canonical */
    NODE_BOOL,
    NODE_NULL,
    NODE_PARAM,
    NODE_STAR,
    NODE_CALL,
    NODE_BINARY,
    NODE_NOT,
    NODE_NEGATE,
    NODE_IN,
    NODE_BETWEEN,
    NODE_IS_NULL,
    NODE_LIKE,
};

struct node {
    enum node_kind kind;
    size_t pos;
    char *text; /* column path, function name, operator, literal text, parameter name */
    int64_t int_value;
    double float_value;
    bool bool_value;
    bool distinct;
    bool negated;
    struct node **args;
    size_t arg_count;
    enum field_type type; /* set by translation */
};

struct select_item {
    struct node *expr;
    char *alias; /* may be NULL */
};

struct order_term {
    struct node *expr;
    bool descending;
};

struct select_statement {
    bool distinct;
    struct select_item *items;
    size_t item_count;
    char **table_path; /* 1..3 components */
    size_t table_path_count;
    char *table_alias;
    struct node *where;
    struct node **group_by;
    size_t group_count;
    struct node *having;
    struct order_term *order_by;
    size_t order_count;
    int64_t limit; /* -1: none */
    int64_t offset;
};

struct parser {
    const char *sql;
    struct token *tokens;
    size_t token_count;
    size_t at;
    struct node **nodes; /* every node, for freeing */
    size_t node_count;
    size_t node_cap;
    char error[600];
    bool failed;
};

static void parser_fail(struct parser *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void parser_fail(struct parser *p, size_t pos, const char *fmt, ...) {
    if (p->failed)
        return;
    p->failed = true;
    char message[480];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos && p->sql[i]; i++) {
        if (p->sql[i] == '\n')
            line++, column = 1;
        else
            column++;
    }
    snprintf(p->error, sizeof p->error, "%s at [%zu:%zu]", message, line, column);
}

static void add_token(struct parser *p, size_t *cap, enum token_kind kind, char *text, size_t pos) {
    if (p->token_count == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        p->tokens = xrealloc(p->tokens, *cap * sizeof *p->tokens);
    }
    p->tokens[p->token_count++] = (struct token){kind, text, pos};
}

static bool tokenize(struct parser *p) {
    const char *s = p->sql;
    size_t cap = 0;
    size_t i = 0;
    while (s[i]) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            i++;
        } else if (c == '#' || (c == '-' && s[i + 1] == '-')) {
            while (s[i] && s[i] != '\n')
                i++;
        } else if (c == '/' && s[i + 1] == '*') {
            const char *end = strstr(s + i + 2, "*/");
            if (!end) {
                parser_fail(p, i, "Syntax error: Unclosed comment");
                return false;
            }
            i = (size_t)(end - s) + 2;
        } else if (isalpha(c) || c == '_') {
            size_t start = i;
            while (isalnum((unsigned char)s[i]) || s[i] == '_')
                i++;
            add_token(p, &cap, TOKEN_IDENT, xstrndup(s + start, i - start), start);
        } else if (c == '`') {
            size_t start = i++;
            while (s[i] && s[i] != '`')
                i++;
            if (!s[i]) {
                parser_fail(p, start, "Syntax error: Unclosed identifier literal");
                return false;
            }
            add_token(p, &cap, TOKEN_QUOTED, xstrndup(s + start + 1, i - start - 1), start);
            i++;
        } else if (c == '\'' || c == '"') {
            size_t start = i++;
            struct strbuf value;
            strbuf_init(&value);
            while (s[i] && (unsigned char)s[i] != c) {
                char ch = s[i];
                if (ch == '\\' && s[i + 1]) {
                    i++;
                    ch = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : s[i] == 'r' ? '\r' : s[i];
                }
                strbuf_append(&value, &ch, 1);
                i++;
            }
            if (!s[i]) {
                strbuf_free(&value);
                parser_fail(p, start, "Syntax error: Unclosed string literal");
                return false;
            }
            i++;
            add_token(p, &cap, TOKEN_STRING, strbuf_take(&value, NULL), start);
        } else if (isdigit(c) || (c == '.' && isdigit((unsigned char)s[i + 1]))) {
            size_t start = i;
            bool is_float = false;
            while (isdigit((unsigned char)s[i]))
                i++;
            if (s[i] == '.') {
                is_float = true;
                i++;
                while (isdigit((unsigned char)s[i]))
                    i++;
            }
            if (s[i] == 'e' || s[i] == 'E') {
                is_float = true;
                i++;
                if (s[i] == '+' || s[i] == '-')
                    i++;
                while (isdigit((unsigned char)s[i]))
                    i++;
            }
            add_token(p, &cap, is_float ? TOKEN_FLOAT : TOKEN_INT, xstrndup(s + start, i - start),
                      start);
        } else if (c == '@' && (isalpha((unsigned char)s[i + 1]) || s[i + 1] == '_')) {
            size_t start = i++;
            while (isalnum((unsigned char)s[i]) || s[i] == '_')
                i++;
            add_token(p, &cap, TOKEN_PARAM, xstrndup(s + start + 1, i - start - 1), start);
        } else {
            static const char *const two[] = {"<=", ">=", "<>", "!=", "||"};
            size_t len = 0;
            for (size_t k = 0; k < sizeof two / sizeof two[0]; k++)
                if (strncmp(s + i, two[k], 2) == 0)
                    len = 2;
            if (!len && strchr("=<>(),.*+-/;", c))
                len = 1;
            if (!len) {
                parser_fail(p, i, "Syntax error: Illegal input character \"%c\"", c);
                return false;
            }
            add_token(p, &cap, TOKEN_SYMBOL, xstrndup(s + i, len), i);
            i += len;
        }
    }
    add_token(p, &cap, TOKEN_END, xstrdup(""), i);
    return true;
}

/* ---- parsing ------------------------------------------------------------------ */

static const char *const reserved_words[] = {
    "ALL",      "AND",    "AS",        "ASC",    "BETWEEN", "BY",    "CASE",    "CROSS",  "DESC",
    "DISTINCT", "ELSE",   "END",       "EXCEPT", "FALSE",   "FROM",  "FULL",    "GROUP",  "HAVING",
    "IN",       "INNER",  "INTERSECT", "IS",     "JOIN",    "LEFT",  "LIKE",    "LIMIT",  "NOT",
    "NULL",     "OFFSET", "ON",        "OR",     "ORDER",   "OUTER", "QUALIFY", "RIGHT",  "SELECT",
    "THEN",     "TRUE",   "UNION",     "UNNEST", "USING",   "WHEN",  "WHERE",   "WINDOW", "WITH",
};

static bool is_reserved(const struct token *token) {
    if (token->kind != TOKEN_IDENT)
        return false;
    for (size_t i = 0; i < sizeof reserved_words / sizeof reserved_words[0]; i++)
        if (strcasecmp(token->text, reserved_words[i]) == 0)
            return true;
    return false;
}

static struct token *peek(struct parser *p) { return &p->tokens[p->at]; }

static struct token *peek_at(struct parser *p, size_t ahead) {
    size_t index = p->at + ahead;
    return &p->tokens[index < p->token_count ? index : p->token_count - 1];
}

static bool is_keyword(const struct token *token, const char *word) {
    return token->kind == TOKEN_IDENT && strcasecmp(token->text, word) == 0;
}

static bool is_symbol(const struct token *token, const char *symbol) {
    return token->kind == TOKEN_SYMBOL && strcmp(token->text, symbol) == 0;
}

static bool accept_keyword(struct parser *p, const char *word) {
    if (!is_keyword(peek(p), word))
        return false;
    p->at++;
    return true;
}

static bool accept_symbol(struct parser *p, const char *symbol) {
    if (!is_symbol(peek(p), symbol))
        return false;
    p->at++;
    return true;
}

static const char *describe_token(const struct token *token) {
    return token->kind == TOKEN_END ? "end of input" : token->text;
}

static bool expect_keyword(struct parser *p, const char *word) {
    if (accept_keyword(p, word))
        return true;
    parser_fail(p, peek(p)->pos, "Syntax error: Expected keyword %s but got \"%s\"", word,
                describe_token(peek(p)));
    return false;
}

static bool expect_symbol(struct parser *p, const char *symbol) {
    if (accept_symbol(p, symbol))
        return true;
    parser_fail(p, peek(p)->pos, "Syntax error: Expected \"%s\" but got \"%s\"", symbol,
                describe_token(peek(p)));
    return false;
}

static struct node *new_node(struct parser *p, enum node_kind kind, size_t pos, const char *text) {
    struct node *node = xcalloc(1, sizeof *node);
    node->kind = kind;
    node->pos = pos;
    node->text = text ? xstrdup(text) : NULL;
    if (p->node_count == p->node_cap) {
        p->node_cap = p->node_cap ? p->node_cap * 2 : 32;
        p->nodes = xrealloc(p->nodes, p->node_cap * sizeof *p->nodes);
    }
    p->nodes[p->node_count++] = node;
    return node;
}

static void add_arg(struct node *node, struct node *arg) {
    node->args = xrealloc(node->args, (node->arg_count + 1) * sizeof *node->args);
    node->args[node->arg_count++] = arg;
}

static struct node *binary(struct parser *p, const char *op, size_t pos, struct node *left,
                           struct node *right) {
    struct node *node = new_node(p, NODE_BINARY, pos, op);
    add_arg(node, left);
    add_arg(node, right);
    return node;
}

static struct node *parse_or(struct parser *p);

static struct node *parse_primary(struct parser *p) {
    struct token *token = peek(p);
    if (p->failed)
        return NULL;
    switch (token->kind) {
    case TOKEN_INT: {
        p->at++;
        struct node *node = new_node(p, NODE_INT, token->pos, token->text);
        bool range;
        if (!text_to_int64(token->text, &node->int_value, &range)) {
            parser_fail(p, token->pos, "Invalid integer literal: %s", token->text);
            return NULL;
        }
        return node;
    }
    case TOKEN_FLOAT: {
        p->at++;
        struct node *node = new_node(p, NODE_FLOAT, token->pos, token->text);
        node->float_value = strtod(token->text, NULL);
        return node;
    }
    case TOKEN_STRING:
        p->at++;
        return new_node(p, NODE_STRING, token->pos, token->text);
    case TOKEN_PARAM:
        p->at++;
        return new_node(p, NODE_PARAM, token->pos, token->text);
    case TOKEN_SYMBOL:
        if (accept_symbol(p, "(")) {
            if (is_keyword(peek(p), "SELECT")) {
                parser_fail(p, peek(p)->pos, "Unsupported: subqueries; " QUERY_SUPPORTED);
                return NULL;
            }
            struct node *inner = parse_or(p);
            return expect_symbol(p, ")") ? inner : NULL;
        }
        if (accept_symbol(p, "*"))
            return new_node(p, NODE_STAR, token->pos, "*");
        break;
    case TOKEN_IDENT:
    case TOKEN_QUOTED:
        break;
    case TOKEN_END:
        parser_fail(p, token->pos, "Syntax error: Unexpected end of script");
        return NULL;
    }
    if (token->kind == TOKEN_SYMBOL) {
        parser_fail(p, token->pos, "Syntax error: Unexpected \"%s\"", token->text);
        return NULL;
    }
    if (token->kind == TOKEN_IDENT) {
        if (is_keyword(token, "TRUE") || is_keyword(token, "FALSE")) {
            p->at++;
            struct node *node = new_node(p, NODE_BOOL, token->pos, token->text);
            node->bool_value = is_keyword(token, "TRUE");
            return node;
        }
        if (is_keyword(token, "NULL")) {
            p->at++;
            return new_node(p, NODE_NULL, token->pos, "NULL");
        }
        if (is_keyword(token, "TIMESTAMP") && peek_at(p, 1)->kind == TOKEN_STRING) {
            struct token *literal = peek_at(p, 1);
            p->at += 2;
            int64_t micros;
            if (!timestamp_parse(literal->text, &micros)) {
                parser_fail(p, literal->pos, "Invalid TIMESTAMP literal: %s", literal->text);
                return NULL;
            }
            char text[TIMESTAMP_TEXT_SIZE];
            timestamp_format(micros, text);
            return new_node(p, NODE_TIMESTAMP, token->pos, text);
        }
        if (is_keyword(token, "CASE") || is_keyword(token, "UNNEST") ||
            is_keyword(token, "SELECT")) {
            parser_fail(p, token->pos, "Unsupported: %s; " QUERY_SUPPORTED, token->text);
            return NULL;
        }
        if (is_reserved(token)) {
            parser_fail(p, token->pos, "Syntax error: Unexpected keyword %s", token->text);
            return NULL;
        }
        if (is_symbol(peek_at(p, 1), "(")) {
            p->at += 2;
            char name[64];
            snprintf(name, sizeof name, "%s", token->text);
            for (char *c = name; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            struct node *call = new_node(p, NODE_CALL, token->pos, name);
            if (accept_keyword(p, "DISTINCT"))
                call->distinct = true;
            if (!is_symbol(peek(p), ")")) {
                do {
                    struct node *arg = is_symbol(peek(p), "*")
                                           ? (p->at++, new_node(p, NODE_STAR, peek(p)->pos, "*"))
                                           : parse_or(p);
                    if (!arg)
                        return NULL;
                    add_arg(call, arg);
                } while (accept_symbol(p, ","));
            }
            if (!expect_symbol(p, ")"))
                return NULL;
            if (is_keyword(peek(p), "OVER")) {
                parser_fail(p, peek(p)->pos, "Unsupported: window functions; " QUERY_SUPPORTED);
                return NULL;
            }
            return call;
        }
    }
    /* a column path: a, rec.a, `rec.a`, t.a */
    struct strbuf path;
    strbuf_init(&path);
    size_t pos = token->pos;
    for (;;) {
        struct token *part = peek(p);
        if (part->kind != TOKEN_IDENT && part->kind != TOKEN_QUOTED) {
            parser_fail(p, part->pos, "Syntax error: Unexpected \"%s\"", describe_token(part));
            strbuf_free(&path);
            return NULL;
        }
        p->at++;
        if (path.len)
            strbuf_puts(&path, ".");
        strbuf_puts(&path, part->text);
        if (!(is_symbol(peek(p), ".") &&
              (peek_at(p, 1)->kind == TOKEN_IDENT || peek_at(p, 1)->kind == TOKEN_QUOTED)))
            break;
        p->at++;
    }
    struct node *column = new_node(p, NODE_COLUMN, pos, path.data);
    strbuf_free(&path);
    return column;
}

static struct node *parse_unary(struct parser *p) {
    struct token *token = peek(p);
    if (accept_symbol(p, "-")) {
        struct node *inner = parse_unary(p);
        if (!inner)
            return NULL;
        struct node *node = new_node(p, NODE_NEGATE, token->pos, "-");
        add_arg(node, inner);
        return node;
    }
    if (accept_symbol(p, "+"))
        return parse_unary(p);
    return parse_primary(p);
}

static struct node *parse_multiplicative(struct parser *p) {
    struct node *left = parse_unary(p);
    while (left && (is_symbol(peek(p), "*") || is_symbol(peek(p), "/"))) {
        struct token *op = peek(p);
        p->at++;
        struct node *right = parse_unary(p);
        if (!right)
            return NULL;
        left = binary(p, op->text, op->pos, left, right);
    }
    return left;
}

static struct node *parse_additive(struct parser *p) {
    struct node *left = parse_multiplicative(p);
    while (left &&
           (is_symbol(peek(p), "+") || is_symbol(peek(p), "-") || is_symbol(peek(p), "||"))) {
        struct token *op = peek(p);
        p->at++;
        struct node *right = parse_multiplicative(p);
        if (!right)
            return NULL;
        left = binary(p, op->text, op->pos, left, right);
    }
    return left;
}

static struct node *parse_comparison(struct parser *p) {
    struct node *left = parse_additive(p);
    if (!left)
        return NULL;
    struct token *token = peek(p);
    static const char *const comparisons[] = {"=", "!=", "<>", "<", "<=", ">", ">="};
    for (size_t i = 0; i < sizeof comparisons / sizeof comparisons[0]; i++)
        if (is_symbol(token, comparisons[i])) {
            p->at++;
            struct node *right = parse_additive(p);
            return right ? binary(p, strcmp(token->text, "<>") == 0 ? "!=" : token->text,
                                  token->pos, left, right)
                         : NULL;
        }
    if (accept_keyword(p, "IS")) {
        struct node *node = new_node(p, NODE_IS_NULL, token->pos, "IS NULL");
        node->negated = accept_keyword(p, "NOT");
        if (!expect_keyword(p, "NULL"))
            return NULL;
        add_arg(node, left);
        return node;
    }
    bool negated = false;
    if (is_keyword(token, "NOT") &&
        (is_keyword(peek_at(p, 1), "IN") || is_keyword(peek_at(p, 1), "BETWEEN") ||
         is_keyword(peek_at(p, 1), "LIKE"))) {
        negated = true;
        p->at++;
    }
    if (accept_keyword(p, "IN")) {
        struct node *node = new_node(p, NODE_IN, token->pos, "IN");
        node->negated = negated;
        add_arg(node, left);
        if (is_keyword(peek(p), "UNNEST")) {
            parser_fail(p, peek(p)->pos, "Unsupported: IN UNNEST; " QUERY_SUPPORTED);
            return NULL;
        }
        if (!expect_symbol(p, "("))
            return NULL;
        do {
            struct node *item = parse_additive(p);
            if (!item)
                return NULL;
            add_arg(node, item);
        } while (accept_symbol(p, ","));
        return expect_symbol(p, ")") ? node : NULL;
    }
    if (accept_keyword(p, "BETWEEN")) {
        struct node *node = new_node(p, NODE_BETWEEN, token->pos, "BETWEEN");
        node->negated = negated;
        struct node *low = parse_additive(p);
        if (!low || !expect_keyword(p, "AND"))
            return NULL;
        struct node *high = parse_additive(p);
        if (!high)
            return NULL;
        add_arg(node, left);
        add_arg(node, low);
        add_arg(node, high);
        return node;
    }
    if (accept_keyword(p, "LIKE")) {
        struct node *node = new_node(p, NODE_LIKE, token->pos, "LIKE");
        node->negated = negated;
        struct node *pattern = parse_additive(p);
        if (!pattern)
            return NULL;
        add_arg(node, left);
        add_arg(node, pattern);
        return node;
    }
    return left;
}

static struct node *parse_not(struct parser *p) {
    struct token *token = peek(p);
    if (accept_keyword(p, "NOT")) {
        struct node *inner = parse_not(p);
        if (!inner)
            return NULL;
        struct node *node = new_node(p, NODE_NOT, token->pos, "NOT");
        add_arg(node, inner);
        return node;
    }
    return parse_comparison(p);
}

static struct node *parse_and(struct parser *p) {
    struct node *left = parse_not(p);
    while (left && is_keyword(peek(p), "AND")) {
        struct token *op = peek(p);
        p->at++;
        struct node *right = parse_not(p);
        if (!right)
            return NULL;
        left = binary(p, "AND", op->pos, left, right);
    }
    return left;
}

static struct node *parse_or(struct parser *p) {
    struct node *left = parse_and(p);
    while (left && is_keyword(peek(p), "OR")) {
        struct token *op = peek(p);
        p->at++;
        struct node *right = parse_and(p);
        if (!right)
            return NULL;
        left = binary(p, "OR", op->pos, left, right);
    }
    return left;
}

static char *parse_alias(struct parser *p) {
    if (accept_keyword(p, "AS")) {
        struct token *name = peek(p);
        if (name->kind != TOKEN_QUOTED && (name->kind != TOKEN_IDENT || is_reserved(name))) {
            parser_fail(p, name->pos, "Syntax error: Expected an alias but got \"%s\"",
                        describe_token(name));
            return NULL;
        }
        p->at++;
        return xstrdup(name->text);
    }
    struct token *name = peek(p);
    if (name->kind == TOKEN_QUOTED || (name->kind == TOKEN_IDENT && !is_reserved(name))) {
        p->at++;
        return xstrdup(name->text);
    }
    return NULL;
}

static void split_path(const char *text, char ***parts, size_t *count) {
    const char *start = text;
    for (const char *c = text;; c++) {
        if (*c == '.' || *c == '\0') {
            *parts = xrealloc(*parts, (*count + 1) * sizeof **parts);
            (*parts)[(*count)++] = xstrndup(start, (size_t)(c - start));
            if (*c == '\0')
                break;
            start = c + 1;
        }
    }
}

static bool parse_select(struct parser *p, struct select_statement *stmt) {
    memset(stmt, 0, sizeof *stmt);
    stmt->limit = -1;
    if (is_keyword(peek(p), "WITH")) {
        parser_fail(p, peek(p)->pos, "Unsupported: WITH; " QUERY_SUPPORTED);
        return false;
    }
    if (!expect_keyword(p, "SELECT"))
        return false;
    stmt->distinct = accept_keyword(p, "DISTINCT");
    accept_keyword(p, "ALL");
    do {
        if (is_symbol(peek(p), "*")) {
            parser_fail(p, peek(p)->pos, "Unsupported: SELECT *; name the columns instead");
            return false;
        }
        struct node *expr = parse_or(p);
        if (!expr)
            return false;
        char *alias = parse_alias(p);
        if (p->failed)
            return false;
        stmt->items = xrealloc(stmt->items, (stmt->item_count + 1) * sizeof *stmt->items);
        stmt->items[stmt->item_count++] = (struct select_item){expr, alias};
    } while (accept_symbol(p, ","));
    if (!expect_keyword(p, "FROM"))
        return false;
    struct token *table = peek(p);
    if (table->kind != TOKEN_IDENT && table->kind != TOKEN_QUOTED) {
        parser_fail(p, table->pos,
                    is_symbol(table, "(") ? "Unsupported: subqueries in FROM; %s"
                                          : "Syntax error: Expected a table name%s",
                    is_symbol(table, "(") ? QUERY_SUPPORTED : "");
        return false;
    }
    for (;;) {
        struct token *part = peek(p);
        if (part->kind != TOKEN_IDENT && part->kind != TOKEN_QUOTED) {
            parser_fail(p, part->pos, "Syntax error: Expected a table name");
            return false;
        }
        p->at++;
        split_path(part->text, &stmt->table_path, &stmt->table_path_count);
        if (!accept_symbol(p, "."))
            break;
    }
    if (stmt->table_path_count > 3) {
        parser_fail(p, table->pos, "Invalid table name: too many components");
        return false;
    }
    stmt->table_alias = parse_alias(p);
    if (p->failed)
        return false;
    if (is_symbol(peek(p), ",") || is_keyword(peek(p), "JOIN") || is_keyword(peek(p), "LEFT") ||
        is_keyword(peek(p), "INNER") || is_keyword(peek(p), "CROSS") ||
        is_keyword(peek(p), "RIGHT") || is_keyword(peek(p), "FULL")) {
        parser_fail(p, peek(p)->pos, "Unsupported: joins; " QUERY_SUPPORTED);
        return false;
    }
    if (accept_keyword(p, "WHERE") && !(stmt->where = parse_or(p)))
        return false;
    if (accept_keyword(p, "GROUP")) {
        if (!expect_keyword(p, "BY"))
            return false;
        do {
            struct node *term = parse_or(p);
            if (!term)
                return false;
            stmt->group_by =
                xrealloc(stmt->group_by, (stmt->group_count + 1) * sizeof *stmt->group_by);
            stmt->group_by[stmt->group_count++] = term;
        } while (accept_symbol(p, ","));
    }
    if (accept_keyword(p, "HAVING") && !(stmt->having = parse_or(p)))
        return false;
    if (accept_keyword(p, "ORDER")) {
        if (!expect_keyword(p, "BY"))
            return false;
        do {
            struct node *term = parse_or(p);
            if (!term)
                return false;
            bool descending = accept_keyword(p, "DESC");
            if (!descending)
                accept_keyword(p, "ASC");
            stmt->order_by =
                xrealloc(stmt->order_by, (stmt->order_count + 1) * sizeof *stmt->order_by);
            stmt->order_by[stmt->order_count++] = (struct order_term){term, descending};
        } while (accept_symbol(p, ","));
    }
    if (accept_keyword(p, "LIMIT")) {
        struct token *n = peek(p);
        bool range;
        if (n->kind != TOKEN_INT || !text_to_int64(n->text, &stmt->limit, &range)) {
            parser_fail(p, n->pos, "Syntax error: LIMIT expects an integer literal");
            return false;
        }
        p->at++;
        if (accept_keyword(p, "OFFSET")) {
            n = peek(p);
            if (n->kind != TOKEN_INT || !text_to_int64(n->text, &stmt->offset, &range)) {
                parser_fail(p, n->pos, "Syntax error: OFFSET expects an integer literal");
                return false;
            }
            p->at++;
        }
    }
    accept_symbol(p, ";");
    struct token *rest = peek(p);
    if (rest->kind != TOKEN_END) {
        if (is_keyword(rest, "UNION") || is_keyword(rest, "EXCEPT") ||
            is_keyword(rest, "INTERSECT") || is_keyword(rest, "QUALIFY") ||
            is_keyword(rest, "WINDOW"))
            parser_fail(p, rest->pos, "Unsupported: %s; " QUERY_SUPPORTED, rest->text);
        else
            parser_fail(p, rest->pos, "Syntax error: Expected end of input but got \"%s\"",
                        rest->text);
        return false;
    }
    return true;
}

static void select_free(struct select_statement *stmt) {
    for (size_t i = 0; i < stmt->item_count; i++)
        free(stmt->items[i].alias);
    free(stmt->items);
    for (size_t i = 0; i < stmt->table_path_count; i++)
        free(stmt->table_path[i]);
    free(stmt->table_path);
    free(stmt->table_alias);
    free(stmt->group_by);
    free(stmt->order_by);
}

static void parser_free(struct parser *p) {
    for (size_t i = 0; i < p->token_count; i++)
        free(p->tokens[i].text);
    free(p->tokens);
    for (size_t i = 0; i < p->node_count; i++) {
        free(p->nodes[i]->text);
        free(p->nodes[i]->args);
        free(p->nodes[i]);
    }
    free(p->nodes);
}

/* ---- translation to SQLite ---------------------------------------------------- */

enum clause { CLAUSE_SELECT, CLAUSE_WHERE, CLAUSE_GROUP, CLAUSE_HAVING, CLAUSE_ORDER };

enum param_kind { PARAM_INT, PARAM_FLOAT, PARAM_TEXT, PARAM_NULL };

struct bound_param {
    enum param_kind kind;
    int64_t int_value;
    double float_value;
    char *text;
};

struct translation {
    struct parser *parser;
    const struct select_statement *stmt;
    const struct table_schema *schema;
    const char *table_name;
    const cJSON *query_params;
    int meta_location;
    const struct schema_field *meta_holder;
    enum clause clause;
    int aggregate_depth;
    struct bound_param *params;
    size_t param_count;
    char **group_columns; /* SQL of GROUP BY terms that are plain columns */
    size_t group_column_count;
    int64_t table_id;
};

static bool is_aggregate_name(const char *name) {
    static const char *const names[] = {"COUNT", "COUNTIF", "MIN",      "MAX",
                                        "SUM",   "AVG",     "ANY_VALUE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool contains_aggregate(const struct node *node) {
    if (!node)
        return false;
    if (node->kind == NODE_CALL && is_aggregate_name(node->text))
        return true;
    for (size_t i = 0; i < node->arg_count; i++)
        if (contains_aggregate(node->args[i]))
            return true;
    return false;
}

static void add_param(struct translation *t, struct strbuf *out, struct bound_param param) {
    t->params = xrealloc(t->params, (t->param_count + 1) * sizeof *t->params);
    t->params[t->param_count++] = param;
    strbuf_printf(out, "?%zu", t->param_count + 1); /* ?1 is the table id */
}

/* Resolves a column path against the schema and writes its SQL. */
static bool emit_column(struct translation *t, struct node *node, struct strbuf *out) {
    char **parts = NULL;
    size_t count = 0;
    split_path(node->text, &parts, &count);
    size_t first = 0;
    if (count > 1 && !schema_find(t->schema->fields, t->schema->field_count, parts[0]) &&
        ((t->stmt->table_alias && strcasecmp(parts[0], t->stmt->table_alias) == 0) ||
         strcasecmp(parts[0], t->table_name) == 0))
        first = 1;
    const struct schema_field *fields = t->schema->fields;
    size_t field_count = t->schema->field_count;
    const struct schema_field *field = NULL;
    const struct schema_field *top = NULL;
    bool ok = true;
    struct strbuf path;
    strbuf_init(&path);
    strbuf_puts(&path, "$");
    for (size_t i = first; i < count && ok; i++) {
        field = schema_find(fields, field_count, parts[i]);
        if (!field) {
            parser_fail(t->parser, node->pos, "Unrecognized name: %s", parts[i]);
            ok = false;
            break;
        }
        if (i == first)
            top = field;
        strbuf_printf(&path, ".\"%s\"", field->name);
        if (i + 1 < count) {
            if (field->type != FIELD_RECORD || field->mode == MODE_REPEATED) {
                parser_fail(t->parser, node->pos, "Cannot access field %s on a value of type %s%s",
                            parts[i + 1], field->mode == MODE_REPEATED ? "ARRAY of " : "",
                            field_type_name(field->type));
                ok = false;
                break;
            }
            fields = field->fields;
            field_count = field->field_count;
        }
    }
    if (ok && (field->type == FIELD_RECORD || field->mode == MODE_REPEATED)) {
        parser_fail(t->parser, node->pos,
                    "Unsupported: column %s is %s; the emulator queries scalar columns only",
                    node->text, field->mode == MODE_REPEATED ? "REPEATED" : "a RECORD");
        ok = false;
    }
    if (ok) {
        node->type = field->type;
        size_t depth = count - first;
        const char *extracted = NULL;
        bool meta_path = (t->meta_location == 1 && depth == 1) ||
                         (t->meta_location == 2 && depth == 2 && top == t->meta_holder);
        if (meta_path) {
            if (strcasecmp(field->name, "message_topic") == 0 && field->type == FIELD_STRING)
                extracted = "msg_topic";
            else if (strcasecmp(field->name, "message_partition") == 0 &&
                     field->type == FIELD_INTEGER)
                extracted = "msg_partition";
            else if (strcasecmp(field->name, "message_offset") == 0 && field->type == FIELD_INTEGER)
                extracted = "msg_offset";
        }
        if (extracted)
            strbuf_puts(out, extracted);
        else
            strbuf_printf(out, "json_extract(json, '%s')", path.data);
    }
    strbuf_free(&path);
    for (size_t i = 0; i < count; i++)
        free(parts[i]);
    free(parts);
    return ok;
}

static bool emit(struct translation *t, struct node *node, struct strbuf *out);

/* A select-list alias named by a GROUP BY/HAVING/ORDER BY term, or NULL. */
static struct select_item *alias_target(struct translation *t, const struct node *node) {
    if (t->clause == CLAUSE_SELECT || t->clause == CLAUSE_WHERE || node->kind != NODE_COLUMN ||
        strchr(node->text, '.'))
        return NULL;
    for (size_t i = 0; i < t->stmt->item_count; i++)
        if (t->stmt->items[i].alias && strcasecmp(t->stmt->items[i].alias, node->text) == 0)
            return &t->stmt->items[i];
    return NULL;
}

static bool emit_item_expression(struct translation *t, struct select_item *item, struct node *at,
                                 struct strbuf *out) {
    enum clause saved = t->clause;
    t->clause = CLAUSE_SELECT;
    strbuf_puts(out, "(");
    bool ok = emit(t, item->expr, out);
    strbuf_puts(out, ")");
    t->clause = saved;
    at->type = item->expr->type;
    return ok;
}

static bool emit_param(struct translation *t, struct node *node, struct strbuf *out) {
    const cJSON *found = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, t->query_params) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "name");
        if (cJSON_IsString(name) && strcasecmp(name->valuestring, node->text) == 0)
            found = item;
    }
    if (!found) {
        parser_fail(t->parser, node->pos, "Query parameter '%s' not found", node->text);
        return false;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(found, "parameterType"), "type");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(found, "parameterValue"), "value");
    const char *type_name = cJSON_IsString(type) ? type->valuestring : "STRING";
    if (!value || cJSON_IsNull(value)) {
        strbuf_puts(out, "NULL");
        node->type = FIELD_STRING;
        return true;
    }
    const char *text = cJSON_IsString(value) ? value->valuestring : NULL;
    char number[64];
    if (!text && cJSON_IsNumber(value))
        text = json_number_text(value, number, sizeof number);
    if (!text && cJSON_IsBool(value))
        text = cJSON_IsTrue(value) ? "true" : "false";
    if (!text) {
        parser_fail(t->parser, node->pos, "Query parameter '%s' has no scalar value", node->text);
        return false;
    }
    struct bound_param param = {.kind = PARAM_TEXT};
    if (strcasecmp(type_name, "INT64") == 0 || strcasecmp(type_name, "INTEGER") == 0) {
        bool range;
        param.kind = PARAM_INT;
        node->type = FIELD_INTEGER;
        if (!text_to_int64(text, &param.int_value, &range)) {
            parser_fail(t->parser, node->pos, "Query parameter '%s' is not an INT64: %s",
                        node->text, text);
            return false;
        }
    } else if (strcasecmp(type_name, "FLOAT64") == 0 || strcasecmp(type_name, "FLOAT") == 0 ||
               strcasecmp(type_name, "NUMERIC") == 0) {
        param.kind = PARAM_FLOAT;
        param.float_value = strtod(text, NULL);
        node->type = FIELD_FLOAT;
    } else if (strcasecmp(type_name, "BOOL") == 0 || strcasecmp(type_name, "BOOLEAN") == 0) {
        param.kind = PARAM_INT;
        param.int_value = strcasecmp(text, "true") == 0;
        node->type = FIELD_BOOLEAN;
    } else if (strcasecmp(type_name, "TIMESTAMP") == 0) {
        int64_t micros;
        if (!timestamp_parse(text, &micros)) {
            parser_fail(t->parser, node->pos, "Query parameter '%s' is not a TIMESTAMP: %s",
                        node->text, text);
            return false;
        }
        char canonical[TIMESTAMP_TEXT_SIZE];
        timestamp_format(micros, canonical);
        param.text = xstrdup(canonical);
        node->type = FIELD_TIMESTAMP;
    } else {
        param.text = xstrdup(text);
        node->type = FIELD_STRING;
    }
    add_param(t, out, param);
    return true;
}

static bool emit_call(struct translation *t, struct node *node, struct strbuf *out) {
    const char *name = node->text;
    bool aggregate = is_aggregate_name(name);
    if (aggregate && t->clause == CLAUSE_WHERE) {
        parser_fail(t->parser, node->pos, "Aggregate function %s not allowed in WHERE clause",
                    name);
        return false;
    }
    if (aggregate && t->aggregate_depth > 0) {
        parser_fail(t->parser, node->pos, "Aggregations of aggregations are not allowed");
        return false;
    }
    if (aggregate && t->clause == CLAUSE_GROUP) {
        parser_fail(t->parser, node->pos, "Cannot GROUP BY an aggregate function %s", name);
        return false;
    }
    size_t n = node->arg_count;
    bool star = n == 1 && node->args[0]->kind == NODE_STAR;
    if (star && strcmp(name, "COUNT") != 0) {
        parser_fail(t->parser, node->pos, "Only COUNT accepts *");
        return false;
    }
    if (star && node->distinct) {
        parser_fail(t->parser, node->pos, "Syntax error: COUNT(DISTINCT *) is not valid");
        return false;
    }
    bool ok = true;
    t->aggregate_depth += aggregate;
    if (strcmp(name, "COUNT") == 0 && star) {
        strbuf_puts(out, "COUNT(*)");
        node->type = FIELD_INTEGER;
    } else if (aggregate && n != 1) {
        parser_fail(t->parser, node->pos, "Function %s expects one argument", name);
        ok = false;
    } else if (strcmp(name, "COUNTIF") == 0) {
        strbuf_puts(out, "COUNT(CASE WHEN (");
        ok = emit(t, node->args[0], out);
        strbuf_puts(out, ") THEN 1 END)");
        node->type = FIELD_INTEGER;
    } else if (aggregate) {
        const char *sqlite_name = strcmp(name, "ANY_VALUE") == 0 ? "MIN" : name;
        strbuf_printf(out, "%s(%s", sqlite_name, node->distinct ? "DISTINCT " : "");
        ok = emit(t, node->args[0], out);
        strbuf_puts(out, ")");
        enum field_type arg = node->args[0]->type;
        if (strcmp(name, "COUNT") == 0)
            node->type = FIELD_INTEGER;
        else if (strcmp(name, "AVG") == 0)
            node->type = FIELD_FLOAT;
        else if (strcmp(name, "SUM") == 0)
            node->type = arg == FIELD_INTEGER ? FIELD_INTEGER : FIELD_FLOAT;
        else
            node->type = arg;
    } else if (strcmp(name, "LOWER") == 0 || strcmp(name, "UPPER") == 0) {
        if (n != 1) {
            parser_fail(t->parser, node->pos, "Function %s expects one argument", name);
            ok = false;
        } else {
            strbuf_printf(out, "%s(", name);
            ok = emit(t, node->args[0], out);
            strbuf_puts(out, ")");
            node->type = FIELD_STRING;
        }
    } else if (strcmp(name, "COALESCE") == 0 || strcmp(name, "IFNULL") == 0) {
        if (n < 2 || (strcmp(name, "IFNULL") == 0 && n != 2)) {
            parser_fail(t->parser, node->pos, "Function %s expects %s arguments", name,
                        strcmp(name, "IFNULL") == 0 ? "two" : "at least two");
            ok = false;
        } else {
            strbuf_puts(out, "COALESCE(");
            for (size_t i = 0; i < n && ok; i++) {
                if (i)
                    strbuf_puts(out, ", ");
                ok = emit(t, node->args[i], out);
            }
            strbuf_puts(out, ")");
            node->type = node->args[0]->type;
        }
    } else {
        parser_fail(t->parser, node->pos, "Function not found: %s; " QUERY_SUPPORTED, name);
        ok = false;
    }
    t->aggregate_depth -= aggregate;
    return ok;
}

static bool emit(struct translation *t, struct node *node, struct strbuf *out) {
    if (t->parser->failed)
        return false;
    /* select-list aliases named in GROUP BY, HAVING and ORDER BY */
    struct select_item *aliased = alias_target(t, node);
    if (aliased)
        return emit_item_expression(t, aliased, node, out);
    switch (node->kind) {
    case NODE_COLUMN:
        return emit_column(t, node, out);
    case NODE_INT:
        node->type = FIELD_INTEGER;
        add_param(t, out, (struct bound_param){.kind = PARAM_INT, .int_value = node->int_value});
        return true;
    case NODE_FLOAT:
        node->type = FIELD_FLOAT;
        add_param(t, out,
                  (struct bound_param){.kind = PARAM_FLOAT, .float_value = node->float_value});
        return true;
    case NODE_STRING:
    case NODE_TIMESTAMP:
        node->type = node->kind == NODE_STRING ? FIELD_STRING : FIELD_TIMESTAMP;
        add_param(t, out, (struct bound_param){.kind = PARAM_TEXT, .text = xstrdup(node->text)});
        return true;
    case NODE_BOOL:
        node->type = FIELD_BOOLEAN;
        strbuf_puts(out, node->bool_value ? "1" : "0");
        return true;
    case NODE_NULL:
        node->type = FIELD_INTEGER;
        strbuf_puts(out, "NULL");
        return true;
    case NODE_PARAM:
        return emit_param(t, node, out);
    case NODE_STAR:
        parser_fail(t->parser, node->pos, "Unsupported: * outside COUNT(*)");
        return false;
    case NODE_CALL:
        return emit_call(t, node, out);
    case NODE_BINARY: {
        const char *op = node->text;
        bool arithmetic = strchr("+-*/", op[0]) && op[1] == '\0';
        strbuf_puts(out, "(");
        if (strcmp(op, "/") == 0)
            strbuf_puts(out, "CAST(");
        bool ok = emit(t, node->args[0], out);
        if (strcmp(op, "/") == 0)
            strbuf_puts(out, " AS REAL)");
        strbuf_printf(out, " %s ", op);
        ok = ok && emit(t, node->args[1], out);
        strbuf_puts(out, ")");
        if (strcmp(op, "||") == 0)
            node->type = FIELD_STRING;
        else if (arithmetic)
            node->type = op[0] != '/' && node->args[0]->type == FIELD_INTEGER &&
                                 node->args[1]->type == FIELD_INTEGER
                             ? FIELD_INTEGER
                             : FIELD_FLOAT;
        else
            node->type = FIELD_BOOLEAN;
        return ok;
    }
    case NODE_NOT:
    case NODE_NEGATE: {
        strbuf_puts(out, node->kind == NODE_NOT ? "(NOT " : "(-");
        bool ok = emit(t, node->args[0], out);
        strbuf_puts(out, ")");
        node->type = node->kind == NODE_NOT ? FIELD_BOOLEAN : node->args[0]->type;
        return ok;
    }
    case NODE_IS_NULL: {
        strbuf_puts(out, "(");
        bool ok = emit(t, node->args[0], out);
        strbuf_puts(out, node->negated ? " IS NOT NULL)" : " IS NULL)");
        node->type = FIELD_BOOLEAN;
        return ok;
    }
    case NODE_IN:
    case NODE_BETWEEN:
    case NODE_LIKE: {
        strbuf_puts(out, "(");
        bool ok = emit(t, node->args[0], out);
        strbuf_printf(out, "%s %s ", node->negated ? " NOT" : "", node->text);
        if (node->kind == NODE_IN) {
            strbuf_puts(out, "(");
            for (size_t i = 1; i < node->arg_count && ok; i++) {
                if (i > 1)
                    strbuf_puts(out, ", ");
                ok = emit(t, node->args[i], out);
            }
            strbuf_puts(out, ")");
        } else if (node->kind == NODE_BETWEEN) {
            ok = ok && emit(t, node->args[1], out);
            strbuf_puts(out, " AND ");
            ok = ok && emit(t, node->args[2], out);
        } else {
            ok = ok && emit(t, node->args[1], out);
        }
        strbuf_puts(out, ")");
        node->type = FIELD_BOOLEAN;
        return ok;
    }
    }
    return false;
}

/* BigQuery refuses select items that are neither grouped nor aggregated. */
static bool check_grouped(struct translation *t, struct node *node) {
    switch (node->kind) {
    case NODE_CALL:
        if (is_aggregate_name(node->text))
            return true;
        break;
    case NODE_COLUMN: {
        struct strbuf sql;
        strbuf_init(&sql);
        enum clause saved = t->clause;
        t->clause = CLAUSE_SELECT;
        bool ok = emit_column(t, node, &sql);
        t->clause = saved;
        bool grouped = false;
        for (size_t i = 0; ok && i < t->group_column_count && !grouped; i++)
            grouped = strcmp(sql.data, t->group_columns[i]) == 0;
        strbuf_free(&sql);
        if (ok && !grouped)
            parser_fail(t->parser, node->pos,
                        "SELECT list expression references column %s which is neither grouped"
                        " nor aggregated",
                        node->text);
        return ok && grouped;
    }
    default:
        break;
    }
    for (size_t i = 0; i < node->arg_count; i++)
        if (!check_grouped(t, node->args[i]))
            return false;
    return true;
}

/* The column a GROUP BY term stands for (through ordinals and aliases), if any. */
static struct node *group_term_column(struct translation *t, struct node *term) {
    if (term->kind == NODE_INT && term->int_value >= 1 &&
        (size_t)term->int_value <= t->stmt->item_count)
        term = t->stmt->items[term->int_value - 1].expr;
    else {
        struct select_item *aliased = alias_target(t, term);
        if (aliased)
            term = aliased->expr;
    }
    return term->kind == NODE_COLUMN ? term : NULL;
}

/* A GROUP BY or ORDER BY term: a top-level integer literal is a select-list ordinal. */
static bool emit_term(struct translation *t, struct node *term, struct strbuf *out) {
    if (term->kind != NODE_INT)
        return emit(t, term, out);
    if (term->int_value < 1 || (size_t)term->int_value > t->stmt->item_count) {
        parser_fail(t->parser, term->pos, "%s BY column number %lld is out of range",
                    t->clause == CLAUSE_GROUP ? "GROUP" : "ORDER", (long long)term->int_value);
        return false;
    }
    return emit_item_expression(t, &t->stmt->items[term->int_value - 1], term, out);
}

static bool translate(struct translation *t, struct strbuf *sql) {
    const struct select_statement *stmt = t->stmt;
    strbuf_puts(sql, stmt->distinct ? "SELECT DISTINCT " : "SELECT ");
    bool aggregated = stmt->group_count > 0;
    for (size_t i = 0; i < stmt->item_count; i++) {
        t->clause = CLAUSE_SELECT;
        if (i)
            strbuf_puts(sql, ", ");
        if (!emit(t, stmt->items[i].expr, sql))
            return false;
        aggregated |= contains_aggregate(stmt->items[i].expr);
    }
    strbuf_puts(sql, " FROM bq_rows WHERE table_id = ?1");
    if (stmt->where) {
        t->clause = CLAUSE_WHERE;
        strbuf_puts(sql, " AND (");
        if (!emit(t, stmt->where, sql))
            return false;
        strbuf_puts(sql, ")");
    }
    if (stmt->group_count) {
        t->clause = CLAUSE_GROUP;
        strbuf_puts(sql, " GROUP BY ");
        for (size_t i = 0; i < stmt->group_count; i++) {
            if (i)
                strbuf_puts(sql, ", ");
            if (!emit_term(t, stmt->group_by[i], sql))
                return false;
            struct node *column = group_term_column(t, stmt->group_by[i]);
            if (column) {
                struct strbuf text;
                strbuf_init(&text);
                enum clause saved = t->clause;
                t->clause = CLAUSE_SELECT;
                emit_column(t, column, &text);
                t->clause = saved;
                t->group_columns = xrealloc(t->group_columns,
                                            (t->group_column_count + 1) * sizeof *t->group_columns);
                t->group_columns[t->group_column_count++] = strbuf_take(&text, NULL);
            }
        }
    }
    if (aggregated) {
        t->clause = CLAUSE_SELECT;
        for (size_t i = 0; i < stmt->item_count; i++)
            if (!check_grouped(t, stmt->items[i].expr))
                return false;
    }
    if (stmt->having) {
        t->clause = CLAUSE_HAVING;
        strbuf_puts(sql, " HAVING ");
        if (!emit(t, stmt->having, sql))
            return false;
    }
    if (stmt->order_count) {
        t->clause = CLAUSE_ORDER;
        strbuf_puts(sql, " ORDER BY ");
        for (size_t i = 0; i < stmt->order_count; i++) {
            if (i)
                strbuf_puts(sql, ", ");
            if (!emit_term(t, stmt->order_by[i].expr, sql))
                return false;
            /* BigQuery sorts NULLs first ascending and last descending, as SQLite does */
            strbuf_puts(sql, stmt->order_by[i].descending ? " DESC" : " ASC");
        }
    }
    if (stmt->limit >= 0)
        strbuf_printf(sql, " LIMIT %lld OFFSET %lld", (long long)stmt->limit,
                      (long long)stmt->offset);
    return true;
}

static void translation_free(struct translation *t) {
    for (size_t i = 0; i < t->param_count; i++)
        free(t->params[i].text);
    free(t->params);
    for (size_t i = 0; i < t->group_column_count; i++)
        free(t->group_columns[i]);
    free(t->group_columns);
}

/* ---- execution ---------------------------------------------------------------- */

struct result_page {
    struct translation *t;
    size_t column_count;
    enum field_type *types;
    cJSON *rows;
    int64_t start;
    int64_t limit;
    int64_t seen;
};

static bool bind_params(void *ctx, sqlite3_stmt *stmt) {
    struct result_page *page = ctx;
    struct translation *t = page->t;
    sqlite3_bind_int64(stmt, 1, t->table_id);
    for (size_t i = 0; i < t->param_count; i++) {
        int index = (int)i + 2;
        const struct bound_param *param = &t->params[i];
        int rc = param->kind == PARAM_INT     ? sqlite3_bind_int64(stmt, index, param->int_value)
                 : param->kind == PARAM_FLOAT ? sqlite3_bind_double(stmt, index, param->float_value)
                 : param->kind == PARAM_TEXT
                     ? sqlite3_bind_text(stmt, index, param->text, -1, SQLITE_TRANSIENT)
                     : sqlite3_bind_null(stmt, index);
        if (rc != SQLITE_OK)
            return false;
    }
    return true;
}

static cJSON *result_value(sqlite3_stmt *stmt, int column, enum field_type type) {
    int kind = sqlite3_column_type(stmt, column);
    if (kind == SQLITE_NULL)
        return cJSON_CreateNull();
    char text[TIMESTAMP_TEXT_SIZE + 64];
    switch (type) {
    case FIELD_INTEGER:
        if (kind == SQLITE_INTEGER) {
            snprintf(text, sizeof text, "%lld", (long long)sqlite3_column_int64(stmt, column));
            return cJSON_CreateString(text);
        }
        if (kind == SQLITE_FLOAT) {
            double d = sqlite3_column_double(stmt, column);
            if (d == floor(d) && fabs(d) < 9.2e18)
                snprintf(text, sizeof text, "%lld", (long long)d);
            else
                double_to_text(d, text, sizeof text);
            return cJSON_CreateString(text);
        }
        break;
    case FIELD_FLOAT:
        if (kind == SQLITE_INTEGER || kind == SQLITE_FLOAT) {
            double_to_text(sqlite3_column_double(stmt, column), text, sizeof text);
            return cJSON_CreateString(text);
        }
        break;
    case FIELD_BOOLEAN:
        if (kind == SQLITE_INTEGER)
            return cJSON_CreateString(sqlite3_column_int64(stmt, column) ? "true" : "false");
        break;
    case FIELD_TIMESTAMP: {
        int64_t micros;
        const char *value = (const char *)sqlite3_column_text(stmt, column);
        if (kind == SQLITE_TEXT && timestamp_parse(value, &micros)) {
            timestamp_format_seconds(micros, text);
            return cJSON_CreateString(text);
        }
        break;
    }
    default:
        break;
    }
    return cJSON_CreateString((const char *)sqlite3_column_text(stmt, column));
}

static bool collect_row(void *ctx, sqlite3_stmt *stmt) {
    struct result_page *page = ctx;
    int64_t index = page->seen++;
    if (index < page->start || index >= page->start + page->limit)
        return true; /* keep counting totalRows */
    cJSON *row = cJSON_CreateObject();
    cJSON *cells = cJSON_AddArrayToObject(row, "f");
    for (size_t i = 0; i < page->column_count; i++) {
        cJSON *cell = cJSON_CreateObject();
        cJSON_AddItemToObject(cell, "v", result_value(stmt, (int)i, page->types[i]));
        cJSON_AddItemToArray(cells, cell);
    }
    cJSON_AddItemToArray(page->rows, row);
    return true;
}

static void add_job_reference(cJSON *root, const struct query_job *job) {
    cJSON *ref = cJSON_AddObjectToObject(root, "jobReference");
    cJSON_AddStringToObject(ref, "projectId", job->project);
    cJSON_AddStringToObject(ref, "jobId", job->id);
    cJSON_AddStringToObject(ref, "location", "US");
}

static void query_error(struct http_reply *reply, const char *message) {
    reply_error_at(reply, 400, "invalidQuery", "q", "parameter", message);
}

/* Parses, translates and runs `job`, answering with rows [start, start+limit). */
static void run_query(struct emulator *emu, struct http_reply *reply, const struct query_job *job,
                      int64_t start, int64_t limit, const char *kind) {
    struct parser parser = {.sql = job->query};
    struct select_statement stmt;
    memset(&stmt, 0, sizeof stmt);
    struct translation t = {.parser = &parser, .stmt = &stmt};
    struct bigquery_table table = {0};
    struct strbuf sql;
    strbuf_init(&sql);
    cJSON *params = job->parameters ? cJSON_Parse(job->parameters) : NULL;
    t.query_params = params;
    if (!tokenize(&parser) || !parse_select(&parser, &stmt)) {
        query_error(reply, parser.error);
        goto out;
    }
    const char *project = job->default_project ? job->default_project : job->project;
    const char *dataset = job->default_dataset;
    const char *name = stmt.table_path[stmt.table_path_count - 1];
    if (stmt.table_path_count == 3) {
        project = stmt.table_path[0];
        dataset = stmt.table_path[1];
    } else if (stmt.table_path_count == 2) {
        dataset = stmt.table_path[0];
    }
    if (!dataset) {
        char message[1200];
        snprintf(
            message, sizeof message,
            "Table name \"%s\" missing dataset while no default dataset is set in the request.",
            name);
        query_error(reply, message);
        goto out;
    }
    if (!bigquery_table_load(emu, reply, project, dataset, name, &table)) {
        if (reply->status == 404) {
            reply_clear(reply);
            reply_error(reply, 404, "notFound",
                        "Not found: Table %s:%s.%s was not found in location US", project, dataset,
                        name);
        }
        goto out;
    }
    t.schema = &table.schema;
    t.table_name = name;
    t.table_id = table.record.id;
    t.meta_location = schema_metadata_location(&table.schema, &t.meta_holder);
    if (!translate(&t, &sql)) {
        query_error(reply, parser.error[0] ? parser.error : "Unsupported query");
        goto out;
    }
    struct result_page page = {
        .t = &t,
        .column_count = stmt.item_count,
        .types = xcalloc(stmt.item_count, sizeof(enum field_type)),
        .rows = cJSON_CreateArray(),
        .start = start,
        .limit = limit,
    };
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", kind);
    cJSON *fields = cJSON_AddArrayToObject(cJSON_AddObjectToObject(root, "schema"), "fields");
    int anonymous = 0;
    for (size_t i = 0; i < stmt.item_count; i++) {
        const struct select_item *item = &stmt.items[i];
        page.types[i] = item->expr->type;
        char generated[32];
        const char *column_name = item->alias;
        if (!column_name && item->expr->kind == NODE_COLUMN) {
            const char *dot = strrchr(item->expr->text, '.');
            column_name = dot ? dot + 1 : item->expr->text;
        }
        if (!column_name) {
            snprintf(generated, sizeof generated, "f%d_", anonymous++);
            column_name = generated;
        }
        cJSON *field = cJSON_CreateObject();
        cJSON_AddStringToObject(field, "name", column_name);
        cJSON_AddStringToObject(field, "type", field_type_name(item->expr->type));
        cJSON_AddStringToObject(field, "mode", "NULLABLE");
        cJSON_AddItemToArray(fields, field);
    }
    char err[512];
    if (store_query(emu->store, sql.data, bind_params, collect_row, &page, err, sizeof err) !=
        STORE_OK) {
        char message[800];
        snprintf(message, sizeof message, "Query failed in the emulator's SQLite translation: %s",
                 err);
        query_error(reply, message);
        cJSON_Delete(root);
        cJSON_Delete(page.rows);
        free(page.types);
        goto out;
    }
    add_job_reference(root, job);
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)page.seen);
    cJSON_AddStringToObject(root, "totalRows", text);
    if (cJSON_GetArraySize(page.rows) > 0)
        cJSON_AddItemToObject(root, "rows", page.rows);
    else
        cJSON_Delete(page.rows);
    if (start + limit < page.seen) {
        snprintf(text, sizeof text, "%lld", (long long)(start + limit));
        cJSON_AddStringToObject(root, "pageToken", text);
    }
    cJSON_AddStringToObject(root, "totalBytesProcessed", "0");
    cJSON_AddBoolToObject(root, "jobComplete", true);
    cJSON_AddBoolToObject(root, "cacheHit", false);
    free(page.types);
    reply_json(reply, 200, root);
out:
    cJSON_Delete(params);
    strbuf_free(&sql);
    translation_free(&t);
    bigquery_table_release(&table);
    select_free(&stmt);
    parser_free(&parser);
}

static int64_t page_limit(const char *text) {
    int64_t limit = text ? atoll(text) : QUERY_MAX_PAGE;
    return limit <= 0 || limit > QUERY_MAX_PAGE ? QUERY_MAX_PAGE : limit;
}

void query_handle(struct http_request *req, struct http_reply *reply, const char *project) {
    struct emulator *emu = req->emu;
    STAT_ADD(emu, queries, 1);
    cJSON *body = request_body_json(req, reply);
    if (!body)
        return;
    const cJSON *query = cJSON_GetObjectItemCaseSensitive(body, "query");
    const cJSON *legacy = cJSON_GetObjectItemCaseSensitive(body, "useLegacySql");
    struct query_job job = {0};
    if (!cJSON_IsString(query) || query->valuestring[0] == '\0') {
        reply_error(reply, 400, "invalid", "Required parameter is missing: query");
        goto out;
    }
    const char *text = query->valuestring;
    while (isspace((unsigned char)*text))
        text++;
    bool standard_prefix = strncasecmp(text, "#standardSQL", 12) == 0;
    if (!standard_prefix && !cJSON_IsFalse(legacy)) {
        query_error(reply, "The emulator runs GoogleSQL only: set \"useLegacySql\": false"
                           " (the BigQuery API defaults to legacy SQL when it is absent)");
        goto out;
    }
    const cJSON *dry_run = cJSON_GetObjectItemCaseSensitive(body, "dryRun");
    if (cJSON_IsTrue(dry_run)) {
        reply_error(reply, 400, "invalid", "dryRun is not supported by the emulator");
        goto out;
    }
    const cJSON *defaults = cJSON_GetObjectItemCaseSensitive(body, "defaultDataset");
    const cJSON *default_project = cJSON_GetObjectItemCaseSensitive(defaults, "projectId");
    const cJSON *default_dataset = cJSON_GetObjectItemCaseSensitive(defaults, "datasetId");
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "queryParameters");
    char *id = random_hex(12);
    struct strbuf job_id;
    strbuf_init(&job_id);
    strbuf_printf(&job_id, "job_%s", id);
    free(id);
    job.id = strbuf_take(&job_id, NULL);
    job.project = xstrdup(project);
    job.query = xstrdup(query->valuestring);
    job.default_project =
        cJSON_IsString(default_project) ? xstrdup(default_project->valuestring) : NULL;
    job.default_dataset =
        cJSON_IsString(default_dataset) ? xstrdup(default_dataset->valuestring) : NULL;
    job.parameters = cJSON_IsArray(params) ? cJSON_PrintUnformatted(params) : NULL;
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(body, "maxResults");
    int64_t limit =
        cJSON_IsNumber(max) && max->valuedouble > 0 ? (int64_t)max->valuedouble : QUERY_MAX_PAGE;
    if (limit > QUERY_MAX_PAGE)
        limit = QUERY_MAX_PAGE;
    run_query(emu, reply, &job, 0, limit, "bigquery#queryResponse");
    if (reply->status == 200)
        query_jobs_remember(emu->jobs, &job);
out:
    query_job_clear(&job);
    cJSON_Delete(body);
}

void query_results(struct http_request *req, struct http_reply *reply, const char *project,
                   const char *job_id) {
    struct query_job job = {0};
    if (!query_jobs_find(req->emu->jobs, project, job_id, &job)) {
        reply_error(reply, 404, "notFound", "Not found: Job %s:%s", project, job_id);
        return;
    }
    const char *token = request_query(req, "pageToken");
    const char *start_index = request_query(req, "startIndex");
    int64_t start = token ? atoll(token) : start_index ? atoll(start_index) : 0;
    if (start < 0)
        start = 0;
    run_query(req->emu, reply, &job, start, page_limit(request_query(req, "maxResults")),
              "bigquery#getQueryResultsResponse");
    query_job_clear(&job);
}

void query_job_get(struct http_request *req, struct http_reply *reply, const char *project,
                   const char *job_id) {
    struct query_job job = {0};
    if (!query_jobs_find(req->emu->jobs, project, job_id, &job)) {
        reply_error(reply, 404, "notFound", "Not found: Job %s:%s", project, job_id);
        return;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kind", "bigquery#job");
    char text[512];
    snprintf(text, sizeof text, "%s:US.%s", project, job_id);
    cJSON_AddStringToObject(root, "id", text);
    add_job_reference(root, &job);
    cJSON *query = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "configuration"), "query");
    cJSON_AddStringToObject(query, "query", job.query);
    cJSON_AddBoolToObject(query, "useLegacySql", false);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "status"), "state", "DONE");
    reply_json(reply, 200, root);
    query_job_clear(&job);
}

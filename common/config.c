#define _GNU_SOURCE
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/httpd.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/timeutil.h"

#define X(id, name, type, def, choices, progs, flags, help)                                        \
    [OPT_##id] = {name, type, def, choices, progs, flags, help},
const struct opt_def opt_defs[OPT__COUNT] = {BLOTTER_OPTIONS(X)};
#undef X

enum source { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV, SRC_CLI };

struct config {
    unsigned prog;
    const char *prog_name;
    const char *summary;
    char *value[OPT__COUNT];
    enum source source[OPT__COUNT];
    int problems;
    FILE *err;
};

static const char *source_names[] = {"default", "file", "env", "flag"};

struct config *config_new(unsigned prog, const char *prog_name, const char *summary)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        return NULL;
    }
    cfg->prog = prog;
    cfg->prog_name = prog_name;
    cfg->summary = summary;
    for (int i = 0; i < OPT__COUNT; i++) {
        cfg->value[i] = strdup(opt_defs[i].def);
        if (!cfg->value[i]) {
            config_destroy(cfg);
            return NULL;
        }
    }
    return cfg;
}

void config_destroy(struct config *cfg)
{
    if (!cfg) {
        return;
    }
    for (int i = 0; i < OPT__COUNT; i++) {
        free(cfg->value[i]);
    }
    free(cfg);
}

/* A problem with the settings, on stderr: through the secrets' mask (a bad value may be one). */
__attribute__((format(printf, 2, 3))) static void problem(struct config *cfg, const char *fmt, ...)
{
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_mask_secrets(msg);
    fprintf(cfg->err, "%s: %s\n", cfg->prog_name, msg);
    cfg->problems++;
}

static void env_name(const struct opt_def *d, char *buf, size_t n, const char *suffix)
{
    size_t o = (size_t)snprintf(buf, n, "BLOTTER_");
    for (const char *p = d->name; *p && o + 1 < n; p++) {
        buf[o++] = (char)toupper((unsigned char)*p);
    }
    buf[o] = '\0';
    if (suffix) {
        strncat(buf, suffix, n - strlen(buf) - 1);
    }
}

static void flag_name(const struct opt_def *d, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "--");
    for (const char *p = d->name; *p && o + 1 < n; p++) {
        buf[o++] = *p == '_' ? '-' : *p;
    }
    buf[o] = '\0';
}

static int find_by_name(const char *name, size_t len)
{
    for (int i = 0; i < OPT__COUNT; i++) {
        if (strlen(opt_defs[i].name) == len && strncmp(opt_defs[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Set a value. A list option given several times on the command line accumulates. */
static void set_value(struct config *cfg, int id, const char *v, enum source src)
{
    char *nv;
    /* Masked from the moment it is known, in every form (secret.h); a setting that is not a
     * secret may still carry credentials (a base URL with user:password@). */
    if (opt_defs[id].flags & F_SECRET) {
        secret_register(v);
    } else {
        secret_register_credentials(v);
    }
    if ((opt_defs[id].flags & F_LIST) && src == SRC_CLI && cfg->source[id] == SRC_CLI &&
        *cfg->value[id]) {
        if (asprintf(&nv, "%s,%s", cfg->value[id], v) < 0) {
            nv = NULL;
        }
    } else {
        nv = strdup(v);
    }
    if (!nv) {
        problem(cfg, "out of memory");
        return;
    }
    free(cfg->value[id]);
    cfg->value[id] = nv;
    cfg->source[id] = src;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) {
        *--e = '\0';
    }
    return s;
}

/* A secret file's content, or NULL after reporting the problem. */
static char *read_secret_file(struct config *cfg, const char *what, const char *path)
{
    char why[512];
    char *value = secret_read_file(path, why, sizeof(why));
    if (!value) {
        problem(cfg, "%s: %s", what, why);
    }
    return value;
}

static void load_file(struct config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int lineno = 0;
    if (!f) {
        problem(cfg, "config file %s: %s", path, strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            problem(cfg, "%s:%d: expected key = value", path, lineno);
            continue;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        size_t klen = strlen(key);
        bool is_file = klen > 5 && strcmp(key + klen - 5, "_file") == 0;
        int id = find_by_name(key, is_file ? klen - 5 : klen);
        if (id < 0 || (is_file && !(opt_defs[id].flags & F_SECRET)) ||
            (opt_defs[id].flags & F_CLI) || id == OPT_CONFIG) {
            problem(cfg, "%s:%d: unknown setting '%s'", path, lineno, key);
            continue;
        }
        if (is_file) {
            char *secret = read_secret_file(cfg, key, val);
            if (secret) {
                set_value(cfg, id, secret, SRC_FILE);
                free(secret);
            }
        } else {
            set_value(cfg, id, val, SRC_FILE);
        }
    }
    fclose(f);
}

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}

static void load_env(struct config *cfg, char **envp)
{
    char name[128];
    for (int i = 0; i < OPT__COUNT; i++) {
        const struct opt_def *d = &opt_defs[i];
        if ((d->flags & F_CLI) || i == OPT_CONFIG) {
            continue;
        }
        env_name(d, name, sizeof(name), NULL);
        const char *v = env_get(envp, name);
        if (v && *v) { /* empty means unset */
            set_value(cfg, i, v, SRC_ENV);
        }
        if (d->flags & F_SECRET) {
            env_name(d, name, sizeof(name), "_FILE");
            const char *path = env_get(envp, name);
            if (path && *path) {
                if (v && *v) {
                    problem(cfg, "both %.*s and %s are set; use one", (int)strlen(name) - 5, name,
                            name);
                    continue;
                }
                char *secret = read_secret_file(cfg, name, path);
                if (secret) {
                    set_value(cfg, i, secret, SRC_ENV);
                    free(secret);
                }
            }
        }
    }
}

static void print_help(const struct config *cfg, FILE *out)
{
    char flag[64], env[96];
    fprintf(out, "Usage: %s [options]\n\n%s\n\nOptions (flag / environment, default):\n",
            cfg->prog_name, cfg->summary);
    for (int i = 0; i < OPT__COUNT; i++) {
        const struct opt_def *d = &opt_defs[i];
        if (!(d->progs & cfg->prog)) {
            continue;
        }
        flag_name(d, flag, sizeof(flag));
        const char *arg = d->type == OPT_BOOL   ? ""
                          : d->type == OPT_INT  ? " N"
                          : d->type == OPT_TIME ? " ISO8601"
                                                : " VALUE";
        fprintf(out, "  %s%s\n", flag, arg);
        fprintf(out, "      %s", d->help);
        if (d->type == OPT_ENUM) {
            fprintf(out, " (%s)", d->choices);
        }
        if (!(d->flags & F_CLI) && i != OPT_CONFIG) {
            env_name(d, env, sizeof(env), NULL);
            fprintf(out, "\n      env %s%s", env, (d->flags & F_SECRET) ? " or ..._FILE" : "");
        } else if (i == OPT_CONFIG) {
            fprintf(out, "\n      env BLOTTER_CONFIG");
        }
        if (*d->def) {
            fprintf(out, "; default %s", d->def);
        }
        fputc('\n', out);
    }
    fprintf(out, "  --help\n      Print this help and exit\n"
                 "  --help-markdown\n      Print the settings as a Markdown table and exit\n\n"
                 "Exit codes: 0 done, 1 runtime failure, 2 bad usage or configuration.\n");
}

void config_print_markdown(FILE *out, unsigned prog)
{
    char flag[64], env[96];
    fprintf(out, "| setting | environment | flag | default | programs | meaning |\n"
                 "|---|---|---|---|---|---|\n");
    for (int i = 0; i < OPT__COUNT; i++) {
        const struct opt_def *d = &opt_defs[i];
        if (!(d->progs & prog)) {
            continue;
        }
        flag_name(d, flag, sizeof(flag));
        if (i == OPT_CONFIG) {
            snprintf(env, sizeof(env), "`BLOTTER_CONFIG`");
        } else if (d->flags & F_CLI) {
            snprintf(env, sizeof(env), "—");
        } else {
            char e[80];
            env_name(d, e, sizeof(e), NULL);
            snprintf(env, sizeof(env), "`%s`%s", e, (d->flags & F_SECRET) ? " (or `_FILE`)" : "");
        }
        char progs[48] = "";
        const char *names[] = {"producer", "consumer", "server", "dashboard"};
        for (int p = 0; p < 4; p++) {
            if (d->progs & (1u << p)) {
                snprintf(progs + strlen(progs), sizeof(progs) - strlen(progs), "%s%s",
                         *progs ? ", " : "", names[p]);
            }
        }
        fprintf(out, "| `%s` | %s | `%s` | %s%s%s | %s | %s", d->name, env, flag,
                *d->def ? "`" : "", *d->def ? d->def : "—", *d->def ? "`" : "", progs, d->help);
        if (d->type == OPT_ENUM) {
            /* A bare | would end the Markdown cell. */
            fputs(" (one of ", out);
            for (const char *c = d->choices; *c; c++) {
                fputs(*c == '|' ? ", " : (char[]){*c, 0}, out);
            }
            fputs(")", out);
        }
        if (d->type == OPT_INT && *d->choices) {
            fprintf(out, " (%s)", d->choices);
        }
        fprintf(out, " |\n");
    }
}

static void validate(struct config *cfg)
{
    for (int i = 0; i < OPT__COUNT; i++) {
        const struct opt_def *d = &opt_defs[i];
        const char *v = cfg->value[i];
        char where[128];
        snprintf(where, sizeof(where), "%s (from %s)", d->name, source_names[cfg->source[i]]);
        switch (d->type) {
        case OPT_INT: {
            char *end;
            long lo, hi;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (!*v || *end || errno) {
                problem(cfg, "%s: '%s' is not an integer", where, v);
            } else if (sscanf(d->choices, "%ld..%ld", &lo, &hi) == 2 && (n < lo || n > hi)) {
                problem(cfg, "%s: %ld is outside %ld..%ld", where, n, lo, hi);
            }
            break;
        }
        case OPT_BOOL:
            if (strcasecmp(v, "true") && strcasecmp(v, "false") && strcmp(v, "1") &&
                strcmp(v, "0") && strcasecmp(v, "yes") && strcasecmp(v, "no")) {
                problem(cfg, "%s: '%s' is not a boolean (true/false)", where, v);
            }
            break;
        case OPT_ENUM: {
            bool ok = false;
            size_t n = strlen(v);
            for (const char *c = d->choices; *c;) {
                const char *bar = strchr(c, '|');
                size_t len = bar ? (size_t)(bar - c) : strlen(c);
                if (len == n && strncasecmp(c, v, n) == 0) {
                    ok = true;
                }
                c += len + (bar ? 1 : 0);
            }
            if (!ok) {
                problem(cfg, "%s: '%s' is not one of %s", where, v, d->choices);
            }
            break;
        }
        case OPT_TIME:
            if (*v && iso8601_to_us(v) == TS_NULL) {
                problem(cfg, "%s: '%s' is not an ISO 8601 time", where, v);
            }
            break;
        case OPT_STRING:
            break;
        }
    }
}

enum config_result config_load(struct config *cfg, int argc, char **argv, char **envp, FILE *out,
                               FILE *err)
{
    char flag[64];
    const char *config_path = env_get(envp, "BLOTTER_CONFIG");

    cfg->err = err;
    cfg->problems = 0;

    /* First pass over argv: --help and --config, which decide what else is read. */
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            print_help(cfg, out);
            return CONFIG_EXIT_OK;
        }
        if (strcmp(argv[a], "--help-markdown") == 0) {
            config_print_markdown(out, cfg->prog);
            return CONFIG_EXIT_OK;
        }
        if (strcmp(argv[a], "--config") == 0 && a + 1 < argc) {
            config_path = argv[a + 1];
        } else if (strncmp(argv[a], "--config=", 9) == 0) {
            config_path = argv[a] + 9;
        }
    }
    if (config_path && *config_path) {
        set_value(cfg, OPT_CONFIG, config_path, SRC_CLI);
        load_file(cfg, config_path);
    }
    load_env(cfg, envp);

    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const char *eq = strchr(arg, '=');
        size_t alen = eq ? (size_t)(eq - arg) : strlen(arg);
        int id = -1;
        for (int i = 0; i < OPT__COUNT; i++) {
            flag_name(&opt_defs[i], flag, sizeof(flag));
            if ((opt_defs[i].progs & cfg->prog) && strlen(flag) == alen &&
                strncmp(flag, arg, alen) == 0) {
                id = i;
                break;
            }
        }
        if (id < 0) {
            problem(cfg, "unknown argument '%s' (see --help)", arg);
            continue;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (opt_defs[id].type == OPT_BOOL) {
            v = "true";
        } else if (a + 1 < argc) {
            v = argv[++a];
        } else {
            problem(cfg, "%s needs a value", arg);
            continue;
        }
        if (id != OPT_CONFIG) {
            set_value(cfg, id, v, SRC_CLI);
            /* Out of the process title (/proc/PID/cmdline shows argv as it is now). */
            if (opt_defs[id].flags & F_SECRET) {
                memset((char *)v, '*', strlen(v));
            } else {
                secret_url_mask_in_place((char *)v);
            }
        }
    }
    validate(cfg);
    if (cfg->problems) {
        fprintf(err, "%s: %d configuration problem%s; see --help\n", cfg->prog_name, cfg->problems,
                cfg->problems == 1 ? "" : "s");
        return CONFIG_EXIT_USAGE;
    }
    for (int i = 0; i < OPT__COUNT; i++) {
        /* This program's secrets only (others' defaults would crowd the masking table). */
        if ((opt_defs[i].flags & F_SECRET) && (opt_defs[i].progs & cfg->prog) && *cfg->value[i]) {
            secret_register(cfg->value[i]);
        }
    }
    return CONFIG_OK;
}

const char *config_str(const struct config *cfg, enum opt_id id)
{
    return cfg->value[id];
}

long config_int(const struct config *cfg, enum opt_id id)
{
    return strtol(cfg->value[id], NULL, 10);
}

bool config_bool(const struct config *cfg, enum opt_id id)
{
    const char *v = cfg->value[id];
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcasecmp(v, "yes") == 0;
}

int64_t config_time_us(const struct config *cfg, enum opt_id id)
{
    return *cfg->value[id] ? iso8601_to_us(cfg->value[id]) : TS_NULL;
}

bool config_is_set(const struct config *cfg, enum opt_id id)
{
    return cfg->source[id] != SRC_DEFAULT;
}

size_t config_list_len(const struct config *cfg, enum opt_id id)
{
    size_t n = 0;
    while (config_list_item(cfg, id, n)) {
        n++;
    }
    return n;
}

const char *config_list_item(const struct config *cfg, enum opt_id id, size_t n)
{
    static _Thread_local char item[256];
    const char *p = cfg->value[id];
    size_t i = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char)p[len - 1])) {
            len--;
        }
        if (len) {
            if (i == n) {
                snprintf(item, sizeof(item), "%.*s", (int)len, p);
                return item;
            }
            i++;
        }
        if (!comma) {
            break;
        }
        p = comma + 1;
    }
    return NULL;
}

void config_log(const struct config *cfg)
{
    for (int i = 0; i < OPT__COUNT; i++) {
        const struct opt_def *d = &opt_defs[i];
        if (!(d->progs & cfg->prog)) {
            continue;
        }
        const char *v = cfg->value[i];
        if ((d->flags & F_SECRET) && *v) {
            v = "<redacted>";
        }
        log_info("config", "key=%s value=%s source=%s", d->name, LQ(v),
                 source_names[cfg->source[i]]);
    }
}

void config_setup_log(const struct config *cfg, const char *program)
{
    enum log_level level = LOG_INFO;
    log_level_parse(config_str(cfg, OPT_LOG_LEVEL), &level);
    log_setup(level,
              strcmp(config_str(cfg, OPT_LOG_FORMAT), "json") == 0 ? LOG_FORMAT_JSON
                                                                   : LOG_FORMAT_LOGFMT,
              program);
}

int service_settings_load(struct service_settings *s, const struct config *cfg, const char *program,
                          FILE *err)
{
    char host[256];
    int port, problems = 0;
    snprintf(s->topic_prefix, sizeof(s->topic_prefix), "%s", config_str(cfg, OPT_TOPIC_PREFIX));
    s->brokers = config_str(cfg, OPT_KAFKA_BROKERS);
    s->http_listen = config_str(cfg, OPT_HTTP_LISTEN);
    s->topic_partitions = (int)config_int(cfg, OPT_TOPIC_PARTITIONS);
    s->topic_replication = (int)config_int(cfg, OPT_TOPIC_REPLICATION);
    s->schema_registry_id = (int)config_int(cfg, OPT_SCHEMA_REGISTRY_ID);
    s->backoff_ms = config_int(cfg, OPT_BACKOFF_MS);
    s->backoff_max_ms = config_int(cfg, OPT_BACKOFF_MAX_MS);
    if (*s->http_listen && httpd_parse_listen(s->http_listen, host, sizeof(host), &port) != 0) {
        fprintf(err, "%s: http_listen '%s' is not host:port\n", program, s->http_listen);
        problems++;
    }
    return problems;
}

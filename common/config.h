/* Configuration: defaults, then an optional settings file, then BLOTTER_* environment variables,
 * then command-line flags. Every option is declared once in options.h. */
#ifndef BLOTTER_CONFIG_H
#define BLOTTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef BLOTTER_DEFAULT_CITIES_DIR
#define BLOTTER_DEFAULT_CITIES_DIR "producers/cities"
#endif

enum opt_type { OPT_STRING, OPT_INT, OPT_BOOL, OPT_ENUM, OPT_TIME };

enum { P_PRODUCER = 1, P_CONSUMER = 2, P_SERVER = 4, P_DASHBOARD = 8, P_ALL = 15 };
enum { F_SECRET = 1, F_LIST = 2, F_CLI = 4 };

#include "common/options.h"

#define X(id, ...) OPT_##id,
enum opt_id { BLOTTER_OPTIONS(X) OPT__COUNT };
#undef X

struct opt_def {
    const char *name;
    enum opt_type type;
    const char *def;
    const char *choices;
    unsigned progs;
    unsigned flags;
    const char *help;
};

extern const struct opt_def opt_defs[OPT__COUNT];

struct config;

/* A configuration for one program (P_PRODUCER, P_CONSUMER, P_SERVER or P_DASHBOARD), holding the
 * defaults. */
struct config *config_new(unsigned prog, const char *prog_name, const char *summary);
void config_destroy(struct config *cfg);

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK, CONFIG_EXIT_USAGE };

/* Apply file, environment (envp, NULL-terminated) and argv in that order, then validate. Every
 * problem is printed to err; nothing else is done (no I/O besides reading the settings and
 * secret files). CONFIG_EXIT_OK: --help or --help-markdown was printed to out. */
enum config_result config_load(struct config *cfg, int argc, char **argv, char **envp, FILE *out,
                               FILE *err);

const char *config_str(const struct config *cfg, enum opt_id id);
long config_int(const struct config *cfg, enum opt_id id);
bool config_bool(const struct config *cfg, enum opt_id id);
/* OPT_TIME: microseconds since the epoch (UTC), or INT64_MIN when unset. */
int64_t config_time_us(const struct config *cfg, enum opt_id id);
/* F_LIST options: the n-th item (0-based) or NULL past the end. */
const char *config_list_item(const struct config *cfg, enum opt_id id, size_t n);
size_t config_list_len(const struct config *cfg, enum opt_id id);
bool config_is_set(const struct config *cfg, enum opt_id id);

/* The settings every long-running program shares (producer and consumer), typed. Strings are
 * borrowed from cfg, which must outlive them. */
struct service_settings {
    char topic_prefix[200];
    const char *brokers, *http_listen;
    int topic_partitions, topic_replication, schema_registry_id;
    long backoff_ms, backoff_max_ms;
};

/* Fill s from a loaded configuration. Returns the number of problems, each printed to err as
 * "<program>: ..." (a malformed http_listen). */
int service_settings_load(struct service_settings *s, const struct config *cfg, const char *program,
                          FILE *err);

/* Set up logging from the log_level and log_format settings. */
void config_setup_log(const struct config *cfg, const char *program);

/* Log the effective configuration at info level; secrets show as <redacted>. */
void config_log(const struct config *cfg);

/* Print the options of prog (or of every program when prog is P_ALL) as a Markdown table. */
void config_print_markdown(FILE *out, unsigned prog);

#endif

/* Settings (common/config.c): a settings file and BLOTTER_* environment lines, for each program.
 * The input is the file's text, a NUL byte, then environment entries one per line; the first
 * byte picks the program. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "tests/fuzz/fuzz.h"

static char path[64];
static FILE *devnull;

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "/tmp/blotter-fuzz-config-%ld.conf", (long)getpid());
    atexit(remove_file);
    devnull = fopen("/dev/null", "w");
    log_setup(LOG_OFF, LOG_FORMAT_LOGFMT, "fuzz");
    return devnull ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned progs[] = {P_PRODUCER, P_CONSUMER, P_SERVER, P_DASHBOARD};
    if (size < 1 || size > 65536) {
        return 0;
    }
    unsigned prog = progs[data[0] & 3];
    data++;
    size--;
    const uint8_t *env_text;
    size_t env_len, file_len;
    fuzz_split(data, size, 0, &env_text, &env_len, &file_len);
    FILE *f = fopen(path, "w");
    if (!f) {
        return 0;
    }
    fwrite(data, 1, file_len, f);
    fclose(f);

    char *env = fuzz_strdup(env_text, env_len);
    char *envp[65];
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(env, "\n", &save); line && n < 64;
         line = strtok_r(NULL, "\n", &save)) {
        envp[n++] = line;
    }
    envp[n] = NULL;
    char *argv[] = {"fuzz", "--config", path, NULL};
    struct config *cfg = config_new(prog, "fuzz", "");
    if (cfg) {
        if (config_load(cfg, 3, argv, envp, devnull, devnull) == CONFIG_OK) {
            struct service_settings s;
            (void)service_settings_load(&s, cfg, "fuzz", devnull);
        }
        config_destroy(cfg);
    }
    log_reset_secrets();
    free(env);
    return 0;
}

#include "common/stop.h"

#include <string.h>

volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_requested == STOP_NONE) {
        stop_requested = STOP_SIGNAL;
    }
}

void stop_setup(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

void stop_request(int why)
{
    if (why > stop_requested) {
        stop_requested = why;
    }
}

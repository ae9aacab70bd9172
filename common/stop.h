/* How a Blotter program is asked to stop: SIGTERM or SIGINT (sigaction) set stop_requested,
 * which every loop checks; it then finishes or abandons the work in hand, flushes, commits what
 * is committed and exits 0. A fatal error found deep inside sets it too (STOP_FATAL) so that the
 * same path unwinds and the exit code says 1. SIGPIPE is ignored (a closed socket is an error
 * return, not a death). */
#ifndef BLOTTER_STOP_H
#define BLOTTER_STOP_H

#include <signal.h>

enum { STOP_NONE = 0, STOP_SIGNAL = 1, STOP_FATAL = 2 };

extern volatile sig_atomic_t stop_requested;

/* Install the handlers; once, at start, before any thread is created. */
void stop_setup(void);

/* Ask to stop from inside (STOP_FATAL wins over STOP_SIGNAL). */
void stop_request(int why);

#endif

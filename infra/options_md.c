/* Prints the settings of every Blotter program as the Markdown table of the README
 * (tests/readme_settings.sh keeps the README in step with common/options.h). */
#include <stdio.h>

#include "common/config.h"

int main(void)
{
    config_print_markdown(stdout, P_ALL);
    return 0;
}

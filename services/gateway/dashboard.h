/*  dashboard.h - the dashboard page, services/gateway/dashboard.html,
    compiled into the gateway (the Makefile generates the C array with
    tools/embed.sh), so the binary serves it with no files around.
*/
#ifndef BAZAAR_GATEWAY_DASHBOARD_H
#define BAZAAR_GATEWAY_DASHBOARD_H

#include <stddef.h>

extern const char dashboard_html[];
extern const size_t dashboard_html_size;

#endif

/* The page's files (dashboard/web/, bundled by esbuild at build time), compiled into the binary
 * by dashboard/embed_assets.sh, each with a gzip copy and an ETag. Nothing is fetched at run
 * time: the page works offline. */
#ifndef BLOTTER_DASHBOARD_WEB_H
#define BLOTTER_DASHBOARD_WEB_H

#include <stddef.h>

struct web_asset {
    const char *path; /* "/", "/app.js", ... */
    const char *type;
    const unsigned char *data;
    size_t len;
    const unsigned char *gz;
    size_t gz_len;
    const char *etag;
};

extern const struct web_asset web_assets[];
extern const size_t n_web_assets;

const struct web_asset *web_find(const char *path);

#endif

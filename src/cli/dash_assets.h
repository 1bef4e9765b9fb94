/* The dashboard's web assets (web/: index.html, style.css, *.js), embedded at build time by
 * src/cli/embed_assets.cmake into a generated dash_assets.c, so that the binary serves the
 * page without files at run time. */
#ifndef AERIE_CLI_DASH_ASSETS_H
#define AERIE_CLI_DASH_ASSETS_H

#include <stddef.h>

typedef struct ae_dash_asset {
    const char *path; /* "/index.html", "/app.js", ... */
    const char *type; /* its Content-Type */
    const unsigned char *data;
    size_t size; /* data has a NUL after size bytes */
} ae_dash_asset;

/* Every asset, ended by an entry whose path is NULL. */
extern const ae_dash_asset ae_dash_assets[];

/* The asset served at path ("/" is "/index.html"), or NULL. */
const ae_dash_asset *ae_dash_asset_find(const char *path);

#endif

/* Whole-file reads and atomic replaces, for the tools' configs, registries and state files.
 *
 * A replace writes a temporary file next to the target (mode 0600: these files hold
 * passwords and keys) and renames it over the target, so a reader sees the old file or the
 * new one, never half of one. With AE_FILE_DURABLE the data is fsync'd before the rename,
 * so a crash cannot leave an empty file behind either (for records that must survive, such
 * as a credential registry); without it the write is as fast as the page cache (for files
 * that are regenerated anyway, such as a local fleet's configs). */
#ifndef AERIE_COMMON_FILEIO_H
#define AERIE_COMMON_FILEIO_H

#include "common/err.h"

#include <stddef.h>

#define AE_FILE_DURABLE 1 /* fsync the data before the rename */

/* Reads path whole. Returns 0 and a malloc'd NUL-terminated copy in *text (its length in
 * *len when len is non-NULL; caller frees), AE_ENOENT when the file does not exist, or
 * AE_EIO / AE_ENOMEM; the message names the path. */
int ae_file_read(const char *path, char **text, size_t *len, ae_err *err);

/* Replaces path with the NUL-terminated text (see above; flags 0 or AE_FILE_DURABLE).
 * Returns 0, or AE_EIO with a message naming the path and the failing call. */
int ae_file_write_atomic(const char *path, const char *text, int flags, ae_err *err);

#endif

/* versions.c: the C libraries this binary runs with, for `raptor-ev --version`. */
#include <ev.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "raptor.h"

void rv_library_versions(int *ev_major, int *ev_minor, unsigned long *parser_version) {
    *ev_major = ev_version_major();
    *ev_minor = ev_version_minor();
    *parser_version = http_parser_version();
}

const char *rv_nghttp2_version(void) { return nghttp2_version(0)->version_str; }

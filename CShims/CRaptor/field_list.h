/*
 * field_list.h: the members of a comma-separated field value (RFC 9110 5.6.1), one at a
 * time. The one splitter for every list the server reads: Connection, Transfer-Encoding
 * and Expect in requests, Connection in the responses handlers make (private).
 */
#ifndef RAPTOR_FIELD_LIST_H
#define RAPTOR_FIELD_LIST_H

#include <stddef.h>
#include <stdint.h>

/* Finds the next member of list[*at ..< length]: returns 1 with the member, OWS trimmed,
 * in *member and *member_length (*at moves past it and its comma), or 0 when none is
 * left. Empty members ("a, , b") are skipped, as RFC 9110 5.6.1 requires. */
int rv_list_next(const uint8_t *list, size_t length, size_t *at, const uint8_t **member,
                 size_t *member_length);

#endif

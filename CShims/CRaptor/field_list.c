/* field_list.c: see field_list.h. */
#include "field_list.h"

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

int rv_list_next(const uint8_t *list, size_t length, size_t *at, const uint8_t **member,
                 size_t *member_length) {
    size_t i = *at;
    while (i < length) {
        while (i < length && (is_ows(list[i]) || list[i] == ',')) i++;
        size_t start = i;
        while (i < length && list[i] != ',') i++;
        size_t end = i;
        while (end > start && is_ows(list[end - 1])) end--;
        if (end > start) {
            *at = i;
            *member = list + start;
            *member_length = end - start;
            return 1;
        }
    }
    *at = length;
    return 0;
}

/*
 * proxy.c: the PROXY protocol header a load balancer sends before anything else on a
 * connection (HAProxy's proxy-protocol.txt: version 1 is one text line, version 2 a binary
 * block), and the CIDR lists that say whose headers are believed.
 *
 * The parser is stateless: it is given every byte received so far and says "more",
 * "a header of N bytes", "no header" (optional mode) or "invalid". Every answer depends
 * only on the bytes, never on how reads split them (the unit tests feed each case split at
 * every position), and is decided as early as the bytes allow: a byte that cannot belong
 * to a header is refused at once, not after waiting for more.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "raptor.h"

static const uint8_t v1_prefix[] = "PROXY ";
#define V1_PREFIX_LENGTH 6
/* The longest v1 line, CRLF included (the specification's 107 bytes). */
#define V1_MAX_LENGTH 107

static const uint8_t v2_signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
#define V2_FIXED_LENGTH 16

/* How many of `prefix`'s first bytes `data` matches: all of them, or as many as it has;
 * -1 at the first byte that differs. */
static int matches_prefix(const uint8_t *data, size_t length, const uint8_t *prefix,
                          size_t prefix_length) {
    size_t n = length < prefix_length ? length : prefix_length;
    return memcmp(data, prefix, n) == 0 ? (int)n : -1;
}

/* The client a header names: an IPv4 (4 bytes) or IPv6 (16 bytes) address and a port,
 * both in network byte order. */
static void set_source(rv_proxy_header *header, int family, const void *address, const void *port) {
    memset(&header->source, 0, sizeof header->source);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&header->source;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, address, 4);
        memcpy(&in->sin_port, port, 2);
        header->source_length = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&header->source;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, address, 16);
        memcpy(&in6->sin6_port, port, 2);
        header->source_length = sizeof *in6;
    }
}

/* ---- version 1: "PROXY TCP4 192.0.2.1 198.51.100.2 51234 443\r\n" ---- */

/* A port: 1 to 5 digits, no leading zero (but "0"), at most 65535. */
static int parse_port(const char *text, size_t length, uint16_t *port) {
    if (length == 0 || length > 5 || (length > 1 && text[0] == '0')) return -1;
    uint32_t value = 0;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        value = value * 10 + (uint32_t)(text[i] - '0');
    }
    if (value > 65535) return -1;
    *port = (uint16_t)value;
    return 0;
}

/* The next field of a v1 line, up to a single SP (or the end); -1 when it is empty. */
static int next_field(const char **cursor, const char *end, const char **field, size_t *length) {
    const char *start = *cursor;
    const char *space = memchr(start, ' ', (size_t)(end - start));
    const char *stop = space ? space : end;
    if (stop == start) return -1;
    *field = start;
    *length = (size_t)(stop - start);
    *cursor = space ? space + 1 : end;
    return 0;
}

static int parse_address(int family, const char *text, size_t length, void *address) {
    char copy[INET6_ADDRSTRLEN];
    if (length >= sizeof copy) return -1;
    memcpy(copy, text, length);
    copy[length] = 0;
    return inet_pton(family, copy, address) == 1 ? 0 : -1;
}

/* The line (CRLF excluded) after "PROXY ". */
static rv_proxy_result parse_v1_line(const char *line, size_t length, rv_proxy_header *header) {
    const char *cursor = line, *end = line + length;
    const char *protocol;
    size_t protocol_length;
    if (next_field(&cursor, end, &protocol, &protocol_length) != 0) return RV_PROXY_INVALID;
    if (protocol_length == 7 && memcmp(protocol, "UNKNOWN", 7) == 0) {
        header->local = 1; /* whatever follows is ignored, as the specification says */
        return RV_PROXY_HEADER;
    }
    int family;
    if (protocol_length == 4 && memcmp(protocol, "TCP4", 4) == 0) family = AF_INET;
    else if (protocol_length == 4 && memcmp(protocol, "TCP6", 4) == 0) family = AF_INET6;
    else return RV_PROXY_INVALID;

    const char *fields[4];
    size_t lengths[4];
    for (int i = 0; i < 4; i++)
        if (next_field(&cursor, end, &fields[i], &lengths[i]) != 0) return RV_PROXY_INVALID;
    if (cursor != end || end[-1] == ' ') return RV_PROXY_INVALID; /* a fifth field, or a trailing SP */
    uint8_t source[16], destination[16];
    uint16_t source_port, destination_port;
    if (parse_address(family, fields[0], lengths[0], source) != 0 ||
        parse_address(family, fields[1], lengths[1], destination) != 0 ||
        parse_port(fields[2], lengths[2], &source_port) != 0 ||
        parse_port(fields[3], lengths[3], &destination_port) != 0)
        return RV_PROXY_INVALID;
    uint16_t port = htons(source_port);
    set_source(header, family, source, &port);
    return RV_PROXY_HEADER;
}

static rv_proxy_result parse_v1(const uint8_t *data, size_t length, rv_proxy_header *header) {
    if (matches_prefix(data, length, v1_prefix, V1_PREFIX_LENGTH) < 0) return RV_PROXY_INVALID;
    /* The CR must come by byte 106 for the line to end by byte 107. */
    size_t limit = length < V1_MAX_LENGTH - 1 ? length : V1_MAX_LENGTH - 1;
    for (size_t i = V1_PREFIX_LENGTH; i < limit; i++) {
        uint8_t byte = data[i];
        if (byte == '\r') {
            if (i + 1 == length) return RV_PROXY_MORE;
            if (data[i + 1] != '\n') return RV_PROXY_INVALID;
            header->length = (uint32_t)(i + 2);
            return parse_v1_line((const char *)data + V1_PREFIX_LENGTH, i - V1_PREFIX_LENGTH, header);
        }
        if (byte < 0x20 || byte > 0x7E) return RV_PROXY_INVALID; /* a bare LF, NUL, ... */
    }
    return length >= V1_MAX_LENGTH - 1 ? RV_PROXY_INVALID : RV_PROXY_MORE;
}

/* ---- version 2: the signature, version and command, family and protocol, length ---- */

static rv_proxy_result parse_v2(const uint8_t *data, size_t length, rv_proxy_header *header) {
    if (matches_prefix(data, length, v2_signature, sizeof v2_signature) < 0) return RV_PROXY_INVALID;
    if (length > 12) {
        uint8_t version = data[12] >> 4, command = data[12] & 0x0F;
        if (version != 2 || command > 1) return RV_PROXY_INVALID;
    }
    if (length > 13) {
        uint8_t family = data[13] >> 4, protocol = data[13] & 0x0F;
        if (family > 3 || protocol > 2) return RV_PROXY_INVALID;
    }
    if (length < V2_FIXED_LENGTH) return RV_PROXY_MORE;
    uint32_t total = V2_FIXED_LENGTH + ((uint32_t)data[14] << 8 | data[15]);
    if (total > RV_PROXY_V2_MAX_LENGTH) return RV_PROXY_INVALID;
    if (length < total) return RV_PROXY_MORE;

    header->length = total;
    uint8_t command = data[12] & 0x0F, family = data[13] >> 4, protocol = data[13] & 0x0F;
    uint32_t block = total - V2_FIXED_LENGTH;
    const uint8_t *address = data + V2_FIXED_LENGTH;
    /* LOCAL (the balancer's own health check), or a family with no IP address: the
     * connection's own addresses stand. Any TLVs after the addresses are skipped. */
    if (command == 0 || family == 0 || family == 3) {
        if (command == 1 && family == 3 && (protocol == 0 || block < 216)) return RV_PROXY_INVALID;
        header->local = 1;
        return RV_PROXY_HEADER;
    }
    if (protocol != 1) return RV_PROXY_INVALID; /* this is a TCP server: STREAM only */
    /* Source address, destination address, source port, destination port. */
    if (family == 1) {
        if (block < 12) return RV_PROXY_INVALID;
        set_source(header, AF_INET, address, address + 8);
    } else {
        if (block < 36) return RV_PROXY_INVALID;
        set_source(header, AF_INET6, address, address + 32);
    }
    return RV_PROXY_HEADER;
}

rv_proxy_result rv_proxy_parse(rv_proxy_mode mode, const uint8_t *data, size_t length,
                               rv_proxy_header *header) {
    memset(header, 0, sizeof *header);
    switch (mode) {
    case RV_PROXY_OFF:
        return RV_PROXY_ABSENT;
    case RV_PROXY_V1:
        return parse_v1(data, length, header);
    case RV_PROXY_V2:
        return parse_v2(data, length, header);
    case RV_PROXY_OPTIONAL:
        break;
    }
    if (length == 0) return RV_PROXY_MORE;
    if (matches_prefix(data, length, v1_prefix, V1_PREFIX_LENGTH) >= 0)
        return parse_v1(data, length, header);
    if (matches_prefix(data, length, v2_signature, sizeof v2_signature) >= 0)
        return parse_v2(data, length, header);
    return RV_PROXY_ABSENT;
}

/* ---- trusted sources ---- */

static int prefix_matches(const uint8_t *address, const uint8_t *network, unsigned bits) {
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(address, network, whole) != 0) return 0;
    if (rest == 0) return 1;
    uint8_t mask = (uint8_t)(0xFF << (8 - rest));
    return (address[whole] & mask) == (network[whole] & mask);
}

int rv_cidr_contains(const rv_cidr *list, uint32_t count, const struct sockaddr *address) {
    uint8_t bytes[16];
    int family;
    if (address->sa_family == AF_INET) {
        memcpy(bytes, &((const struct sockaddr_in *)address)->sin_addr, 4);
        family = 4;
    } else if (address->sa_family == AF_INET6) {
        const uint8_t *v6 = (const uint8_t *)&((const struct sockaddr_in6 *)address)->sin6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(v6, mapped, 12) == 0) { /* ::ffff:192.0.2.1 is 192.0.2.1 */
            memcpy(bytes, v6 + 12, 4);
            family = 4;
        } else {
            memcpy(bytes, v6, 16);
            family = 6;
        }
    } else {
        return 0;
    }
    for (uint32_t i = 0; i < count; i++)
        if (list[i].family == family && prefix_matches(bytes, list[i].address, list[i].bits)) return 1;
    return 0;
}

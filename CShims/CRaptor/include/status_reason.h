/*
 * status_reason.h: reason phrases for the status line (status_reason.c), used by respond.c.
 * Not part of the Swift API: the module map exports it only as the explicit submodule
 * CRaptor.StatusReason, for the unit tests.
 */
#ifndef RAPTOR_STATUS_REASON_H
#define RAPTOR_STATUS_REASON_H

/* The reason phrase of a status code, "" when unknown. */
const char *rv_status_reason(unsigned status);

#endif

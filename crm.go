// Package crm holds the vocabulary every layer shares: error codes, the
// tenant and actor carried through a request, and nothing technical.
//
// It imports only the standard library so that aggregates, commands,
// projections and the HTTP edge can all depend on it without pulling in
// infrastructure.
package crm

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Codes are API: clients
// branch on them, so they are never renamed.
type Code string

// The error codes of API.md. The HTTP status of each lives in exactly one
// table, in package httpapi.
const (
	CodeInternal              Code = "INTERNAL"
	CodeMalformedJSON         Code = "MALFORMED_JSON"
	CodeValidation            Code = "VALIDATION_ERROR"
	CodeOrganizationRequired  Code = "ORGANIZATION_REQUIRED"
	CodeWonRequiresAmount     Code = "WON_REQUIRES_POSITIVE_AMOUNT"
	CodeDueDateInPast         Code = "DUE_DATE_IN_PAST"
	CodeInvalidRole           Code = "INVALID_ROLE"
	CodeCannotChangeOwnerRole Code = "CANNOT_CHANGE_OWNER_ROLE"
	CodeOwnerCannotLeave      Code = "OWNER_CANNOT_LEAVE"
	CodeOwnerNotMember        Code = "OWNER_NOT_MEMBER"
	CodeUnauthenticated       Code = "UNAUTHENTICATED"
	CodeInvalidCredentials    Code = "INVALID_CREDENTIALS"
	CodeInvalidRefreshToken   Code = "INVALID_REFRESH_TOKEN"
	CodeNotAMember            Code = "NOT_A_MEMBER"
	CodeForbidden             Code = "FORBIDDEN"
	CodeStageRollback         Code = "STAGE_ROLLBACK_FORBIDDEN"
	CodeNotFound              Code = "NOT_FOUND"
	CodeUserNotFound          Code = "USER_NOT_FOUND"
	CodeContactNotFound       Code = "CONTACT_NOT_FOUND"
	CodeDealNotFound          Code = "DEAL_NOT_FOUND"
	CodeMethodNotAllowed      Code = "METHOD_NOT_ALLOWED"
	CodeEmailTaken            Code = "EMAIL_TAKEN"
	CodeAlreadyMember         Code = "ALREADY_MEMBER"
	CodeContactHasDeals       Code = "CONTACT_HAS_DEALS"
	CodeConcurrentModify      Code = "CONCURRENT_MODIFICATION"
	CodeIdempotencyInFlight   Code = "IDEMPOTENCY_KEY_IN_FLIGHT"
	CodeVersionMismatch       Code = "VERSION_MISMATCH"
	CodeBodyTooLarge          Code = "BODY_TOO_LARGE"
	CodeHeadersTooLarge       Code = "REQUEST_HEADER_FIELDS_TOO_LARGE"
	CodeNotImplemented        Code = "NOT_IMPLEMENTED"
	CodeUnsupportedMediaType  Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeIdempotencyKeyReused  Code = "IDEMPOTENCY_KEY_REUSED"
	CodeRateLimited           Code = "RATE_LIMITED"
	CodeUnavailable           Code = "UNAVAILABLE"
	CodeProjectionBehind      Code = "PROJECTION_BEHIND"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a failure the client can act on: a stable code, a message fit
// for a human, and for validation failures the fields at fault.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a VALIDATION_ERROR naming the fields at fault.
func Invalid(fields ...FieldError) *Error {
	msg := "invalid input"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: CodeValidation, Message: msg, Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, and
// CodeInternal for anything else (which the edge answers with a 500 that
// reveals nothing).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the human message of the first *Error in err's
// chain, and a generic sentence for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

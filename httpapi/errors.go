package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"example.com/crm"
)

// codeTable is THE table mapping error codes to HTTP statuses (API.md
// §1, Errors), with what each code means (served at /docs/errors, where
// the `type` links of problem bodies point). It is the only package-level
// variable in httpapi: every error a client sees gets its status here and
// nowhere else. A code missing from it is a bug, answered as a 500 (and
// caught by the tests, which walk every code of package crm).
var codeTable = map[crm.Code]codeInfo{
	crm.CodeMalformedJSON:         {http.StatusBadRequest, "The body is not valid JSON, or not the JSON value the route expects."},
	crm.CodeValidation:            {http.StatusBadRequest, "A field, path or query parameter is invalid or unknown; `errors` names each one."},
	crm.CodeOrganizationRequired:  {http.StatusBadRequest, "An org-scoped route needs a well-formed `X-Organization-Id` header."},
	crm.CodeWonRequiresAmount:     {http.StatusBadRequest, "A deal can only be won with an amount greater than zero."},
	crm.CodeDueDateInPast:         {http.StatusBadRequest, "A task's due date must not be in the past."},
	crm.CodeInvalidRole:           {http.StatusBadRequest, "The role must be admin, manager or member (owner is given by transfer only)."},
	crm.CodeCannotChangeOwnerRole: {http.StatusBadRequest, "The owner's role changes only by transferring ownership."},
	crm.CodeOwnerCannotLeave:      {http.StatusBadRequest, "The owner cannot leave or be removed; transfer ownership first."},
	crm.CodeOwnerNotMember:        {http.StatusBadRequest, "The new owner of a contact or deal must be a member of the organization."},

	crm.CodeUnauthenticated:     {http.StatusUnauthorized, "The access token is missing, malformed, expired or its user is gone."},
	crm.CodeInvalidCredentials:  {http.StatusUnauthorized, "Wrong e-mail or password (the same answer for both)."},
	crm.CodeInvalidRefreshToken: {http.StatusUnauthorized, "The refresh token is unknown, expired or already used (reuse revokes its family)."},

	crm.CodeNotAMember:    {http.StatusForbidden, "The caller is not a member of the organization (or it was deleted)."},
	crm.CodeForbidden:     {http.StatusForbidden, "The caller's role or ownership does not allow this action."},
	crm.CodeStageRollback: {http.StatusForbidden, "Only owners and admins may move a deal back to an earlier stage."},

	crm.CodeNotFound:        {http.StatusNotFound, "No such route, or no such entity in this organization."},
	crm.CodeUserNotFound:    {http.StatusNotFound, "No registered user has that id or e-mail."},
	crm.CodeContactNotFound: {http.StatusNotFound, "No such contact in this organization (or it is deleted)."},
	crm.CodeDealNotFound:    {http.StatusNotFound, "No such deal in this organization, or not at the version or time asked for."},

	crm.CodeMethodNotAllowed: {http.StatusMethodNotAllowed, "The route exists but not with this method; `Allow` lists those it takes."},

	crm.CodeEmailTaken:          {http.StatusConflict, "A user with that e-mail is already registered."},
	crm.CodeAlreadyMember:       {http.StatusConflict, "The user is already a member of the organization."},
	crm.CodeContactHasDeals:     {http.StatusConflict, "A contact with deals cannot be deleted."},
	crm.CodeConcurrentModify:    {http.StatusConflict, "Another request changed the entity meanwhile and retrying did not succeed; try again."},
	crm.CodeIdempotencyInFlight: {http.StatusConflict, "A request with this Idempotency-Key is still running; retry later."},

	crm.CodeVersionMismatch:      {http.StatusPreconditionFailed, "`If-Match` does not match the entity's current version."},
	crm.CodeBodyTooLarge:         {http.StatusRequestEntityTooLarge, "The request body exceeds 1 MiB."},
	crm.CodeUnsupportedMediaType: {http.StatusUnsupportedMediaType, "A request body must be sent as `application/json`."},
	crm.CodeHeadersTooLarge:      {http.StatusRequestHeaderFieldsTooLarge, "The request's headers exceed the server's limit (1 MiB)."},
	crm.CodeNotImplemented:       {http.StatusNotImplemented, "The request uses an HTTP feature the server does not support (an unknown transfer coding)."},
	crm.CodeIdempotencyKeyReused: {http.StatusUnprocessableEntity, "This Idempotency-Key was used before with a different request."},
	crm.CodeRateLimited:          {http.StatusTooManyRequests, "Too many attempts; wait for the seconds in `Retry-After`."},

	crm.CodeUnavailable:      {http.StatusServiceUnavailable, "A dependency (the database) cannot be reached; retry after `Retry-After`."},
	crm.CodeProjectionBehind: {http.StatusServiceUnavailable, "A read model did not catch up with your writes in time; retry, or send `Consistency: eventual`."},

	crm.CodeInternal: {http.StatusInternalServerError, "An unexpected failure; the server logged it under the request id."},
}

// codeInfo is one row of codeTable.
type codeInfo struct {
	status  int
	meaning string
}

// defaultRetryAfter is the Retry-After, in seconds, of a 429 or 503 whose
// error does not say how long to wait: clients must always be told.
const defaultRetryAfter = 1

// internalDetail is all a client learns about a 500.
const internalDetail = "internal error"

// Status returns the HTTP status for code, and 500 for a code the table
// does not know (a bug, never a reason to leak a guess).
func Status(code crm.Code) int {
	if c, ok := codeTable[code]; ok {
		return c.status
	}
	return http.StatusInternalServerError
}

// StatusOf returns the status WriteError would answer err with. Code that
// must know the status before writing (an idempotency store recording a
// response, a test) uses it instead of a second table.
func StatusOf(err error) int {
	return Status(codeOf(err))
}

// codeOf is crm.ErrorCode, plus the one standard-library error the edge
// itself can cause: a body over the limit read outside Decode.
func codeOf(err error) crm.Code {
	var ce *crm.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return crm.CodeBodyTooLarge
	}
	if databaseUnreachable(err) {
		return crm.CodeUnavailable
	}
	return crm.CodeInternal
}

// databaseUnreachable reports whether err says PostgreSQL could not be
// reached or went away (connection refused or lost, the server shutting
// down, starting up or out of connection slots, pool exhausted until the
// deadline): the client should retry later (503), nothing is wrong with
// its request. It looks at error types and SQLSTATEs only, never at
// message text.
//
// A server stopped under traffic ends its sessions with 57P01
// (admin_shutdown): requests in flight on those sessions were answered
// 500 before this knew the code (the PostgreSQL outage test found it). A
// bare io.EOF or io.ErrUnexpectedEOF reaching the edge without a code is
// a dependency that hung up mid-conversation (pgx returns them when the
// server's socket closes), never a client's fault: the request body's
// EOFs are turned into coded errors by Decode.
func databaseUnreachable(err error) bool {
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return serverUnavailableState(pgErr.Code)
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	return pgconn.Timeout(err) && !errors.Is(err, context.Canceled)
}

// serverUnavailableState reports whether a SQLSTATE says the server, not
// the statement, is the problem: class 08 (connection exception), 57P01
// admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300
// too_many_connections.
func serverUnavailableState(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}

// RetryAfter wraps an error (usually a *crm.Error with RATE_LIMITED,
// UNAVAILABLE or PROJECTION_BEHIND) with how many seconds the client
// should wait, which WriteError sends as Retry-After on a 429 or 503.
// It exists here, not in package crm, because waiting is an HTTP concern.
type RetryAfter struct {
	Err     error
	Seconds int
}

// WithRetryAfter returns err wrapped in a *RetryAfter of the given
// seconds.
func WithRetryAfter(err error, seconds int) error {
	return &RetryAfter{Err: err, Seconds: seconds}
}

// Error returns the wrapped error's text.
func (e *RetryAfter) Error() string {
	if e.Err == nil {
		return "retry after " + strconv.Itoa(e.Seconds) + "s"
	}
	return e.Err.Error()
}

// Unwrap lets errors.As find the *crm.Error inside.
func (e *RetryAfter) Unwrap() error { return e.Err }

// Problem is the RFC 9457 body of every error response (API.md §1,
// Errors). It is exported so that tests and the OpenAPI document describe
// the very type that is written.
type Problem struct {
	Type      string           `json:"type"`
	Title     string           `json:"title"`
	Status    int              `json:"status"`
	Detail    string           `json:"detail"`
	Code      crm.Code         `json:"code"`
	RequestID string           `json:"request_id"`
	Errors    []crm.FieldError `json:"errors,omitempty"`
}

// WriteError answers r with err as an application/problem+json body.
//
// A *crm.Error anywhere in err's chain gives the code, the detail and, for
// VALIDATION_ERROR, the fields. Anything else is a 500 whose detail is
// "internal error": the cause is logged, with the request id, through
// LoggerFrom(r.Context()), and never shown. 401 answers carry
// WWW-Authenticate: Bearer; 429 and 503 answers carry Retry-After (from a
// *RetryAfter in the chain, else one second).
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r, err) {
		// Nobody reads the answer, and nothing failed on this side: say
		// so in the access log (499, nginx's "client closed request")
		// rather than as an internal error.
		LoggerFrom(r.Context()).DebugContext(r.Context(), "request canceled by the client",
			slog.String("request_id", crm.RequestIDFrom(r.Context())), slog.Any("error", err))
		w.WriteHeader(StatusClientClosedRequest)
		return
	}
	p, retry := problemFor(r, err)
	switch {
	case p.Status >= 500 && p.Status != http.StatusServiceUnavailable:
		LoggerFrom(r.Context()).ErrorContext(r.Context(), "internal error",
			slog.String("request_id", p.RequestID),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Any("error", err))
	case p.Status == http.StatusServiceUnavailable:
		// Not a bug, but an operator wants to know why (database down,
		// projections behind).
		LoggerFrom(r.Context()).WarnContext(r.Context(), "unavailable",
			slog.String("request_id", p.RequestID),
			slog.String("code", string(p.Code)),
			slog.Any("error", err))
	}
	writeProblem(w, p, retry)
}

// StatusClientClosedRequest is the status logged for a request whose
// client went away before its answer (nginx's 499): not an error of the
// server, and never seen by the client.
const StatusClientClosedRequest = 499

// clientGone reports whether err is the cancellation of r by its client
// (the connection closed, or the client gave up), not a failure.
func clientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && r.Context().Err() != nil
}

// problemFor builds the body for err, and the Retry-After seconds (0 for
// none).
func problemFor(r *http.Request, err error) (Problem, int) {
	code := codeOf(err)
	status := Status(code)
	detail := crm.ErrorMessage(err)
	var fields []crm.FieldError
	var ce *crm.Error
	if errors.As(err, &ce) && code == crm.CodeValidation {
		fields = ce.Fields
	}
	if code == crm.CodeBodyTooLarge && ce == nil {
		detail = "request body too large"
	}
	if status == http.StatusInternalServerError {
		// Whatever the error says (SQL, a code missing from the table)
		// is for the log only.
		code, detail, fields = crm.CodeInternal, internalDetail, nil
	}
	if detail == "" {
		detail = http.StatusText(status)
	}
	retry := 0
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		retry = defaultRetryAfter
		var ra *RetryAfter
		if errors.As(err, &ra) && ra.Seconds > 0 {
			retry = ra.Seconds
		}
	}
	return Problem{
		Type:      "/docs/errors#" + string(code),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Code:      code,
		RequestID: crm.RequestIDFrom(r.Context()),
		Errors:    fields,
	}, retry
}

// writeProblem writes p without logging: callers that already logged
// (Recover) use it directly.
func writeProblem(w http.ResponseWriter, p Problem, retryAfter int) {
	body, err := json.Marshal(p)
	if err != nil {
		// A Problem is strings and ints; this cannot happen.
		body = []byte(`{"type":"/docs/errors#INTERNAL","title":"Internal Server Error","status":500,"detail":"internal error","code":"INTERNAL"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	h.Del("ETag") // a handler may have set it before failing
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", "Bearer")
	}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(body, '\n'))
}

// WriteJSON answers with v as application/json and the given status.
//
// v is encoded before anything is written, so an encoding failure is
// returned (and a HandlerFunc turns it into a clean 500) instead of
// producing half a response. Errors writing to the client are not
// returned: the client is gone and nothing can be answered any more.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // an API, not a page: "<" stays "<"
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("httpapi.WriteJSON: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

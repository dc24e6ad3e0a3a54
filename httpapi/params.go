package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"example.com/crm"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

// Paging bounds of API.md §1, Lists.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// maxPage keeps (page-1)*page_size far from overflowing an OFFSET.
	maxPage = math.MaxInt32
)

// invalidParam is the 400 VALIDATION_ERROR naming one path or query
// parameter.
func invalidParam(name, format string, args ...any) error {
	return crm.Invalid(crm.FieldError{Field: name, Message: fmt.Sprintf(format, args...)})
}

// parseUUID accepts only the canonical 36-character form, so that an id
// has one spelling (uuid.Parse also takes braces, "urn:uuid:" and bare
// hex).
func parseUUID(s string) (uuid.UUID, bool) {
	if len(s) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// PathUUID returns the path variable name (a mux route's {name}) as a
// UUID; a malformed one is a 400 VALIDATION_ERROR naming it (API.md §1),
// never a 404. A route without that variable is a wiring bug: a 500.
func PathUUID(r *http.Request, name string) (uuid.UUID, error) {
	s, ok := mux.Vars(r)[name]
	if !ok {
		return uuid.Nil, fmt.Errorf("httpapi.PathUUID(%q): route has no such variable", name)
	}
	id, ok := parseUUID(s)
	if !ok {
		return uuid.Nil, invalidParam(name, "must be a UUID")
	}
	return id, nil
}

// Accepts declares the query parameters a handler reads: the returned
// handler answers 400 VALIDATION_ERROR, with one entry per parameter not in
// names (sorted), before h runs. Unknown query parameters are rejected like
// unknown JSON fields (API.md §1), so that a misspelt filter
// (?stauts=won) is an error rather than a silently unfiltered list. Every
// route declares its parameters, none for most (a test walks the router
// to check).
func Accepts(h HandlerFunc, names ...string) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := unknownQuery(r, names); err != nil {
			return err
		}
		return h(w, r)
	}
}

// unknownQuery is the 400 naming every query parameter of r not in
// allowed, or nil.
func unknownQuery(r *http.Request, allowed []string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	var unknown []string
	for name := range r.URL.Query() {
		if !slices.Contains(allowed, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	msg := "unknown query parameter; this route takes none"
	if len(allowed) > 0 {
		msg = "unknown query parameter; this route takes " + strings.Join(allowed, ", ")
	}
	fields := make([]crm.FieldError, len(unknown))
	for i, name := range unknown {
		fields[i] = crm.FieldError{Field: name, Message: msg}
	}
	return &crm.Error{Code: crm.CodeValidation, Fields: fields,
		Message: "unknown query parameter: " + strings.Join(unknown, ", ")}
}

// listParams are the query parameters of a paged list: page, page_size
// and more.
func listParams(more ...string) []string { return append([]string{"page", "page_size"}, more...) }

// queryValue returns the single value of query parameter name. An absent
// or empty parameter is reported absent (forms send "?owner_id="); one
// given twice is a 400, since silently picking one would hide a client
// bug. Unknown parameters are rejected before (Accepts).
func queryValue(r *http.Request, name string) (string, bool, error) {
	vs := r.URL.Query()[name]
	switch {
	case len(vs) == 0 || (len(vs) == 1 && vs[0] == ""):
		return "", false, nil
	case len(vs) > 1:
		return "", false, invalidParam(name, "must be given once")
	}
	return vs[0], true, nil
}

// QueryUUID returns the query parameter name as a UUID. ok is false when it
// is absent or empty; a malformed one is a 400 naming it.
func QueryUUID(r *http.Request, name string) (id uuid.UUID, ok bool, err error) {
	s, ok, err := queryValue(r, name)
	if !ok || err != nil {
		return uuid.Nil, false, err
	}
	id, valid := parseUUID(s)
	if !valid {
		return uuid.Nil, false, invalidParam(name, "must be a UUID")
	}
	return id, true, nil
}

// Paging returns the page (≥ 1, default 1) and page_size (1–100, default
// 20) of a list request; anything else is a 400 naming every parameter at
// fault.
func Paging(r *http.Request) (page, pageSize int, err error) {
	var fields []crm.FieldError
	page, fe := queryInt(r, "page", 1, 1, maxPage)
	if fe != nil {
		fields = append(fields, *fe)
	}
	pageSize, fe = queryInt(r, "page_size", DefaultPageSize, 1, MaxPageSize)
	if fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return 0, 0, crm.Invalid(fields...)
	}
	return page, pageSize, nil
}

// queryInt reads an integer query parameter within [lo, hi], def when
// absent.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, *crm.FieldError) {
	s, ok, err := queryValue(r, name)
	if err != nil {
		return 0, &crm.FieldError{Field: name, Message: "must be given once"}
	}
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, &crm.FieldError{Field: name, Message: "must be an integer"}
	}
	if n < lo || n > hi {
		if hi == maxPage && n < lo {
			return 0, &crm.FieldError{Field: name, Message: fmt.Sprintf("must be ≥ %d", lo)}
		}
		if hi == maxPage {
			return 0, &crm.FieldError{Field: name, Message: fmt.Sprintf("must be ≤ %d", hi)}
		}
		return 0, &crm.FieldError{Field: name, Message: fmt.Sprintf("must be between %d and %d", lo, hi)}
	}
	return n, nil
}

// QueryBool returns the query parameter name as a boolean ("true",
// "false", "1", "0", as strconv.ParseBool reads them). ok is false when it
// is absent or empty.
func QueryBool(r *http.Request, name string) (v, ok bool, err error) {
	s, ok, err := queryValue(r, name)
	if !ok || err != nil {
		return false, false, err
	}
	v, perr := strconv.ParseBool(s)
	if perr != nil {
		return false, false, invalidParam(name, "must be true or false")
	}
	return v, true, nil
}

// QueryDate returns the query parameter name, a YYYY-MM-DD date, as
// midnight UTC. ok is false when it is absent or empty.
func QueryDate(r *http.Request, name string) (t time.Time, ok bool, err error) {
	s, ok, err := queryValue(r, name)
	if !ok || err != nil {
		return time.Time{}, false, err
	}
	t, perr := time.Parse(time.DateOnly, s)
	if perr != nil {
		return time.Time{}, false, invalidParam(name, "must be a date (YYYY-MM-DD)")
	}
	return t, true, nil
}

// QueryTime returns the query parameter name, an RFC 3339 timestamp, in
// UTC. ok is false when it is absent or empty. Note that a "+" in an
// offset must be sent as %2B, or it reads as a space.
func QueryTime(r *http.Request, name string) (t time.Time, ok bool, err error) {
	s, ok, err := queryValue(r, name)
	if !ok || err != nil {
		return time.Time{}, false, err
	}
	t, perr := time.Parse(time.RFC3339Nano, s)
	if perr != nil {
		return time.Time{}, false, invalidParam(name, "must be an RFC 3339 timestamp")
	}
	return t.UTC(), true, nil
}

// QueryEnum returns the query parameter name, which must be one of allowed
// (compared exactly). ok is false when it is absent or empty.
func QueryEnum(r *http.Request, name string, allowed ...string) (v string, ok bool, err error) {
	s, ok, err := queryValue(r, name)
	if !ok || err != nil {
		return "", false, err
	}
	if !slices.Contains(allowed, s) {
		return "", false, invalidParam(name, "must be one of %s", strings.Join(allowed, ", "))
	}
	return s, true, nil
}

// QueryValues returns every value of a repeatable query parameter, given
// repeated (?stage=lead&stage=won), comma-separated (?stage=lead,won) or
// both, trimmed, without empty ones; nil when absent.
func QueryValues(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// QueryEnums is QueryValues where each value must be one of allowed; a
// value given twice counts once.
func QueryEnums(r *http.Request, name string, allowed ...string) ([]string, error) {
	var out []string
	for _, v := range QueryValues(r, name) {
		if !slices.Contains(allowed, v) {
			return nil, invalidParam(name, "must be one of %s", strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"example.com/crm"
)

// codesOfPackageCRM lists the Code constants declared in ../crm.go, so a
// code added there without a status here fails the test.
func codesOfPackageCRM(tb testing.TB) []crm.Code {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../crm.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var codes []crm.Code
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, s := range gd.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					tb.Fatalf("Code constant with a non-literal value: %#v", v)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					tb.Fatal(err)
				}
				codes = append(codes, crm.Code(s))
			}
		}
	}
	if len(codes) == 0 {
		tb.Fatal("no Code constants found in ../crm.go")
	}
	return codes
}

func TestStatusTableCoversEveryCode(t *testing.T) {
	t.Parallel()
	codes := codesOfPackageCRM(t)
	seen := map[crm.Code]bool{}
	for _, c := range codes {
		seen[c] = true
		info, ok := codeTable[c]
		if !ok {
			t.Errorf("code %s has no HTTP status in codeTable", c)
		} else if info.meaning == "" {
			t.Errorf("code %s has no meaning in codeTable (shown at /docs/errors)", c)
		}
	}
	for c := range codeTable {
		if !seen[c] {
			t.Errorf("codeTable maps %s, which package crm does not declare", c)
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	want := map[int][]crm.Code{
		400: {"MALFORMED_JSON", "VALIDATION_ERROR", "ORGANIZATION_REQUIRED", "WON_REQUIRES_POSITIVE_AMOUNT",
			"DUE_DATE_IN_PAST", "INVALID_ROLE", "CANNOT_CHANGE_OWNER_ROLE", "OWNER_CANNOT_LEAVE", "OWNER_NOT_MEMBER"},
		401: {"UNAUTHENTICATED", "INVALID_CREDENTIALS", "INVALID_REFRESH_TOKEN"},
		403: {"NOT_A_MEMBER", "FORBIDDEN", "STAGE_ROLLBACK_FORBIDDEN"},
		404: {"NOT_FOUND", "USER_NOT_FOUND", "CONTACT_NOT_FOUND", "DEAL_NOT_FOUND"},
		405: {"METHOD_NOT_ALLOWED"},
		409: {"EMAIL_TAKEN", "ALREADY_MEMBER", "CONTACT_HAS_DEALS", "CONCURRENT_MODIFICATION", "IDEMPOTENCY_KEY_IN_FLIGHT"},
		412: {"VERSION_MISMATCH"},
		413: {"BODY_TOO_LARGE"},
		415: {"UNSUPPORTED_MEDIA_TYPE"},
		422: {"IDEMPOTENCY_KEY_REUSED"},
		429: {"RATE_LIMITED"},
		500: {"INTERNAL", "NO_SUCH_CODE"},
		503: {"UNAVAILABLE", "PROJECTION_BEHIND"},
	}
	for status, codes := range want {
		for _, c := range codes {
			t.Run(string(c), func(t *testing.T) {
				t.Parallel()
				if got := Status(c); got != status {
					t.Errorf("Status(%s) = %d, want %d", c, got, status)
				}
			})
		}
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCode   crm.Code
		wantDetail string
		wantFields []crm.FieldError
		wantHeader map[string]string // "" means must be absent
		wantLog    string            // substring of a log line; "" means no log line
	}{
		{
			name:       "conflict",
			err:        crm.Errorf(crm.CodeContactHasDeals, "contact c1 still has 2 deals"),
			wantStatus: 409, wantCode: crm.CodeContactHasDeals, wantDetail: "contact c1 still has 2 deals",
			wantHeader: map[string]string{"WWW-Authenticate": "", "Retry-After": ""},
		},
		{
			name:       "wrapped with an operation name",
			err:        fmt.Errorf("DeleteContact(%q): %w", "c1", crm.Errorf(crm.CodeContactNotFound, "no contact c1")),
			wantStatus: 404, wantCode: crm.CodeContactNotFound, wantDetail: "no contact c1",
		},
		{
			name:       "validation carries fields",
			err:        crm.Invalid(crm.FieldError{Field: "amount", Message: "must be > 0"}, crm.FieldError{Field: "currency", Message: "unknown"}),
			wantStatus: 400, wantCode: crm.CodeValidation, wantDetail: "invalid input",
			wantFields: []crm.FieldError{{Field: "amount", Message: "must be > 0"}, {Field: "currency", Message: "unknown"}},
		},
		{
			name:       "fields only on validation errors",
			err:        &crm.Error{Code: crm.CodeOwnerNotMember, Message: "not a member", Fields: []crm.FieldError{{Field: "user_id", Message: "x"}}},
			wantStatus: 400, wantCode: crm.CodeOwnerNotMember, wantDetail: "not a member",
		},
		{
			name:       "401 asks for a bearer token",
			err:        crm.Errorf(crm.CodeUnauthenticated, "token expired"),
			wantStatus: 401, wantCode: crm.CodeUnauthenticated, wantDetail: "token expired",
			wantHeader: map[string]string{"WWW-Authenticate": "Bearer"},
		},
		{
			name:       "429 defaults Retry-After to 1",
			err:        crm.Errorf(crm.CodeRateLimited, "slow down"),
			wantStatus: 429, wantCode: crm.CodeRateLimited, wantDetail: "slow down",
			wantHeader: map[string]string{"Retry-After": "1"},
		},
		{
			name:       "503 takes Retry-After from the error",
			err:        WithRetryAfter(crm.Errorf(crm.CodeProjectionBehind, "projections are behind"), 3),
			wantStatus: 503, wantCode: crm.CodeProjectionBehind, wantDetail: "projections are behind",
			wantHeader: map[string]string{"Retry-After": "3"},
			wantLog:    "projections are behind",
		},
		{
			name:       "Retry-After only on 429 and 503",
			err:        WithRetryAfter(crm.Errorf(crm.CodeConcurrentModify, "again"), 3),
			wantStatus: 409, wantCode: crm.CodeConcurrentModify, wantDetail: "again",
			wantHeader: map[string]string{"Retry-After": ""},
		},
		{
			name:       "plain error is a 500 that shows nothing",
			err:        fmt.Errorf("insert deal: %w", errors.New(`pq: relation "deals" does not exist`)),
			wantStatus: 500, wantCode: crm.CodeInternal, wantDetail: "internal error",
			wantLog: `relation \"deals\" does not exist`,
		},
		{
			name:       "INTERNAL code hides its message",
			err:        crm.Errorf(crm.CodeInternal, "secret dsn postgres://u:p@h"),
			wantStatus: 500, wantCode: crm.CodeInternal, wantDetail: "internal error",
			wantLog: "secret dsn",
		},
		{
			name:       "code missing from the table is a 500",
			err:        crm.Errorf("NO_SUCH_CODE", "whatever"),
			wantStatus: 500, wantCode: crm.CodeInternal, wantDetail: "internal error",
			wantLog: "NO_SUCH_CODE",
		},
		{
			name:       "body too large read outside Decode",
			err:        fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}),
			wantStatus: 413, wantCode: crm.CodeBodyTooLarge, wantDetail: "request body too large",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logger, sink := newTestLogger()
			r := httptest.NewRequest(http.MethodGet, "/api/v1/x", nil)
			r = r.WithContext(WithLogger(crm.WithRequestID(r.Context(), "req-1"), logger))
			rec := httptest.NewRecorder()
			rec.Header().Set("ETag", `"7"`)

			WriteError(rec, r, tt.err)

			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			p := readProblem(t, rec)
			want := Problem{
				Type:      "/docs/errors#" + string(tt.wantCode),
				Title:     http.StatusText(tt.wantStatus),
				Status:    tt.wantStatus,
				Detail:    tt.wantDetail,
				Code:      tt.wantCode,
				RequestID: "req-1",
				Errors:    tt.wantFields,
			}
			gotJSON, _ := json.Marshal(p)
			wantJSON, _ := json.Marshal(want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("problem =\n %s\nwant\n %s", gotJSON, wantJSON)
			}
			if tt.wantFields == nil && strings.Contains(rec.Body.String(), `"errors"`) {
				t.Errorf("body has an errors member: %s", rec.Body)
			}
			for k, v := range tt.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if rec.Header().Get("ETag") != "" {
				t.Error("an error response kept the ETag of the failed handler")
			}
			lines := sink.lines(t)
			if tt.wantLog == "" {
				if len(lines) != 0 {
					t.Errorf("unexpected log lines %v", lines)
				}
				return
			}
			if tt.wantStatus == 500 && strings.Contains(rec.Body.String(), tt.wantLog) {
				t.Errorf("body reveals the cause: %s", rec.Body)
			}
			if len(lines) != 1 {
				t.Fatalf("want 1 log line, got %v", lines)
			}
			if lines[0]["request_id"] != "req-1" {
				t.Errorf("log line without request id: %v", lines[0])
			}
			raw, _ := json.Marshal(lines[0])
			if !strings.Contains(string(raw), tt.wantLog) {
				t.Errorf("log line %s does not contain %q", raw, tt.wantLog)
			}
		})
	}
}

func TestRetryAfterUnwraps(t *testing.T) {
	t.Parallel()
	inner := crm.Errorf(crm.CodeUnavailable, "postgres down")
	err := WithRetryAfter(inner, 5)
	if !errors.Is(err, inner) || crm.ErrorCode(err) != crm.CodeUnavailable || err.Error() != inner.Error() {
		t.Errorf("RetryAfter hides its error: %v", err)
	}
	if StatusOf(err) != 503 {
		t.Errorf("StatusOf = %d", StatusOf(err))
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		v        any
		wantErr  bool
		wantBody string
	}{
		{name: "object", status: 201, v: map[string]string{"name": "<Acme & Co>"}, wantBody: `{"name":"<Acme & Co>"}` + "\n"},
		{name: "list", status: 200, v: []int{1, 2}, wantBody: "[1,2]\n"},
		{name: "unencodable writes nothing", status: 200, v: make(chan int), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			err := WriteJSON(rec, tt.status, tt.v)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
					t.Errorf("wrote a partial response: %q", rec.Body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != tt.wantBody {
				t.Errorf("got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		})
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	refused := fmt.Errorf("load contact: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
	rec := httptest.NewRecorder()
	WriteError(rec, httptest.NewRequest(http.MethodGet, "/x", nil), refused)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code != crm.CodeUnavailable {
		t.Fatalf("body %s", rec.Body)
	}
}

// Every way PostgreSQL can be unreachable or go away under a request is a
// 503 UNAVAILABLE with Retry-After; an error of the statement itself is
// not (it stays a 500: a bug to log, not a reason to retry).
func TestDatabaseGoneIsUnavailableButStatementErrorsAreNot(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		err  error
		want int
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, http.StatusServiceUnavailable},
		{"server stopped (admin_shutdown)", &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, http.StatusServiceUnavailable},
		{"server crashed (crash_shutdown)", &pgconn.PgError{Severity: "FATAL", Code: "57P02"}, http.StatusServiceUnavailable},
		{"server starting up", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, http.StatusServiceUnavailable},
		{"too many connections", &pgconn.PgError{Severity: "FATAL", Code: "53300"}, http.StatusServiceUnavailable},
		{"connection failure", &pgconn.PgError{Severity: "FATAL", Code: "08006"}, http.StatusServiceUnavailable},
		{"connection closed by the driver", fmt.Errorf("query: %w", pgconn.ErrConnClosed), http.StatusServiceUnavailable},
		{"socket closed mid-message", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable},
		{"socket closed between messages", fmt.Errorf("query: %w", io.EOF), http.StatusServiceUnavailable},
		{"syntax error", &pgconn.PgError{Severity: "ERROR", Code: "42601"}, http.StatusInternalServerError},
		{"undefined table", &pgconn.PgError{Severity: "ERROR", Code: "42P01"}, http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/x", nil)
			WriteError(rec, req.WithContext(WithLogger(req.Context(), slog.New(slog.DiscardHandler))), fmt.Errorf("pgstore.Append: %w", tt.err))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		})
	}
}

// A request its client gave up on fails with context.Canceled somewhere
// below: that is not an internal error. It is logged as 499 (nothing is
// written to the error log), while the same error on a request still
// alive is a bug and stays a 500.
func TestAClientThatLeftIsNotAnInternalError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		clientGone bool
		want       int
		wantLevel  slog.Level
	}{
		{"client gone", true, StatusClientClosedRequest, slog.LevelDebug},
		{"client still there", false, http.StatusInternalServerError, slog.LevelError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logged bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			if tt.clientGone {
				cancel()
			} else {
				defer cancel()
			}
			req := httptest.NewRequest(http.MethodGet, "/x", nil)
			req = req.WithContext(WithLogger(ctx, slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))))
			rec := httptest.NewRecorder()
			WriteError(rec, req, fmt.Errorf("pgread.ListTasks: count tasks: %w", context.Canceled))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d", rec.Code, tt.want)
			}
			var line struct{ Level string }
			if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
				t.Fatalf("log %q: %v", logged.String(), err)
			}
			if line.Level != tt.wantLevel.String() {
				t.Fatalf("logged at %s, want %s: %s", line.Level, tt.wantLevel, logged.String())
			}
		})
	}
}

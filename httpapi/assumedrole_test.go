package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
)

// countingAccess is an AccessReader whose answers a test changes between
// requests, counting the reads.
type countingAccess struct {
	mu     sync.Mutex
	exists bool
	role   crm.Role // "" means not a member
	reads  int
}

func (a *countingAccess) Access(context.Context, uuid.UUID, uuid.UUID) (bool, crm.Role, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reads++
	return a.exists, a.role, a.role != "", nil
}

func (a *countingAccess) set(exists bool, role crm.Role) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exists, a.role = exists, role
}

func (a *countingAccess) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reads
}

// assumedRoleServer routes GET /read (reads the role every time) and
// POST /write (ChecksAccess) through AuthenticateInOrg; write runs
// command, which plays the part of a command: it sees the tenant and
// the body, and says whether "its append" committed.
type assumedRoleServer struct {
	t      *testing.T
	user   uuid.UUID
	org    uuid.UUID
	access *countingAccess
	router *mux.Router
	// command answers a status and the role its append committed with
	// ("": nothing committed).
	command func(role crm.Role, body string) (status int, committed crm.Role)
	mu      sync.Mutex
	runs    []string // "role:body" of every run of the write
}

func newAssumedRoleServer(t *testing.T) *assumedRoleServer {
	s := &assumedRoleServer{t: t, user: uuid.New(), org: uuid.New(), access: &countingAccess{exists: true, role: crm.RoleMember}}
	s.router = mux.NewRouter()
	s.router.Use(AuthenticateInOrg(fakeTokens{}, fakeUsers{s.user: true}, s.access))
	s.router.Handle("/read", HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	})).Methods(http.MethodGet)
	s.router.Handle("/write", ChecksAccess(HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		tn, err := crm.TenantFrom(r.Context())
		if err != nil {
			return err
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.runs = append(s.runs, string(tn.Role)+":"+string(body))
		s.mu.Unlock()
		status, committed := s.command(tn.Role, string(body))
		if committed != "" {
			crm.ConfirmRole(r.Context(), committed)
		}
		if status >= 400 {
			return crm.Errorf(crm.CodeForbidden, "the command refused (%s)", tn.Role)
		}
		w.Header().Set("X-Role", string(tn.Role))
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "made by "+string(tn.Role))
		return nil
	}))).Methods(http.MethodPost)
	return s
}

func (s *assumedRoleServer) do(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer good-"+s.user.String())
	req.Header.Set(OrganizationHeader, s.org.String())
	rec := httptest.NewRecorder()
	s.router.ServeHTTP(rec, req)
	return rec
}

func (s *assumedRoleServer) runsSoFar() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.runs...)
}

// A write the commit confirmed costs no read of the role once the process
// knows it.
func TestAConfirmedWriteSkipsTheAccessRead(t *testing.T) {
	t.Parallel()
	s := newAssumedRoleServer(t)
	s.command = func(role crm.Role, _ string) (int, crm.Role) { return http.StatusCreated, role }
	if rec := s.do(http.MethodGet, "/read", ""); rec.Code != http.StatusNoContent {
		t.Fatalf("read: %d %s", rec.Code, rec.Body)
	}
	if s.access.count() != 1 {
		t.Fatalf("reads after the GET = %d", s.access.count())
	}
	for range 3 {
		rec := s.do(http.MethodPost, "/write", `{"a":1}`)
		if rec.Code != http.StatusCreated || rec.Body.String() != "made by member" || rec.Header().Get("X-Role") != "member" {
			t.Fatalf("write: %d %v %s", rec.Code, rec.Header(), rec.Body)
		}
	}
	if got := s.access.count(); got != 1 {
		t.Fatalf("confirmed writes read the role: %d reads, want 1", got)
	}
	// A GET never assumes.
	s.do(http.MethodGet, "/read", "")
	if got := s.access.count(); got != 2 {
		t.Fatalf("a GET did not read the role: %d reads", got)
	}
}

// The first write of a caller the process does not know reads the role
// first, as any request does.
func TestAnUnknownCallerIsReadBeforeTheWrite(t *testing.T) {
	t.Parallel()
	s := newAssumedRoleServer(t)
	s.access.set(true, "")
	s.command = func(role crm.Role, _ string) (int, crm.Role) {
		t.Error("the write ran for a non-member")
		return 201, role
	}
	rec := s.do(http.MethodPost, "/write", `{}`)
	if rec.Code != http.StatusForbidden || readProblem(t, rec).Code != crm.CodeNotAMember {
		t.Fatalf("non-member: %d %s", rec.Code, rec.Body)
	}
}

// An outcome without a commit is answered only after a fresh read: a
// member removed since the role was cached gets 403 NOT_A_MEMBER, not
// what the handler answered; a user that is gone gets 401.
func TestAnUnconfirmedOutcomeIsCheckedBeforeItIsAnswered(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		exists        bool
		role          crm.Role
		commandStatus int
		status        int
		code          crm.Code
		body          string
	}{
		{"same role, refused: the refusal stands", true, crm.RoleMember, 403, 403, crm.CodeForbidden, ""},
		{"same role, nothing appended: the answer stands", true, crm.RoleMember, 200, 200, "", "made by member"},
		{"removed: NOT_A_MEMBER, whatever the handler said", true, "", 200, 403, crm.CodeNotAMember, ""},
		{"removed, refused: NOT_A_MEMBER", true, "", 403, 403, crm.CodeNotAMember, ""},
		{"user gone: 401", false, "", 200, 401, crm.CodeUnauthenticated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newAssumedRoleServer(t)
			s.do(http.MethodGet, "/read", "") // the process learns "member"
			s.access.set(tc.exists, tc.role)
			s.command = func(crm.Role, string) (int, crm.Role) { return tc.commandStatus, "" }
			rec := s.do(http.MethodPost, "/write", `{}`)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.code != "" && readProblem(t, rec).Code != tc.code {
				t.Fatalf("code %s, want %s", readProblem(t, rec).Code, tc.code)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Fatalf("body %q, want %q", rec.Body, tc.body)
			}
			if got := s.access.count(); got != 2 {
				t.Fatalf("%d reads, want 2 (the GET's and the check)", got)
			}
			if tc.role == "" {
				// Forgotten: the next write reads before it runs.
				before := len(s.runsSoFar())
				s.do(http.MethodPost, "/write", `{}`)
				if len(s.runsSoFar()) != before {
					t.Fatalf("a forgotten caller's write ran: %v", s.runsSoFar())
				}
			}
		})
	}
}

// A role that changed since it was cached makes the request run again on
// the new role, with the same body, and only the second answer is sent.
func TestARoleChangeRunsTheWriteAgainOnTheNewRole(t *testing.T) {
	t.Parallel()
	s := newAssumedRoleServer(t)
	s.do(http.MethodGet, "/read", "")
	s.access.set(true, crm.RoleAdmin) // promoted since
	s.command = func(role crm.Role, _ string) (int, crm.Role) {
		if role != crm.RoleAdmin {
			return http.StatusForbidden, "" // only admins may
		}
		return http.StatusOK, role
	}
	body := strings.Repeat("x", 100_000) // more than one read's worth
	rec := s.do(http.MethodPost, "/write", body)
	if rec.Code != http.StatusOK || rec.Body.String() != "made by admin" || rec.Header().Get("X-Role") != "admin" {
		t.Fatalf("write: %d %v %.100s", rec.Code, rec.Header(), rec.Body)
	}
	runs := s.runsSoFar()
	if len(runs) != 2 || runs[0] != "member:"+body || runs[1] != "admin:"+body {
		t.Fatalf("runs: %d, roles and bodies differ: %.20q", len(runs), runs)
	}
	// The process now assumes admin: the next write is one run, no read.
	reads := s.access.count()
	s.do(http.MethodPost, "/write", "{}")
	if got := s.runsSoFar(); len(got) != 3 || got[2] != "admin:{}" || s.access.count() != reads {
		t.Fatalf("after learning admin: runs %.20q, reads %d → %d", got, reads, s.access.count())
	}
}

// A write that committed is never run twice, and the role its commit
// confirmed (a command decides again when the store reports another one)
// is what the process assumes next.
func TestACommittedWriteRunsOnceAndTeachesTheRole(t *testing.T) {
	t.Parallel()
	s := newAssumedRoleServer(t)
	s.do(http.MethodGet, "/read", "") // the process learns "member"
	s.access.set(true, crm.RoleManager)
	// The store found "manager", and the command decided again with it.
	s.command = func(crm.Role, string) (int, crm.Role) { return http.StatusOK, crm.RoleManager }
	reads := s.access.count()
	if rec := s.do(http.MethodPost, "/write", "1"); rec.Code != http.StatusOK {
		t.Fatalf("first write: %d %s", rec.Code, rec.Body)
	}
	s.do(http.MethodPost, "/write", "2")
	if runs := s.runsSoFar(); len(runs) != 2 || runs[0] != "member:1" || runs[1] != "manager:2" {
		t.Fatalf("runs %q, want one run each, the second on the confirmed role", runs)
	}
	if s.access.count() != reads {
		t.Fatalf("committed writes read the role: %d → %d reads", reads, s.access.count())
	}
}

package auth

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/readapi/identity"
	"example.com/crm/tokens"
)

type fakeUsers map[string]identity.Credentials

func (f fakeUsers) Credentials(_ context.Context, email string) (identity.Credentials, bool, error) {
	c, ok := f[crm.NormalizeEmail(email)]
	return c, ok, nil
}

// fakePasswords accepts "right" and counts the comparisons made.
type fakePasswords struct{ checks, dummies int }

func (f *fakePasswords) Check(_, password string) (bool, error) {
	f.checks++
	return password == "right", nil
}
func (f *fakePasswords) CheckNothing(string) { f.dummies++ }

type memStore struct{}

func (memStore) Save(context.Context, tokens.Refresh) error { return nil }
func (memStore) Rotate(context.Context, []byte, tokens.Refresh) (uuid.UUID, error) {
	return uuid.Nil, tokens.ErrRefreshInvalid
}

// An unknown e-mail costs a password comparison too, and both failures
// are the same error.
func TestLogin(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	pw := &fakePasswords{}
	s := New(fakeUsers{"ada@example.com": {UserID: user, PasswordHash: "h"}}, pw,
		tokens.NewService(tokens.NewIssuer([]byte("k"), time.Minute), memStore{}, time.Hour))
	ctx := context.Background()

	p, err := s.Login(ctx, " ADA@example.com", "right")
	if err != nil || p.UserID != user || p.AccessToken == "" {
		t.Fatalf("login: %+v %v", p, err)
	}
	_, wrong := s.Login(ctx, "ada@example.com", "wrong")
	_, unknown := s.Login(ctx, "bob@example.com", "right")
	if wrong == nil || unknown == nil || wrong.Error() != unknown.Error() || crm.ErrorCode(wrong) != crm.CodeInvalidCredentials {
		t.Fatalf("wrong password: %v; unknown e-mail: %v", wrong, unknown)
	}
	if pw.checks != 2 || pw.dummies != 1 {
		t.Fatalf("%d checks and %d dummy checks, want 2 and 1", pw.checks, pw.dummies)
	}
}

package tokens

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"example.com/crm"
)

var key = []byte("a-key-of-at-least-thirty-two-bytes!!")

func signed(t *testing.T, m jwt.SigningMethod, k any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueAndVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	i := NewIssuer(key, 15*time.Minute)
	i.now = func() time.Time { return now }
	user := uuid.New()
	tok, err := i.Issue(user)
	if err != nil {
		t.Fatal(err)
	}
	got, err := i.Verify(tok)
	if err != nil || got != user {
		t.Fatalf("Verify = %v, %v", got, err)
	}
	var c jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"sub", "exp", "iat", "jti"} {
		if c[claim] == nil {
			t.Fatalf("claim %s missing: %v", claim, c)
		}
	}
	if c["exp"].(float64)-c["iat"].(float64) != 900 {
		t.Fatalf("lifetime: %v", c)
	}
	// Fifteen minutes later it has expired.
	now = now.Add(15*time.Minute + time.Second)
	if _, err := i.Verify(tok); crm.ErrorCode(err) != crm.CodeUnauthenticated {
		t.Fatalf("expired token: %v", err)
	}
}

// Verify refuses every token that is not an unexpired HS256 token of this
// key with a UUID subject.
func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	i := NewIssuer(key, time.Minute)
	user := uuid.NewString()
	exp := time.Now().Add(time.Hour).Unix()
	good := jwt.MapClaims{"sub": user, "exp": exp, "iat": time.Now().Unix()}
	for name, tok := range map[string]string{
		"empty":        "",
		"garbage":      "not.a.token",
		"alg none":     signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good),
		"HS384":        signed(t, jwt.SigningMethodHS384, key, good),
		"wrong key":    signed(t, jwt.SigningMethodHS256, []byte("another-key-of-thirty-two-bytes!!!"), good),
		"no exp":       signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": user}),
		"expired":      signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": user, "exp": time.Now().Add(-time.Second).Unix()}),
		"issued later": signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": user, "exp": exp, "iat": time.Now().Add(time.Hour).Unix()}),
		"no subject":   signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"exp": exp}),
		"nil subject":  signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": uuid.Nil.String(), "exp": exp}),
		"bad subject":  signed(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "root", "exp": exp}),
		"none header, HS256 signature": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." +
			base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+user+`","exp":9999999999}`)) + ".",
	} {
		if _, err := i.Verify(tok); crm.ErrorCode(err) != crm.CodeUnauthenticated {
			t.Errorf("%s: Verify = %v, want UNAUTHENTICATED", name, err)
		}
	}
	if got, err := i.Verify(signed(t, jwt.SigningMethodHS256, key, good)); err != nil || got.String() != user {
		t.Fatalf("the good token: %v %v", got, err)
	}
}

func TestRefreshTokens(t *testing.T) {
	t.Parallel()
	a, ha, err := NewRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := NewRefreshToken()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 || a == b {
		t.Fatalf("token %q: %v", a, err)
	}
	if string(HashRefreshToken(a)) != string(ha) || len(ha) != 32 {
		t.Fatal("the stored hash is not the SHA-256 of the token")
	}
}

// fakeStore is a Store whose Rotate answers err.
type fakeStore struct {
	saved []Refresh
	err   error
	user  uuid.UUID
}

func (f *fakeStore) Save(_ context.Context, r Refresh) error {
	f.saved = append(f.saved, r)
	return nil
}
func (f *fakeStore) Rotate(context.Context, []byte, Refresh) (uuid.UUID, error) {
	return f.user, f.err
}

func TestServiceRefreshErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code crm.Code
	}{
		{ErrRefreshInvalid, crm.CodeInvalidRefreshToken},
		{ErrRefreshReused, crm.CodeInvalidRefreshToken},
		{errors.New("database down"), crm.CodeInternal},
	} {
		s := NewService(NewIssuer(key, time.Minute), &fakeStore{err: tc.err}, time.Hour)
		if _, err := s.Refresh(context.Background(), "token"); crm.ErrorCode(err) != tc.code {
			t.Errorf("%v: got %v, want %s", tc.err, err, tc.code)
		}
	}
	store := &fakeStore{user: uuid.New()}
	s := NewService(NewIssuer(key, time.Minute), store, time.Hour)
	p, err := s.Refresh(context.Background(), "token")
	if err != nil || p.UserID != store.user || p.AccessToken == "" || p.RefreshToken == "" || p.ExpiresIn != time.Minute {
		t.Fatalf("pair %+v, %v", p, err)
	}
	if _, err := s.Refresh(context.Background(), ""); crm.ErrorCode(err) != crm.CodeInvalidRefreshToken {
		t.Fatalf("empty token: %v", err)
	}
	p, err = s.Issue(context.Background(), store.user)
	if err != nil || len(store.saved) != 1 || store.saved[0].FamilyID == uuid.Nil || store.saved[0].UserID != store.user {
		t.Fatalf("issue: %+v %v %+v", p, err, store.saved)
	}
}

package tokens

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
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

// issued returns an Issuer of 15-minute tokens whose clock reads *now,
// a user, and a token it issued them.
func issued(t *testing.T, now *time.Time) (*Issuer, uuid.UUID, string) {
	t.Helper()
	i := NewIssuer(key, 15*time.Minute)
	i.now = func() time.Time { return *now }
	user := uuid.New()
	tok, err := i.Issue(user)
	if err != nil {
		t.Fatal(err)
	}
	return i, user, tok
}

func TestIssueAndVerify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	i, user, tok := issued(t, &now)
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

// Verify remembers the tokens it verified, so that a client's next
// requests skip the parse; what it remembers answers exactly as a full
// check would: a token is remembered only once verified (another
// signature over the same claims is another token, refused), and it
// is valid only between its iat and its exp by the clock of each use.
func TestARememberedTokenAnswersAsAFullCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	i, user, tok := issued(t, &now)
	for range 2 {
		if got, err := i.Verify(tok); err != nil || got != user {
			t.Fatalf("Verify = %v, %v", got, err)
		}
	}
	head, _, _ := strings.Cut(tok, ".")
	payload := strings.Split(tok, ".")[1]
	forged := head + "." + payload + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	if _, err := i.Verify(forged); crm.ErrorCode(err) != crm.CodeUnauthenticated {
		t.Fatalf("the claims of a remembered token under another signature: %v", err)
	}
	other := NewIssuer([]byte("another-key-of-thirty-two-bytes!!!"), 15*time.Minute)
	other.now = i.now
	if _, err := other.Verify(tok); crm.ErrorCode(err) != crm.CodeUnauthenticated {
		t.Fatalf("another key's issuer: %v", err)
	}
	// The clock set back before iat: not valid yet, as a full check says.
	now = now.Add(-time.Minute)
	if _, err := i.Verify(tok); crm.ErrorCode(err) != crm.CodeUnauthenticated {
		t.Fatalf("before its iat: %v", err)
	}
	now = now.Add(time.Minute)
	if got, err := i.Verify(tok); err != nil || got != user {
		t.Fatalf("back at its iat: %v, %v", got, err)
	}
	// Its last valid second, then its exp.
	now = now.Add(15*time.Minute - time.Second)
	if _, err := i.Verify(tok); err != nil {
		t.Fatalf("a second before exp: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := i.Verify(tok); crm.ErrorCode(err) != crm.CodeUnauthenticated {
		t.Fatalf("at exp: %v", err)
	}
}

// BenchmarkVerify: a token verified for the first time against one
// remembered (go test -run '^$' -bench Verify ./tokens/).
func BenchmarkVerify(b *testing.B) {
	i := NewIssuer(key, time.Hour)
	tok, err := i.Issue(uuid.New())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first time", func(b *testing.B) {
		for b.Loop() {
			clear(i.verified)
			if _, err := i.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := i.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

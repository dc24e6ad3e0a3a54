// Package tokens issues and checks the credentials of API.md §2: short
// JWT access tokens (HS256, golang-jwt v5) and long opaque refresh tokens
// that are stored hashed, rotated on every use, and whose reuse revokes
// their whole family.
//
// Verification pins the algorithm (HS256 only, so "alg: none" and
// algorithm-confusion tokens are refused) and requires "exp". Refresh
// tokens are 32 random bytes; only their SHA-256 is stored (Store), so a
// leak of the table yields no usable token.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"example.com/crm"
)

// Issuer signs and verifies access tokens.
type Issuer struct {
	key []byte
	ttl time.Duration
	now func() time.Time
	// verified remembers the tokens verified lately: a client sends the
	// same token with every request, and parsing and checking it again
	// (base64, JSON, HMAC) cost ≈ 7 % of the server's CPU under W2's
	// reads. The token string is its own key: the same string always
	// verifies the same way but for the clock, which every use checks
	// against the window remembered (issued/not-before to expiry).
	mu       sync.RWMutex
	verified map[string]verifiedToken
}

// verifiedToken is a token that passed Verify: its user and when it is
// valid.
type verifiedToken struct {
	user        uuid.UUID
	from, until time.Time
}

// verifiedMax bounds the remembered tokens (≈ 300 bytes each).
const verifiedMax = 10000

// NewIssuer returns an Issuer signing with key (SECRET_KEY) for tokens
// living ttl (ACCESS_TOKEN_TTL).
func NewIssuer(key []byte, ttl time.Duration) *Issuer {
	return &Issuer{key: key, ttl: ttl, now: time.Now, verified: map[string]verifiedToken{}}
}

// TTL is the lifetime of the tokens the Issuer signs.
func (i *Issuer) TTL() time.Duration { return i.ttl }

// Issue returns a signed access token for user: sub (user id), exp, iat
// and jti (a fresh UUID, for audit and any future deny-list).
func (i *Issuer) Issue(user uuid.UUID) (string, error) {
	now := i.now()
	jti, err := uuid.NewRandom()
	if err != nil {
		return "", fmt.Errorf("tokens.Issue: %w", err)
	}
	claims := jwt.RegisteredClaims{
		Subject:   user.String(),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(i.ttl)),
		ID:        jti.String(),
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("tokens.Issue: %w", err)
	}
	return s, nil
}

// errUnauthenticated is every verification failure as the client sees it:
// which check failed is none of its business.
func errUnauthenticated() error {
	return crm.Errorf(crm.CodeUnauthenticated, "missing, malformed, expired or invalid access token")
}

// Verify checks an access token and returns its user. Anything but a
// well-formed, unexpired HS256 token signed with the key, with a UUID
// subject, is 401 UNAUTHENTICATED. Whether the user still exists is the
// caller's check.
func (i *Issuer) Verify(token string) (uuid.UUID, error) {
	now := i.now()
	i.mu.RLock()
	v, ok := i.verified[token]
	i.mu.RUnlock()
	if ok {
		if now.Before(v.from) || !now.Before(v.until) {
			return uuid.Nil, errUnauthenticated()
		}
		return v.user, nil
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &claims,
		func(*jwt.Token) (any, error) { return i.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		return uuid.Nil, errUnauthenticated()
	}
	user, err := uuid.Parse(claims.Subject)
	if err != nil || user == uuid.Nil {
		return uuid.Nil, errUnauthenticated()
	}
	i.remember(token, now, verifiedToken{user: user, from: validFrom(claims), until: claims.ExpiresAt.Time})
	return user, nil
}

// validFrom is when a token becomes valid: its iat or nbf, the later
// (the zero time when it has neither).
func validFrom(c jwt.RegisteredClaims) time.Time {
	var from time.Time
	for _, t := range []*jwt.NumericDate{c.IssuedAt, c.NotBefore} {
		if t != nil && t.After(from) {
			from = t.Time
		}
	}
	return from
}

// remember keeps a verified token; when full, it first drops the
// expired ones, then everything.
func (i *Issuer) remember(token string, now time.Time, v verifiedToken) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if len(i.verified) >= verifiedMax {
		for t, old := range i.verified {
			if !now.Before(old.until) {
				delete(i.verified, t)
			}
		}
		if len(i.verified) >= verifiedMax {
			clear(i.verified)
		}
	}
	i.verified[token] = v
}

// refreshBytes is the entropy of a refresh token.
const refreshBytes = 32

// NewRefreshToken returns a fresh opaque refresh token (32 random bytes,
// base64url without padding) and the hash under which it is stored.
func NewRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, refreshBytes)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("tokens.NewRefreshToken: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken is the SHA-256 of a refresh token, its stored form. A
// fast hash is right here: the token is 256 random bits, not a password.
func HashRefreshToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Refresh is one stored refresh token.
type Refresh struct {
	Hash      []byte
	UserID    uuid.UUID
	FamilyID  uuid.UUID
	ExpiresAt time.Time
}

// Errors a Store reports from Rotate.
var (
	// ErrRefreshInvalid: unknown, expired or revoked.
	ErrRefreshInvalid = errors.New("tokens: refresh token invalid")
	// ErrRefreshReused: already used once; the Store has revoked its
	// family.
	ErrRefreshReused = errors.New("tokens: refresh token reused")
)

// Store keeps refresh tokens (tokens/pgtokens).
type Store interface {
	// Save stores a token that starts a family.
	Save(ctx context.Context, r Refresh) error
	// Rotate atomically marks the token stored under used as used and
	// stores next (of the same user and family, filled in by the Store)
	// in its place, returning the user. A token used before revokes its
	// whole family and fails with ErrRefreshReused; an unknown, expired or
	// revoked one fails with ErrRefreshInvalid.
	Rotate(ctx context.Context, used []byte, next Refresh) (uuid.UUID, error)
}

// Pair is what login, registration and refresh hand a client.
type Pair struct {
	UserID       uuid.UUID
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime.
	ExpiresIn time.Duration
}

// Service issues token pairs and rotates refresh tokens.
type Service struct {
	issuer     *Issuer
	store      Store
	refreshTTL time.Duration
	now        func() time.Time
}

// NewService returns a Service issuing access tokens with issuer and
// refresh tokens living refreshTTL (REFRESH_TOKEN_TTL) in store.
func NewService(issuer *Issuer, store Store, refreshTTL time.Duration) *Service {
	return &Service{issuer: issuer, store: store, refreshTTL: refreshTTL, now: time.Now}
}

// Verify checks an access token (see Issuer.Verify).
func (s *Service) Verify(token string) (uuid.UUID, error) { return s.issuer.Verify(token) }

// Issue starts a session for user: an access token and the first refresh
// token of a new family.
func (s *Service) Issue(ctx context.Context, user uuid.UUID) (Pair, error) {
	raw, hash, err := NewRefreshToken()
	if err != nil {
		return Pair{}, err
	}
	family, err := uuid.NewV7()
	if err != nil {
		return Pair{}, fmt.Errorf("tokens.Issue: %w", err)
	}
	if err := s.store.Save(ctx, Refresh{Hash: hash, UserID: user, FamilyID: family, ExpiresAt: s.now().Add(s.refreshTTL)}); err != nil {
		return Pair{}, fmt.Errorf("tokens.Issue: %w", err)
	}
	return s.pair(user, raw)
}

// Refresh exchanges a refresh token for a new pair; the presented token
// can never be used again. Presenting a used token revokes every token
// of its family (the thief's and the owner's alike) and, like any unknown
// or expired token, is 401 INVALID_REFRESH_TOKEN.
func (s *Service) Refresh(ctx context.Context, token string) (Pair, error) {
	invalid := crm.Errorf(crm.CodeInvalidRefreshToken, "refresh token is invalid, expired or already used")
	if token == "" || len(token) > 256 {
		return Pair{}, invalid
	}
	raw, hash, err := NewRefreshToken()
	if err != nil {
		return Pair{}, err
	}
	user, err := s.store.Rotate(ctx, HashRefreshToken(token), Refresh{Hash: hash, ExpiresAt: s.now().Add(s.refreshTTL)})
	switch {
	case errors.Is(err, ErrRefreshInvalid), errors.Is(err, ErrRefreshReused):
		return Pair{}, invalid
	case err != nil:
		return Pair{}, fmt.Errorf("tokens.Refresh: %w", err)
	}
	return s.pair(user, raw)
}

func (s *Service) pair(user uuid.UUID, refresh string) (Pair, error) {
	access, err := s.issuer.Issue(user)
	if err != nil {
		return Pair{}, err
	}
	return Pair{UserID: user, AccessToken: access, RefreshToken: refresh, ExpiresIn: s.issuer.TTL()}, nil
}

package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"example.com/crm"
)

// TokenVerifier checks an access token and returns its user
// (tokens.Issuer, tokens.Service).
type TokenVerifier interface {
	Verify(token string) (uuid.UUID, error)
}

// UserChecker tells whether a user exists (readapi/identity).
type UserChecker interface {
	UserExists(ctx context.Context, id uuid.UUID) (bool, error)
}

// Authenticate is middleware requiring `Authorization: Bearer <access
// token>` (API.md §2). A missing header, another scheme, a token that
// does not verify (garbage, "alg: none" or any algorithm but HS256,
// expired, no exp, wrongly signed) or whose user does not exist is 401
// UNAUTHENTICATED with WWW-Authenticate: Bearer. The user's existence is
// checked on every request (a primary-key lookup), so a token cannot
// outlive its user. The request goes on with crm.WithActor.
func Authenticate(tokens TokenVerifier, users UserChecker) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			user, err := verifiedUser(tokens, r)
			if err != nil {
				return err
			}
			exists, err := users.UserExists(r.Context(), user)
			if err != nil {
				return err
			}
			if !exists {
				return crm.Errorf(crm.CodeUnauthenticated, "the token's user does not exist")
			}
			next.ServeHTTP(w, r.WithContext(crm.WithActor(r.Context(), crm.Actor{UserID: user})))
			return nil
		})
	}
}

// bearer extracts the token of a "Bearer <token>" header (the scheme is
// case-insensitive, RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// verifiedUser is the user of the request's verified bearer token (401
// without one).
func verifiedUser(tokens TokenVerifier, r *http.Request) (uuid.UUID, error) {
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return uuid.Nil, crm.Errorf(crm.CodeUnauthenticated, "an Authorization: Bearer <access token> header is required")
	}
	return tokens.Verify(token)
}

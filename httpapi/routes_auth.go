package httpapi

import (
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/readapi"
	"example.com/crm/readapi/identity"
	"example.com/crm/tokens"
)

// identityRoutes serves API.md §4 Auth and Organizations and members.
type identityRoutes struct {
	Identity
}

// mountAuth registers the auth routes: register, login and refresh on
// public (no token), /auth/me on authed. None takes a query parameter
// (Accepts).
func (h identityRoutes) mountAuth(public, authed *mux.Router) {
	public.Handle("/auth/register", Accepts(h.register)).Methods(http.MethodPost)
	public.Handle("/auth/login", Accepts(h.login)).Methods(http.MethodPost)
	public.Handle("/auth/refresh", Accepts(h.refresh)).Methods(http.MethodPost)
	authed.Handle("/auth/me", Accepts(h.me)).Methods(http.MethodGet)
}

// tokenResponse is the answer of register, login and refresh (RFC 6749
// §5.1 names, API.md §4).
type tokenResponse struct {
	AccessToken  string                 `json:"access_token"`
	RefreshToken string                 `json:"refresh_token"`
	TokenType    string                 `json:"token_type"`
	ExpiresIn    int                    `json:"expires_in"`
	User         *identity.User         `json:"user,omitempty"`
	Organization *identity.Organization `json:"organization,omitempty"`
	// Organizations are the caller's organizations (as GET
	// /organizations/me lists them), on register and login: the
	// X-Organization-Id to send next is one of their ids.
	Organizations []identity.Organization `json:"organizations,omitzero"`
}

func newTokenResponse(p tokens.Pair) tokenResponse {
	return tokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "bearer",
		ExpiresIn: int(p.ExpiresIn / time.Second)}
}

// writeTokens answers with credentials, which no cache may keep (RFC 6749
// §5.1).
func writeTokens(w http.ResponseWriter, status int, body tokenResponse) error {
	w.Header().Set("Cache-Control", "no-store")
	return WriteJSON(w, status, body)
}

// clientIP is the address the request came from. X-Forwarded-For is not
// trusted: any client can send it, and a rate limit keyed on it would be
// a limit the attacker chooses.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limit answers 429 RATE_LIMITED, with Retry-After, once subject has used
// up its attempts under scope.
func (h identityRoutes) limit(r *http.Request, scope, subject string) error {
	if h.Limiter == nil {
		return nil
	}
	ok, retry := h.Limiter.Allow(r.Context(), scope, subject)
	if ok {
		return nil
	}
	return WithRetryAfter(crm.Errorf(crm.CodeRateLimited, "too many attempts; retry later"),
		max(1, int(math.Ceil(retry.Seconds()))))
}

// limitAttempt applies the per-IP and per-e-mail limits of action
// (API.md §5 AUTH_RATE_LIMIT).
func (h identityRoutes) limitAttempt(r *http.Request, action, email string) error {
	if err := h.limit(r, action+":ip", clientIP(r)); err != nil {
		return err
	}
	if email = crm.NormalizeEmail(email); email != "" {
		return h.limit(r, action+":email", email)
	}
	return nil
}

type registerBody struct {
	Email            string `json:"email"`
	Password         string `json:"password"`
	Name             string `json:"name"`
	OrganizationName string `json:"organization_name"`
}

// register creates a user, their organization and the owner membership
// in one append, then logs them in: 201 with tokens, the user, the
// organization and the list of the caller's organizations (that one).
func (h identityRoutes) register(w http.ResponseWriter, r *http.Request) error {
	var b registerBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	if err := h.limitAttempt(r, "register", b.Email); err != nil {
		return err
	}
	reg, err := h.Commands.Register(r.Context(), commands.RegisterInput{
		Email: b.Email, Password: b.Password, Name: b.Name, OrganizationName: b.OrganizationName,
	})
	if err != nil {
		return err
	}
	pair, err := h.Sessions.Start(r.Context(), reg.User.ID)
	if err != nil {
		return err
	}
	body := newTokenResponse(pair)
	user := userView(reg.User)
	org := organizationView(reg.Organization, crm.RoleOwner)
	body.User, body.Organization = &user, &org
	body.Organizations = []identity.Organization{org}
	w.Header().Set("Location", BasePath+"/auth/me")
	setEventPosition(w, reg.Result)
	return writeTokens(w, http.StatusCreated, body)
}

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login checks e-mail and password: 200 with tokens, the user and their
// organizations (possibly none), or 401 INVALID_CREDENTIALS whether the
// e-mail or the password was wrong.
func (h identityRoutes) login(w http.ResponseWriter, r *http.Request) error {
	var b loginBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	if err := h.limitAttempt(r, "login", b.Email); err != nil {
		return err
	}
	var p []crm.FieldError
	if strings.TrimSpace(b.Email) == "" {
		p = append(p, crm.FieldError{Field: "email", Message: "must not be empty"})
	}
	if b.Password == "" {
		p = append(p, crm.FieldError{Field: "password", Message: "must not be empty"})
	}
	if len(p) > 0 {
		return crm.Invalid(p...)
	}
	pair, err := h.Sessions.Login(r.Context(), b.Email, b.Password)
	if err != nil {
		return err
	}
	user, err := h.Queries.User(r.Context(), pair.UserID)
	if err != nil {
		return err
	}
	orgs, err := h.Queries.MyOrganizations(r.Context(), pair.UserID)
	if err != nil {
		return err
	}
	if orgs == nil {
		orgs = []identity.Organization{} // "organizations": [] rather than absent
	}
	body := newTokenResponse(pair)
	body.User, body.Organizations = &user, orgs
	return writeTokens(w, http.StatusOK, body)
}

type refreshBody struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh rotates a refresh token: 200 with a new pair, or 401
// INVALID_REFRESH_TOKEN (a reused token also revokes its family).
func (h identityRoutes) refresh(w http.ResponseWriter, r *http.Request) error {
	var b refreshBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	if b.RefreshToken == "" {
		return crm.Invalid(crm.FieldError{Field: "refresh_token", Message: "must not be empty"})
	}
	pair, err := h.Sessions.Refresh(r.Context(), b.RefreshToken)
	if err != nil {
		return err
	}
	return writeTokens(w, http.StatusOK, newTokenResponse(pair))
}

// me answers the caller's user.
func (h identityRoutes) me(w http.ResponseWriter, r *http.Request) error {
	actor, err := crm.ActorFrom(r.Context())
	if err != nil {
		return err
	}
	u, err := h.Queries.User(r.Context(), actor.UserID)
	if crm.ErrorCode(err) == crm.CodeUserNotFound {
		return crm.Errorf(crm.CodeUnauthenticated, "the token's user does not exist")
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, u)
}

// userView is a user as the API shows it.
func userView(u aggregates.User) identity.User {
	return identity.User{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: readapi.NewTime(u.CreatedAt)}
}

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm/commands"
	"example.com/crm/readapi"
	"example.com/crm/readapi/identity"
	"example.com/crm/tokens"
)

// BasePath is the prefix of every API route.
const BasePath = "/api/v1"

// IdentityQueries are the reads of users, organizations and memberships
// (readapi/identity.Queries).
type IdentityQueries interface {
	UserChecker
	MembershipReader
	User(ctx context.Context, id uuid.UUID) (identity.User, error)
	MyOrganizations(ctx context.Context, user uuid.UUID) ([]identity.Organization, error)
	Organization(ctx context.Context, org, user uuid.UUID) (identity.Organization, error)
	Members(ctx context.Context, org uuid.UUID, page, pageSize int) (readapi.List[identity.Member], error)
	Member(ctx context.Context, org, user uuid.UUID) (identity.Member, error)
}

// Sessions logs users in and hands out token pairs (auth.Service).
type Sessions interface {
	Login(ctx context.Context, email, password string) (tokens.Pair, error)
	Start(ctx context.Context, user uuid.UUID) (tokens.Pair, error)
	Refresh(ctx context.Context, refreshToken string) (tokens.Pair, error)
}

// Limiter counts attempts of a subject (a client IP, an e-mail) under a
// scope and says whether one more is allowed (ratelimit.Limiter).
type Limiter interface {
	Allow(ctx context.Context, scope, subject string) (bool, time.Duration)
}

// Identity is what the auth, organization and member routes need.
type Identity struct {
	Commands    *commands.Application
	Queries     IdentityQueries
	Sessions    Sessions
	Tokens      TokenVerifier
	Limiter     Limiter
	Idempotency IdempotencyStore
	// Access, when set, makes the org-scoped routes read the user's
	// existence and membership in one query (AuthenticateInOrg).
	Access AccessReader
}

// API is the /api/v1 tree: the public auth routes, the routes of an
// authenticated user, and the org-scoped routes. Other route groups mount
// themselves on Authenticated or OrgScoped:
//
//	api := httpapi.NewAPI(router, identityDeps)
//	httpapi.Sales{...}.Mount(api.OrgScoped())
type API struct {
	v1, authed, scoped *mux.Router
	inOrg              func(http.Handler) http.Handler
}

// NewAPI mounts /api/v1 on root with the identity routes (API.md §4 Auth,
// Organizations and members) and prepares the authenticated and
// org-scoped subrouters.
func NewAPI(root *mux.Router, d Identity) *API {
	v1 := root.PathPrefix(BasePath).Subrouter()
	api := &API{v1: v1}

	public := v1.NewRoute().Subrouter()
	api.authed = v1.NewRoute().Subrouter()
	api.authed.Use(Authenticate(d.Tokens, d.Queries))
	api.inOrg = func(h http.Handler) http.Handler {
		return Chain(h, TenantFromPath(d.Queries, "org_id"), Idempotent(d.Idempotency))
	}
	id := identityRoutes{Identity: d}
	id.mountAuth(public, api.authed)
	id.mountOrganizations(api.authed, api.inOrg)

	if d.Access != nil {
		api.scoped = v1.NewRoute().Subrouter()
		api.scoped.Use(AuthenticateInOrg(d.Tokens, d.Queries, d.Access), Idempotent(d.Idempotency))
	} else {
		api.scoped = api.authed.NewRoute().Subrouter()
		api.scoped.Use(Tenant(d.Queries), Idempotent(d.Idempotency))
	}
	return api
}

// Authenticated returns the subrouter (paths relative to /api/v1) whose
// routes run behind Authenticate: the request carries crm.ActorFrom, and
// no organization.
func (api *API) Authenticated() *mux.Router { return api.authed }

// OrgScoped returns the subrouter (paths relative to /api/v1) of the
// org-scoped routes: behind Authenticate, Tenant (X-Organization-Id, 400
// ORGANIZATION_REQUIRED / 403 NOT_A_MEMBER, the role read on every
// request, or checked by the request's own statements on a route marked
// ChecksAccess) and Idempotent. Handlers read crm.ActorFrom and crm.TenantFrom;
// POST handlers honour Idempotency-Key by running their command with the
// context of Respond.
func (api *API) OrgScoped() *mux.Router { return api.scoped }

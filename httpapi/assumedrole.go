package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
)

// Requests on an assumed role.
//
// Every org-scoped request needs the caller's role, and reading it is a
// round trip of its own. A route whose database statements check the
// caller's membership and role themselves does not need that read:
//
//   - a write: the event store checks them inside the append (the append
//     fails, and the command decides again, when they changed);
//   - a read of the read models: pgread sends the check in the same
//     round trip as the query, ahead of it.
//
// So a route marked ChecksAccess starts on the role this process last
// read for the caller, and the read happens only when no statement
// confirmed the outcome:
//
//   - a statement confirmed the role (crm.ConfirmRole): the response goes
//     out as it is, and the request cost no round trip of its own;
//   - anything else (an error, a replayed Idempotency-Key, a patch that
//     changed nothing, an answer from a cache): the response is held back
//     and the role read fresh. Not a member any more: 403 NOT_A_MEMBER
//     (the user is gone: 401), whatever the handler answered; the same
//     role: the held response goes out; another role: the request runs
//     again on it, with the same body (nothing was committed by the first
//     run: a commit confirms).
//
// So every answer is the one a fresh read would have given, and the cache
// is never an authority: a stale entry costs one more read, never a wrong
// answer. Routes not marked (the organization routes, webhooks, the event
// feed, audit replay) read the role on every request.

// ChecksAccess marks h as a route whose outcome is confirmed by the
// statements that serve it (crm.ConfirmRole: a command's append, a
// pgread query). Only routes marked so may start on an assumed role;
// any other route reads the role on every request.
func ChecksAccess(h http.Handler) http.Handler { return checksAccess{h} }

type checksAccess struct{ http.Handler }

// isAccessChecked reports whether the route r matched was marked
// ChecksAccess.
func isAccessChecked(r *http.Request) bool {
	route := mux.CurrentRoute(r)
	if route == nil {
		return false
	}
	_, ok := route.GetHandler().(checksAccess)
	return ok
}

// roleCacheSize bounds the (organization, user) pairs remembered per
// process; past it, an arbitrary entry makes room.
const roleCacheSize = 10_000

// roleCache is the role this process last read (or saw confirmed) for a
// user in an organization. It is a hint, never an authority (see above).
type roleCache struct {
	mu    sync.Mutex
	roles map[roleKey]crm.Role
	max   int
}

type roleKey struct{ org, user uuid.UUID }

func newRoleCache(max int) *roleCache {
	return &roleCache{roles: make(map[roleKey]crm.Role), max: max}
}

func (c *roleCache) get(org, user uuid.UUID) (crm.Role, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.roles[roleKey{org, user}]
	return r, ok
}

func (c *roleCache) put(org, user uuid.UUID, role crm.Role) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := roleKey{org, user}
	if _, ok := c.roles[k]; !ok && len(c.roles) >= c.max {
		for old := range c.roles {
			delete(c.roles, old)
			break
		}
	}
	c.roles[k] = role
}

// read reads the user's role in org afresh and remembers it: 401 when the
// user does not exist, 403 NOT_A_MEMBER when they are not a member of the
// live organization (and nothing is remembered).
func (c *roleCache) read(ctx context.Context, access AccessReader, org, user uuid.UUID) (crm.Role, error) {
	exists, role, member, err := access.Access(ctx, org, user)
	if err != nil {
		return "", err
	}
	if !exists {
		c.forget(org, user)
		return "", crm.Errorf(crm.CodeUnauthenticated, "the token's user does not exist")
	}
	if !member {
		c.forget(org, user)
		return "", crm.Errorf(crm.CodeNotAMember, "not a member of organization %s", org)
	}
	c.put(org, user, role)
	return role, nil
}

func (c *roleCache) forget(org, user uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.roles, roleKey{org, user})
}

// serveAssumed runs next on the assumed role and settles the outcome as
// described at the top of this file.
func serveAssumed(w http.ResponseWriter, r *http.Request, next http.Handler, access AccessReader, roles *roleCache,
	org, user uuid.UUID, assumed crm.Role) error {
	base := crm.WithActor(r.Context(), crm.Actor{UserID: user})
	ctx, check := crm.WithAccessCheck(crm.WithTenant(base, crm.Tenant{OrgID: org, Role: assumed}))
	body := &recordedBody{}
	first := r.WithContext(ctx)
	if r.Body != nil && r.Body != http.NoBody {
		body.r = r.Body
		first.Body = body
	}
	held := &heldResponse{w: w, check: check, header: http.Header{}}
	next.ServeHTTP(held, first)
	if confirmed, ok := check.Confirmed(); ok {
		// Committed: never run twice.
		roles.put(org, user, confirmed)
		held.release()
		return nil
	}

	role, err := roles.read(r.Context(), access, org, user)
	if err != nil {
		return err
	}
	if role == assumed {
		held.release()
		return nil
	}
	again := r.WithContext(crm.WithTenant(base, crm.Tenant{OrgID: org, Role: role}))
	if body.r != nil {
		again.Body = body.replay()
	}
	next.ServeHTTP(w, again)
	return nil
}

// heldResponse holds a response back until it is known to be the right
// one: once the commit confirmed the role, writes go straight through;
// otherwise they are kept until release (or dropped).
type heldResponse struct {
	w      http.ResponseWriter
	check  *crm.AccessCheck
	header http.Header
	status int
	body   bytes.Buffer
	// wrote: the status is decided; passed: writes go straight to w.
	wrote, passed bool
}

func (h *heldResponse) Header() http.Header {
	if h.passed {
		return h.w.Header()
	}
	return h.header
}

func (h *heldResponse) WriteHeader(status int) {
	if h.wrote {
		return
	}
	h.wrote, h.status = true, status
	if _, ok := h.check.Confirmed(); ok {
		h.passed = true
		h.send()
	}
}

func (h *heldResponse) Write(p []byte) (int, error) {
	if !h.wrote {
		h.WriteHeader(http.StatusOK)
	}
	if h.passed {
		return h.w.Write(p)
	}
	return h.body.Write(p)
}

// send copies the held headers and status to w.
func (h *heldResponse) send() {
	dst := h.w.Header()
	for k, v := range h.header {
		dst[k] = v
	}
	h.w.WriteHeader(h.status)
}

// release sends what was held.
func (h *heldResponse) release() {
	if h.passed {
		return
	}
	if !h.wrote {
		h.status = http.StatusOK
	}
	h.passed = true
	h.send()
	_, _ = h.w.Write(h.body.Bytes())
}

// recordedBody keeps what the handler read of the request body, so that
// a second run reads the same bytes (then the rest, if the first run
// stopped early). Bodies are capped by BodyLimit.
type recordedBody struct {
	r    io.ReadCloser
	seen bytes.Buffer
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.seen.Write(p[:n])
	return n, err
}

func (b *recordedBody) Close() error { return b.r.Close() }

// replay returns the body again from its first byte.
func (b *recordedBody) replay() io.ReadCloser {
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(b.seen.Bytes()), b.r), b.r}
}

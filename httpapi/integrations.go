package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm"
	"example.com/crm/feed"
)

// Events serves the organization's event feed, GET /events (API.md
// Integrations): its events in projection order, after an opaque cursor,
// optionally filtered by type and long-polled. Owners and admins only.
type Events struct {
	Feed interface {
		Wait(ctx context.Context, org uuid.UUID, after feed.Cursor, types feed.Types, limit int, wait time.Duration) ([]feed.Event, feed.Cursor, error)
	}
}

// Mount registers GET /events on r (a subrouter under /api/v1 whose
// requests carry an actor and a tenant).
func (e Events) Mount(r *mux.Router) {
	r.Handle("/events", Accepts(e.list, "after", "limit", "type", "wait")).Methods(http.MethodGet)
}

// maxWait is the longest long poll (API.md: wait is 0–30 seconds); the
// server's write timeout is well above it.
const maxWait = 30

// feedPage is one answer of GET /events: next is always present.
type feedPage struct {
	Items []feed.Event `json:"items"`
	Next  string       `json:"next"`
}

func (e Events) list(w http.ResponseWriter, r *http.Request) error {
	org, err := requireOwnerOrAdmin(r)
	if err != nil {
		return err
	}
	var p problems
	after, err := feed.ParseCursor(single(r, "after", &p))
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	limit, fe := queryInt(r, "limit", 100, 1, feed.MaxLimit)
	if fe != nil {
		p.fields = append(p.fields, *fe)
	}
	types, err := feed.ParseTypes(r.URL.Query()["type"])
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
	wait := waitParam(r, &p)
	if err := p.err(); err != nil {
		return err
	}
	items, next, err := e.Feed.Wait(r.Context(), org, after, types, limit, wait)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, feedPage{Items: items, Next: next.String()})
}

// waitParam reads wait: whole seconds from 0 to maxWait, written "10" or
// "10s".
func waitParam(r *http.Request, p *problems) time.Duration {
	s := strings.TrimSuffix(single(r, "wait", p), "s")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxWait {
		p.add("wait", "must be whole seconds from 0 to 30 (e.g. 10 or 10s)")
		return 0
	}
	return time.Duration(n) * time.Second
}

// requireOwnerOrAdmin returns the request's organization when the caller
// is its owner or an admin, and FORBIDDEN otherwise: integrations see
// every change of the organization, so they are for those who run it.
func requireOwnerOrAdmin(r *http.Request) (uuid.UUID, error) {
	t, err := crm.TenantFrom(r.Context())
	if err != nil {
		return uuid.Nil, err
	}
	if t.Role != crm.RoleOwner && t.Role != crm.RoleAdmin {
		return uuid.Nil, crm.Errorf(crm.CodeForbidden, "integrations are for owners and admins (your role: %s)", t.Role)
	}
	return t.OrgID, nil
}

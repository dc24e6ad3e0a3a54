// Package readapi is the query side of the CRM as the HTTP layer sees it:
// the shapes of contacts, deals, tasks and activities exactly as API.md
// serializes them, the filters, sorts and paging of every list, and the
// Queries interface that answers them from the read models.
//
// It holds no SQL and imports neither aggregates nor commands: queries
// read only what the projectors wrote (readapi/pgread implements Queries
// over PostgreSQL). Every query takes the organization explicitly and is
// scoped by it: an entity of another organization is not found, never
// forbidden.
//
// Queries are read-your-writes by default: they wait until the read
// models reflect every command acknowledged before the query began. A
// caller that prefers speed over that guarantee (the HTTP header
// `Consistency: eventual`) says so with WithEventualConsistency.
package readapi

import (
	"context"

	"github.com/google/uuid"
)

// Queries answers the read routes of API.md §4 (Contacts, Deals, Tasks,
// Activities). orgID is the tenant of the request (crm.TenantFrom); a nil
// orgID fails with crm.ErrNoTenant, never with a default. Filters are
// validated first (VALIDATION_ERROR naming the query parameter); zero
// values mean the API defaults.
type Queries interface {
	// GetContact returns a live contact, or CONTACT_NOT_FOUND (also for a
	// deleted one, or one of another organization).
	GetContact(ctx context.Context, orgID, id uuid.UUID) (Contact, error)
	// ListContacts answers GET /contacts.
	ListContacts(ctx context.Context, orgID uuid.UUID, f ContactFilter) (List[Contact], error)

	// GetDeal returns a live deal, or DEAL_NOT_FOUND.
	GetDeal(ctx context.Context, orgID, id uuid.UUID) (Deal, error)
	// ListDeals answers GET /deals.
	ListDeals(ctx context.Context, orgID uuid.UUID, f DealFilter) (List[Deal], error)

	// GetTask returns a task that was not deleted, or NOT_FOUND. A task
	// whose deal was deleted is NOT_FOUND too: it went with its deal.
	GetTask(ctx context.Context, orgID, id uuid.UUID) (Task, error)
	// ListTasks answers GET /tasks. Tasks of deleted deals are not listed.
	ListTasks(ctx context.Context, orgID uuid.UUID, f TaskFilter) (List[Task], error)

	// ListActivities answers GET /deals/{deal_id}/activities: the timeline
	// of a live deal, or DEAL_NOT_FOUND.
	ListActivities(ctx context.Context, orgID, dealID uuid.UUID, f ActivityFilter) (List[Activity], error)
	// GetActivity returns one timeline entry (e.g. a comment just posted,
	// by its comment id), or NOT_FOUND. It does not check that the deal
	// is still live.
	GetActivity(ctx context.Context, orgID, id uuid.UUID) (Activity, error)
}

type ctxKey int

const eventualKey ctxKey = iota

// WithEventualConsistency returns ctx marking the queries made with it as
// content with whatever the read models hold now: they skip the wait for
// the projectors (API.md: `Consistency: eventual`).
func WithEventualConsistency(ctx context.Context) context.Context {
	return context.WithValue(ctx, eventualKey, true)
}

// IsEventual reports whether ctx opted out of read-your-writes.
func IsEventual(ctx context.Context) bool {
	v, _ := ctx.Value(eventualKey).(bool)
	return v
}

package pgread

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/readapi"
)

const dealColumns = `id, org_id, contact_id, owner_id, title, amount_cents, currency, status, stage,
	closed_at, version, created_at, updated_at`

func scanDeal(row pgx.CollectableRow, extra ...any) (readapi.Deal, error) {
	var d readapi.Deal
	var cents int64
	var closed *time.Time
	err := row.Scan(append([]any{&d.ID, &d.OrganizationID, &d.ContactID, &d.OwnerID, &d.Title, &cents, &d.Currency,
		&d.Status, &d.Stage, &closed, &d.Version, &d.CreatedAt.Time, &d.UpdatedAt.Time}, extra...)...)
	d.Amount = crm.Amount(cents)
	d.ClosedAt = optTime(closed)
	return d, err
}

// GetDeal implements readapi.Queries.
func (s *Store) GetDeal(ctx context.Context, orgID, id uuid.UUID) (d readapi.Deal, err error) {
	defer wrap(&err, "pgread.GetDeal(%s)", id)
	if ctx, err = s.begin(ctx, orgID, dealsProjector); err != nil {
		return d, err
	}
	return getOne(ctx, s.db.as(orgID),
		`SELECT `+dealColumns+` FROM deals WHERE org_id = $1 AND id = $2 AND NOT deleted`,
		scanDeal, dealNotFound(id), orgID, id)
}

func dealNotFound(id uuid.UUID) error {
	return crm.Errorf(crm.CodeDealNotFound, "deal %s not found", id)
}

// dealOrder maps a sort key to its indexed expression.
var dealOrder = map[readapi.DealOrderBy]string{
	readapi.DealsByCreatedAt: "created_at",
	readapi.DealsByUpdatedAt: "updated_at",
	readapi.DealsByAmount:    "amount_cents",
	readapi.DealsByTitle:     "lower(title)",
}

// searchTitles adds a case-insensitive, literal substring match of term
// on the deals' titles. The titles' trigram index is on deal_titles
// (migrations/00080), read through its view for the reason searches read
// org_deals; a walk along a sort index tests the deal's own title.
func searchTitles(q *query, term string) {
	p := q.like(term)
	q.match("id IN (SELECT id FROM org_deal_titles WHERE lower(title) LIKE lower("+p+"))", "lower(title) LIKE lower("+p+")")
}

// ListDeals implements readapi.Queries.
func (s *Store) ListDeals(ctx context.Context, orgID uuid.UUID, f readapi.DealFilter) (l readapi.List[readapi.Deal], err error) {
	defer wrap(&err, "pgread.ListDeals")
	if f, err = f.Normalize(); err != nil {
		return l, err
	}
	if ctx, err = s.begin(ctx, orgID, dealsProjector); err != nil {
		return l, err
	}
	q := newQuery(orgID, "NOT deleted")
	// deal_counts answers totals filtered on status, stage and currency
	// only; any other filter is counted directly.
	c := newCounter("deal_counts", orgID)
	if len(f.Statuses) > 0 {
		q.where("status = ANY(" + q.arg(f.Statuses) + ")")
		c.where("status = ANY(" + c.arg(f.Statuses) + ")")
	}
	if len(f.Stages) > 0 {
		q.where("stage = ANY(" + q.arg(f.Stages) + ")")
		c.where("stage = ANY(" + c.arg(f.Stages) + ")")
	}
	if f.Currency != "" {
		q.where("currency = " + q.arg(f.Currency))
		c.where("currency = " + c.arg(f.Currency))
	}
	narrow := false
	if f.OwnerID != uuid.Nil {
		q.where("owner_id = " + q.arg(f.OwnerID))
		narrow = true
	}
	if f.ContactID != uuid.Nil {
		q.where("contact_id = " + q.arg(f.ContactID))
		narrow = true
	}
	if f.MinAmount != nil {
		q.where("amount_cents >= " + q.arg(int64(*f.MinAmount)))
		narrow = true
	}
	if f.MaxAmount != nil {
		q.where("amount_cents <= " + q.arg(int64(*f.MaxAmount)))
		narrow = true
	}
	if f.Search != "" {
		searchTitles(q, f.Search)
		narrow = true
	}
	if !f.CreatedAfter.IsZero() {
		q.where("created_at >= " + q.arg(f.CreatedAfter))
		narrow = true
	}
	if !f.CreatedBefore.IsZero() {
		q.where("created_at <= " + q.arg(f.CreatedBefore))
		narrow = true
	}
	if narrow {
		c = nil
	}
	return list(ctx, s, q, listSpec[readapi.Deal]{
		table: "deals", columns: dealColumns, orderBy: dealOrder[f.OrderBy], order: f.Order,
		page: f.Page, scan: scanDeal, search: f.Search != "", counted: c,
	})
}

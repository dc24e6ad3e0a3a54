package pgread

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/readapi"
)

const activityColumns = `id, deal_id, author_id, type, payload, created_at`

func scanActivity(row pgx.CollectableRow, extra ...any) (readapi.Activity, error) {
	var a readapi.Activity
	var payload []byte
	err := row.Scan(append([]any{&a.ID, &a.DealID, &a.AuthorID, &a.Type, &payload, &a.CreatedAt.Time}, extra...)...)
	a.Payload = payload
	return a, err
}

// ListActivities implements readapi.Queries: DEAL_NOT_FOUND unless the
// deal is live in the organization, else its timeline.
func (s *Store) ListActivities(ctx context.Context, orgID, dealID uuid.UUID, f readapi.ActivityFilter) (l readapi.List[readapi.Activity], err error) {
	defer wrap(&err, "pgread.ListActivities(%s)", dealID)
	if f, err = f.Normalize(); err != nil {
		return l, err
	}
	if ctx, err = s.begin(ctx, orgID, dealsProjector, activitiesProjector); err != nil {
		return l, err
	}
	var live bool
	if err := s.db.as(orgID).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM deals WHERE org_id = $1 AND id = $2 AND NOT deleted)`,
		orgID, dealID).Scan(&live); err != nil {
		return l, err
	}
	if !live {
		return l, dealNotFound(dealID)
	}
	q := newQuery(orgID)
	q.where("deal_id = " + q.arg(dealID))
	if len(f.Types) > 0 {
		q.where("type = ANY(" + q.arg(f.Types) + ")")
	}
	return list(ctx, s, q, listSpec[readapi.Activity]{
		table: "activities", columns: activityColumns, orderBy: "created_at", order: f.Order,
		page: f.Page, scan: scanActivity,
	})
}

// GetActivity implements readapi.Queries.
func (s *Store) GetActivity(ctx context.Context, orgID, id uuid.UUID) (a readapi.Activity, err error) {
	defer wrap(&err, "pgread.GetActivity(%s)", id)
	if ctx, err = s.begin(ctx, orgID, activitiesProjector); err != nil {
		return a, err
	}
	return getOne(ctx, s.db.as(orgID), `SELECT `+activityColumns+` FROM activities WHERE org_id = $1 AND id = $2`,
		scanActivity, crm.Errorf(crm.CodeNotFound, "activity %s not found", id), orgID, id)
}

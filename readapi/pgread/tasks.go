package pgread

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm"
	"example.com/crm/readapi"
)

const taskColumns = `id, deal_id, title, description, due_date, is_done, completed_at, version, created_at, updated_at`

// listedTasks is the predicate of the task list indexes, verbatim.
const listedTasks = "NOT deleted AND NOT deal_deleted"

func scanTask(row pgx.CollectableRow, extra ...any) (readapi.Task, error) {
	var t readapi.Task
	var due time.Time
	var completed *time.Time
	err := row.Scan(append([]any{&t.ID, &t.DealID, &t.Title, &t.Description, &due, &t.IsDone, &completed, &t.Version,
		&t.CreatedAt.Time, &t.UpdatedAt.Time}, extra...)...)
	t.DueDate = due.Format(time.DateOnly)
	t.CompletedAt = optTime(completed)
	return t, err
}

// GetTask implements readapi.Queries. A task of a deleted deal is not
// found: it is gone with its deal, for every verb (README).
func (s *Store) GetTask(ctx context.Context, orgID, id uuid.UUID) (t readapi.Task, err error) {
	defer wrap(&err, "pgread.GetTask(%s)", id)
	if ctx, err = s.begin(ctx, orgID, tasksProjector); err != nil {
		return t, err
	}
	return getOne(ctx, s.db.as(orgID),
		`SELECT `+taskColumns+` FROM tasks WHERE org_id = $1 AND id = $2 AND NOT deleted AND NOT deal_deleted`,
		scanTask, crm.Errorf(crm.CodeNotFound, "task %s not found", id), orgID, id)
}

// taskOrder maps a sort key to its indexed expression.
var taskOrder = map[readapi.TaskOrderBy]string{
	readapi.TasksByDueDate:   "due_date",
	readapi.TasksByCreatedAt: "created_at",
}

// ListTasks implements readapi.Queries.
func (s *Store) ListTasks(ctx context.Context, orgID uuid.UUID, f readapi.TaskFilter) (l readapi.List[readapi.Task], err error) {
	defer wrap(&err, "pgread.ListTasks")
	if f, err = f.Normalize(); err != nil {
		return l, err
	}
	if ctx, err = s.begin(ctx, orgID, tasksProjector); err != nil {
		return l, err
	}
	q := newQuery(orgID, listedTasks)
	// task_counts answers totals unless the list is one deal's.
	c := newCounter("task_counts", orgID)
	if f.DealID != uuid.Nil {
		q.where("deal_id = " + q.arg(f.DealID))
		c = nil
	}
	for _, w := range []*query{q, c} {
		if w == nil {
			continue
		}
		if f.OnlyOpen {
			w.where("NOT is_done")
		}
		if !f.DueAfter.IsZero() {
			w.where("due_date >= " + w.arg(utcDate(f.DueAfter)))
		}
		if !f.DueBefore.IsZero() {
			w.where("due_date <= " + w.arg(utcDate(f.DueBefore)))
		}
	}
	spec := listSpec[readapi.Task]{
		table: "tasks", columns: taskColumns, orderBy: taskOrder[f.OrderBy], order: f.Order,
		page: f.Page, scan: scanTask, counted: c,
	}
	if c != nil && f.OrderBy == readapi.TasksByDueDate && f.Page.Offset() >= s.deepOffset {
		// Keyset from the counters: task_counts has a row per due date, so
		// the day on which the page starts, and how many listed tasks come
		// before that day, are a sum over at most a few thousand rows;
		// the page is then found from that day on, instead of walking
		// every task before it.
		cmp, dir := "<=", "ASC"
		if f.Order == readapi.Desc {
			cmp, dir = ">=", "DESC"
		}
		n := len(c.args)
		var day *time.Time
		var before, total int64
		err := s.db.as(orgID).QueryRow(ctx, `
			WITH d AS (SELECT due_date, sum(n) AS n FROM task_counts WHERE `+strings.Join(c.conds, " AND ")+` GROUP BY due_date),
			     b AS (SELECT due_date, coalesce(sum(n) OVER (ORDER BY due_date `+dir+` ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint AS before FROM d)
			SELECT (SELECT due_date FROM b WHERE before <= $`+strconv.Itoa(n+1)+` ORDER BY due_date `+flip(dir)+` LIMIT 1),
			       coalesce((SELECT before FROM b WHERE before <= $`+strconv.Itoa(n+1)+` ORDER BY due_date `+flip(dir)+` LIMIT 1), 0)::bigint,
			       coalesce((SELECT sum(n) FROM d), 0)::bigint`,
			append(c.args[:n:n], f.Page.Offset())...).Scan(&day, &before, &total)
		if err != nil {
			return l, err
		}
		if day != nil {
			q.where("due_date " + flipCmp(cmp) + " " + q.arg(utcDate(*day)))
			spec.skipped = before
		}
		spec.total = &total
	}
	return list(ctx, s, q, spec)
}

// flip turns a sort direction around.
func flip(dir string) string {
	if dir == "ASC" {
		return "DESC"
	}
	return "ASC"
}

// flipCmp turns "<=" into ">=" and back.
func flipCmp(cmp string) string {
	if cmp == "<=" {
		return ">="
	}
	return "<="
}

// utcDate is t's UTC calendar date at midnight UTC (pgx sends a date's
// year, month and day as they are in the time's location).
func utcDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// optTime turns a nullable column into a nullable readapi.Time.
func optTime(t *time.Time) *readapi.Time {
	if t == nil {
		return nil
	}
	return &readapi.Time{Time: *t}
}

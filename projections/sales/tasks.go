package sales

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"example.com/crm/events"
	"example.com/crm/projections"
)

// Task is a row of the tasks table.
type Task struct {
	OrgID       uuid.UUID  `db:"org_id" json:"org_id"`
	ID          uuid.UUID  `db:"id" json:"id"`
	DealID      uuid.UUID  `db:"deal_id" json:"deal_id"`
	Title       string     `db:"title" json:"title"`
	Description *string    `db:"description" json:"description"`
	DueDate     Date       `db:"due_date" json:"due_date"`
	IsDone      bool       `db:"is_done" json:"is_done"`
	CompletedAt *time.Time `db:"completed_at" json:"completed_at"`
	Version     int        `db:"version" json:"version"`
	Deleted     bool       `db:"deleted" json:"deleted"`
	DealDeleted bool       `db:"deal_deleted" json:"deal_deleted"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time  `db:"updated_at" json:"updated_at"`
}

// listed reports whether the task counts in the task lists.
func (t *Task) listed() bool { return !t.Deleted && !t.DealDeleted }

var (
	tasks = projections.NewTable("tasks", [2]string{"org_id", "id"},
		func(t *Task) projections.Key { return projections.Key{Org: t.OrgID, ID: t.ID} })
	// taskCounts: listed tasks per due date and state (list totals).
	taskCounts = projections.NewCounter("task_counts", []string{"org_id", "due_date", "is_done"}, []string{"n"})
)

// applyTask is the tasks read model's reducer for the task's own stream.
// Every task event moves updated_at.
func applyTask(t *Task, e events.Event) (*Task, error) {
	if c, ok := e.Data.(events.TaskCreated); ok {
		if t != nil {
			return t, nil
		}
		due, err := time.Parse(time.DateOnly, c.DueDate)
		if err != nil {
			return nil, fmt.Errorf("task.created: due_date: %w", err)
		}
		return &Task{OrgID: e.TenantID, ID: e.StreamID, DealID: c.DealID, Title: c.Title, Description: c.Description,
			DueDate: Date{due}, Version: e.Version, CreatedAt: e.OccurredAt, UpdatedAt: e.OccurredAt}, nil
	}
	if t == nil || !fresh(t.Version, e) {
		return t, nil
	}
	next := *t
	next.Version, next.UpdatedAt = e.Version, e.OccurredAt
	switch c := e.Data.(type) {
	case events.TaskUpdated:
		for field, ch := range c.Changes {
			var err error
			switch field {
			case "title":
				next.Title, err = newString(field, ch)
			case "description":
				next.Description, err = newNullable(field, ch)
			case "due_date":
				var d time.Time
				d, err = newDate(field, ch)
				next.DueDate = Date{d}
			}
			if err != nil {
				return nil, fmt.Errorf("task.updated: %w", err)
			}
		}
	case events.TaskCompleted:
		at := e.OccurredAt
		next.IsDone, next.CompletedAt = true, &at
	case events.TaskReopened:
		next.IsDone, next.CompletedAt = false, nil
	case events.TaskDeleted:
		next.Deleted = true
	}
	return &next, nil
}

// TasksProjector maintains the tasks table and task_counts. It also
// reads deal.deleted: the deal's tasks are flagged deal_deleted and leave
// the task lists with their deal.
func TasksProjector() projections.Projector {
	return projections.Projector{Name: NameTasks, Model: tasksModel{}}
}

type tasksModel struct{}

func (tasksModel) Tables() []projections.TableInfo {
	return []projections.TableInfo{tasks.Info(), taskCounts.Info()}
}

func (tasksModel) Wants(t string) bool {
	return strings.HasPrefix(t, "task.") || t == events.DealDeleted{}.EventType()
}

func (tasksModel) NewFold(names projections.Names) projections.Fold {
	return &tasksFold{names: names, rows: projections.NewRows(tasks), byDeal: map[projections.Key][]uuid.UUID{}}
}

type tasksFold struct {
	names projections.Names
	rows  *projections.Rows[Task]
	// byDeal indexes the working set's tasks by deal, for deal.deleted.
	byDeal  map[projections.Key][]uuid.UUID
	indexed bool
	doubt   bool // read the rows of new tasks too (projections.Doubter)
}

// ReadEveryRow implements projections.Doubter.
func (f *tasksFold) ReadEveryRow() { f.doubt = true }

func (f *tasksFold) Load(b *pgx.Batch, batch []events.Event) {
	stored, fresh := projections.StreamKeys(batch, func(e events.Event) bool { return e.StreamType == events.StreamTask }, f.doubt)
	f.rows.Load(b, f.names, stored)
	f.rows.Fresh(fresh)
	var orgs, dealIDs []uuid.UUID
	for _, e := range batch {
		if _, ok := e.Data.(events.DealDeleted); ok {
			orgs, dealIDs = append(orgs, e.TenantID), append(dealIDs, e.StreamID)
		}
	}
	if len(dealIDs) > 0 {
		f.rows.LoadWhere(b, f.names, nil,
			`(t.org_id, t.deal_id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[])) AND NOT t.deleted AND NOT t.deal_deleted`,
			orgs, dealIDs)
	}
}

func (f *tasksFold) index(t *Task) {
	k := projections.Key{Org: t.OrgID, ID: t.DealID}
	f.byDeal[k] = append(f.byDeal[k], t.ID)
}

// indexLoaded indexes the rows loaded for this batch (once, before the
// first event is applied).
func (f *tasksFold) indexLoaded() {
	if f.indexed {
		return
	}
	f.indexed = true
	for _, t := range f.rows.All() {
		f.index(t)
	}
}

func (f *tasksFold) Apply(e events.Event) error {
	f.indexLoaded()
	if _, ok := e.Data.(events.DealDeleted); ok {
		// Idempotent by nature (it only ever sets the flag), and
		// complete: a task cannot be created on a deleted deal
		// (deal.task_added guards it), so every task of the deal came
		// before its deal.deleted.
		for _, id := range f.byDeal[key(e)] {
			t := f.rows.Get(projections.Key{Org: e.TenantID, ID: id})
			if t == nil || t.DealDeleted || t.Deleted {
				continue
			}
			next := *t
			next.DealDeleted = true
			f.rows.Put(&next)
		}
		return nil
	}
	if e.StreamType != events.StreamTask {
		return nil
	}
	cur, at := f.rows.Row(key(e))
	next, err := applyTask(cur, e)
	if err != nil || next == cur {
		return err
	}
	if cur == nil {
		f.index(next)
	}
	f.rows.Replace(at, next)
	return nil
}

func (f *tasksFold) Flush(b *pgx.Batch) error {
	counts := taskCounts.Fresh()
	f.rows.Changed(func(before, after *Task) {
		if before != nil && before.listed() {
			counts.Add([]any{before.OrgID, before.DueDate, before.IsDone}, -1)
		}
		if after.listed() {
			counts.Add([]any{after.OrgID, after.DueDate, after.IsDone}, 1)
		}
	})
	if err := f.rows.QueueUpsert(b, f.names); err != nil {
		return err
	}
	return counts.Queue(b, f.names)
}

func (f *tasksFold) Copy(ctx context.Context, conn *pgx.Conn) error {
	if err := f.rows.Copy(ctx, conn, f.names); err != nil {
		return err
	}
	return projections.DeriveCounters(ctx, conn, f.names, tasks.Name, []projections.CounterSpec[Task]{{
		Counter: taskCounts,
		Derive: `SELECT org_id, due_date, is_done, count(*) FROM %s WHERE NOT deleted AND NOT deal_deleted
			GROUP BY org_id, due_date, is_done`,
	}})
}

// Date is a calendar date (a PostgreSQL date): JSON "2006-01-02".
type Date struct{ time.Time }

// MarshalJSON writes the date as YYYY-MM-DD.
func (d Date) MarshalJSON() ([]byte, error) {
	return []byte(`"` + d.Format(time.DateOnly) + `"`), nil
}

// ScanDate lets pgx scan a date column.
func (d *Date) ScanDate(v pgtype.Date) error {
	if !v.Valid {
		return fmt.Errorf("date is NULL")
	}
	d.Time = v.Time
	return nil
}

// DateValue lets pgx write a date column (COPY).
func (d Date) DateValue() (pgtype.Date, error) {
	return pgtype.Date{Time: d.Time, Valid: true}, nil
}

// String keeps counter keys stable.
func (d Date) String() string { return d.Format(time.DateOnly) }

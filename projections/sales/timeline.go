package sales

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"example.com/crm/events"
	"example.com/crm/projections"
	"example.com/crm/readapi"
)

// Activity is a row of the activities table: one timeline entry.
type Activity struct {
	OrgID     uuid.UUID       `db:"org_id" json:"org_id"`
	ID        uuid.UUID       `db:"id" json:"id"`
	DealID    uuid.UUID       `db:"deal_id" json:"deal_id"`
	AuthorID  *uuid.UUID      `db:"author_id" json:"author_id"`
	Type      string          `db:"type" json:"type"`
	Payload   json.RawMessage `db:"payload" json:"payload"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
}

var activities = projections.NewTable("activities", [2]string{"org_id", "id"},
	func(a *Activity) projections.Key { return projections.Key{Org: a.OrgID, ID: a.ID} })

// activityOf is the timeline's reducer: the entry e adds, or nil. Every
// event of a deal's stream and of its tasks' streams becomes one entry,
// with the event's id, its actor as author and its occurred_at as
// created_at; a comment's entry takes the comment id.
//
// Not on the timeline: deal.task_added (task_created says it),
// contact.deal_linked/unlinked (the contact's bookkeeping), and
// deal.deleted: a deleted deal's timeline answers 404, so the entry could
// never be read, and GET /deals/{id}/history is the audit trail of a
// deletion.
func activityOf(e events.Event) (*Activity, error) {
	id, dealID := e.ID, e.StreamID
	var typ string
	var payload any
	switch d := e.Data.(type) {
	case events.DealCreated:
		typ, payload = readapi.ActivityDealCreated, dealCreatedEntry{
			Title: d.Title, Amount: d.Amount.String(), Currency: d.Currency,
			Status: d.Status, Stage: d.Stage, ContactID: d.ContactID, OwnerID: d.OwnerID,
		}
	case events.DealStageChanged:
		typ, payload = readapi.ActivityStageChanged, events.Change{Old: d.Old, New: d.New}
	case events.DealStatusChanged:
		typ, payload = readapi.ActivityStatusChanged, events.Change{Old: d.Old, New: d.New}
	case events.DealUpdated:
		changes, err := dealChanges(d.Changes)
		if err != nil {
			return nil, fmt.Errorf("deal.updated: %w", err)
		}
		typ, payload = readapi.ActivityDealUpdated, changesEntry{Changes: changes}
	case events.DealCommented:
		id, typ, payload = d.CommentID, readapi.ActivityComment, commentEntry{Text: d.Text}
	case events.TaskCreated:
		dealID, typ = d.DealID, readapi.ActivityTaskCreated
		payload = taskCreatedEntry{TaskID: e.StreamID, Title: d.Title, DueDate: d.DueDate}
	case events.TaskUpdated:
		changes := d.Changes
		if changes == nil {
			changes = map[string]events.Change{}
		}
		dealID, typ = d.DealID, readapi.ActivityTaskUpdated
		payload = taskChangesEntry{TaskID: e.StreamID, Changes: changes}
	case events.TaskCompleted:
		dealID, typ, payload = d.DealID, readapi.ActivityTaskCompleted, taskEntry{TaskID: e.StreamID, Title: d.Title}
	case events.TaskReopened:
		dealID, typ, payload = d.DealID, readapi.ActivityTaskReopened, taskEntry{TaskID: e.StreamID, Title: d.Title}
	case events.TaskDeleted:
		dealID, typ, payload = d.DealID, readapi.ActivityTaskDeleted, taskEntry{TaskID: e.StreamID, Title: d.Title}
	default:
		return nil, nil
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: payload: %w", e.Type, err)
	}
	return &Activity{OrgID: e.TenantID, ID: id, DealID: dealID, AuthorID: e.Metadata.ActorID, Type: typ,
		Payload: body, CreatedAt: e.OccurredAt}, nil
}

// The payloads of timeline entries (readapi's Activity* constants say
// which type carries which).
type (
	dealCreatedEntry struct {
		Title     string    `json:"title"`
		Amount    string    `json:"amount"`
		Currency  string    `json:"currency"`
		Status    string    `json:"status"`
		Stage     string    `json:"stage"`
		ContactID uuid.UUID `json:"contact_id"`
		OwnerID   uuid.UUID `json:"owner_id"`
	}
	changesEntry struct {
		Changes map[string]events.Change `json:"changes"`
	}
	commentEntry struct {
		Text string `json:"text"`
	}
	taskCreatedEntry struct {
		TaskID  uuid.UUID `json:"task_id"`
		Title   string    `json:"title"`
		DueDate string    `json:"due_date"`
	}
	taskChangesEntry struct {
		TaskID  uuid.UUID                `json:"task_id"`
		Changes map[string]events.Change `json:"changes"`
	}
	taskEntry struct {
		TaskID uuid.UUID `json:"task_id"`
		Title  string    `json:"title"`
	}
)

// ActivitiesProjector maintains the deal timeline (the activities
// table). Entries are never updated: a replay inserts nothing twice.
func ActivitiesProjector() projections.Projector {
	return projections.Projector{Name: NameActivities, Model: activitiesModel{}}
}

type activitiesModel struct{}

func (activitiesModel) Tables() []projections.TableInfo {
	return []projections.TableInfo{activities.Info()}
}

func (activitiesModel) Wants(t string) bool {
	return strings.HasPrefix(t, "deal.") || strings.HasPrefix(t, "task.")
}

func (activitiesModel) NewFold(names projections.Names) projections.Fold {
	return &activitiesFold{names: names}
}

type activitiesFold struct {
	names projections.Names
	rows  []*Activity
	// While a rebuild streams (StartCopy), full chunks of rows go to
	// the COPY on chunks, and copied receives its outcome.
	chunks chan []*Activity
	copied chan error
}

// streamChunk is how many rows a streaming fold hands the COPY at once.
const streamChunk = 2000

func (f *activitiesFold) Load(*pgx.Batch, []events.Event) {}

func (f *activitiesFold) Apply(e events.Event) error {
	a, err := activityOf(e)
	if a != nil {
		f.rows = append(f.rows, a)
		if f.chunks != nil && len(f.rows) == streamChunk {
			f.chunks <- f.rows
			f.rows = make([]*Activity, 0, streamChunk)
		}
	}
	return err
}

// StartCopy implements projections.Streamer.
func (f *activitiesFold) StartCopy(ctx context.Context, conn *pgx.Conn) {
	f.chunks, f.copied = make(chan []*Activity, 4), make(chan error, 1)
	go func() {
		_, err := activities.CopyStream(ctx, conn, f.names, f.chunks)
		f.copied <- err
	}()
}

func (f *activitiesFold) Flush(b *pgx.Batch) error {
	return activities.QueueInsert(b, f.names, f.rows)
}

func (f *activitiesFold) Copy(ctx context.Context, conn *pgx.Conn) error {
	if f.chunks != nil {
		if len(f.rows) > 0 {
			f.chunks <- f.rows
		}
		close(f.chunks)
		f.rows, f.chunks = nil, nil
		return <-f.copied
	}
	_, err := activities.Copy(ctx, conn, f.names, f.rows)
	f.rows = nil
	return err
}

// dealChanges copies a deal.updated change set for the timeline, with
// amounts in the API's format: decimal strings with two fraction digits.
func dealChanges(in map[string]events.Change) (map[string]events.Change, error) {
	out := make(map[string]events.Change, len(in))
	for field, ch := range in {
		if field == "amount" {
			old, err := amountOf(ch.Old)
			if err != nil {
				return nil, fmt.Errorf("old amount: %w", err)
			}
			next, err := amountOf(ch.New)
			if err != nil {
				return nil, fmt.Errorf("new amount: %w", err)
			}
			ch = events.Change{Old: old.String(), New: next.String()}
		}
		out[field] = ch
	}
	return out, nil
}

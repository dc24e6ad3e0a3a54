package readapi

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
)

// Contact is a contact as API.md §4 serializes it.
type Contact struct {
	ID             uuid.UUID `json:"id"`
	OrganizationID uuid.UUID `json:"organization_id"`
	OwnerID        uuid.UUID `json:"owner_id"`
	Name           string    `json:"name"`
	Email          *string   `json:"email"`
	Phone          *string   `json:"phone"`
	// Version is the contact stream's version (the ETag). It also moves
	// when a deal links to or unlinks from the contact.
	Version   int  `json:"version"`
	CreatedAt Time `json:"created_at"`
	// UpdatedAt moves with the contact's own fields only.
	UpdatedAt Time `json:"updated_at"`
}

// Deal is a deal as API.md §4 serializes it; Amount prints as a decimal
// string with two fraction digits ("10000.00").
type Deal struct {
	ID             uuid.UUID  `json:"id"`
	OrganizationID uuid.UUID  `json:"organization_id"`
	ContactID      uuid.UUID  `json:"contact_id"`
	OwnerID        uuid.UUID  `json:"owner_id"`
	Title          string     `json:"title"`
	Amount         crm.Amount `json:"amount"`
	Currency       string     `json:"currency"`
	Status         string     `json:"status"`
	Stage          string     `json:"stage"`
	ClosedAt       *Time      `json:"closed_at"`
	// Version is the deal stream's version (the ETag). It also moves with
	// comments and task additions, which leave UpdatedAt alone.
	Version   int  `json:"version"`
	CreatedAt Time `json:"created_at"`
	UpdatedAt Time `json:"updated_at"`
}

// Task is a task as API.md §4 serializes it; DueDate is YYYY-MM-DD.
type Task struct {
	ID          uuid.UUID `json:"id"`
	DealID      uuid.UUID `json:"deal_id"`
	Title       string    `json:"title"`
	Description *string   `json:"description"`
	DueDate     string    `json:"due_date"`
	IsDone      bool      `json:"is_done"`
	CompletedAt *Time     `json:"completed_at"`
	Version     int       `json:"version"`
	CreatedAt   Time      `json:"created_at"`
	UpdatedAt   Time      `json:"updated_at"`
}

// Activity is one entry of a deal's timeline. Its id is the id of the
// event it comes from (the comment id for comments); its author is the
// actor of that event (null for events without one).
type Activity struct {
	ID        uuid.UUID       `json:"id"`
	DealID    uuid.UUID       `json:"deal_id"`
	AuthorID  *uuid.UUID      `json:"author_id"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt Time            `json:"created_at"`
}

// The activity types of API.md §4 Activities, and their payloads. Amounts
// inside payloads are decimal strings ("10.00"), like everywhere in the
// API.
const (
	// ActivityDealCreated: {title, amount, currency, status, stage,
	// contact_id, owner_id}.
	ActivityDealCreated = "deal_created"
	// ActivityStageChanged: {old, new}.
	ActivityStageChanged = "stage_changed"
	// ActivityStatusChanged: {old, new}.
	ActivityStatusChanged = "status_changed"
	// ActivityDealUpdated: {changes: {field: {old, new}}} for title,
	// amount, currency, contact_id, owner_id.
	ActivityDealUpdated = "deal_updated"
	// ActivityTaskCreated: {task_id, title, due_date}.
	ActivityTaskCreated = "task_created"
	// ActivityTaskCompleted: {task_id, title}.
	ActivityTaskCompleted = "task_completed"
	// ActivityTaskReopened: {task_id, title}.
	ActivityTaskReopened = "task_reopened"
	// ActivityTaskUpdated: {task_id, changes: {field: {old, new}}} for
	// title, description, due_date.
	ActivityTaskUpdated = "task_updated"
	// ActivityTaskDeleted: {task_id, title}.
	ActivityTaskDeleted = "task_deleted"
	// ActivityComment: {text}.
	ActivityComment = "comment"
)

// ActivityTypes lists every activity type, in the order API.md names them.
func ActivityTypes() []string {
	return []string{
		ActivityDealCreated, ActivityStageChanged, ActivityStatusChanged, ActivityDealUpdated,
		ActivityTaskCreated, ActivityTaskCompleted, ActivityTaskReopened, ActivityTaskUpdated,
		ActivityTaskDeleted, ActivityComment,
	}
}

// List is one page of a list: {"items": [...], "total": N, "page": P,
// "page_size": S}. Items is never null: an empty page is [].
//
// Total is exact, except where counting every match would cost more than
// a page (a wide search, a wide filter that no counter table answers):
// then the matches are counted up to a cap, Total is a lower bound (at
// least the cap, and at least the items up to this page), and
// TotalIsLowerBound is true; the field is left out otherwise. Pages past
// the cap are still served: page until a page comes back short.
type List[T any] struct {
	Items             []T   `json:"items"`
	Total             int64 `json:"total"`
	TotalIsLowerBound bool  `json:"total_is_lower_bound,omitempty"`
	Page              int   `json:"page"`
	PageSize          int   `json:"page_size"`
}

// TimeLayout is how API.md writes instants: RFC 3339 in UTC, with
// milliseconds and Z ("2026-11-25T19:08:38.123Z").
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Time is an instant that serializes with TimeLayout, in UTC. A nullable
// timestamp is a *Time (nil is null).
type Time struct{ time.Time }

// NewTime returns t as a Time.
func NewTime(t time.Time) Time { return Time{t} }

// String formats t with TimeLayout.
func (t Time) String() string { return t.UTC().Format(TimeLayout) }

// MarshalJSON writes t as "2026-11-25T19:08:38.123Z".
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.String() + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 timestamp (for clients and tests).
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("readapi.Time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("readapi.Time: %w", err)
	}
	t.Time = v
	return nil
}

package events

import (
	"github.com/google/uuid"

	"example.com/crm"
)

// Stream types of the sales domain.
const (
	StreamContact = "contact"
	StreamDeal    = "deal"
	StreamTask    = "task"
)

// Change is the old and new value of one field, as JSON values.
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// ContactCreated starts a contact's stream.
type ContactCreated struct {
	ContactID uuid.UUID `json:"contact_id"`
	OwnerID   uuid.UUID `json:"owner_id"`
	Name      string    `json:"name"`
	Email     *string   `json:"email"`
	Phone     *string   `json:"phone"`
}

// EventType implements Payload.
func (ContactCreated) EventType() string { return "contact.created" }

// ContactUpdated records changed fields (name, email, phone, owner_id).
type ContactUpdated struct {
	Changes map[string]Change `json:"changes"`
}

// EventType implements Payload.
func (ContactUpdated) EventType() string { return "contact.updated" }

// ContactDeleted ends a contact.
type ContactDeleted struct{}

// EventType implements Payload.
func (ContactDeleted) EventType() string { return "contact.deleted" }

// ContactDealLinked is appended to the contact's stream when a deal starts
// referencing it, in the same transaction as the deal's event: it is what
// makes "delete a contact with deals" and "create a deal for it" unable to
// both succeed.
type ContactDealLinked struct {
	DealID uuid.UUID `json:"deal_id"`
}

// EventType implements Payload.
func (ContactDealLinked) EventType() string { return "contact.deal_linked" }

// ContactDealUnlinked is appended when a deal stops referencing the
// contact (deleted, or moved to another contact).
type ContactDealUnlinked struct {
	DealID uuid.UUID `json:"deal_id"`
}

// EventType implements Payload.
func (ContactDealUnlinked) EventType() string { return "contact.deal_unlinked" }

// DealCreated starts a deal's stream: status new, stage qualification.
// Amount is stored as the API shows it, a decimal string ("10000.00"), as
// in deal.updated; in Go it is a crm.Amount (minor units), never a float.
type DealCreated struct {
	DealID    uuid.UUID  `json:"deal_id"`
	ContactID uuid.UUID  `json:"contact_id"`
	OwnerID   uuid.UUID  `json:"owner_id"`
	Title     string     `json:"title"`
	Amount    crm.Amount `json:"amount"`
	Currency  string     `json:"currency"`
	Status    string     `json:"status"`
	Stage     string     `json:"stage"`
}

// EventType implements Payload.
func (DealCreated) EventType() string { return "deal.created" }

// DealStageChanged moves a deal through the pipeline.
type DealStageChanged struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// EventType implements Payload.
func (DealStageChanged) EventType() string { return "deal.stage_changed" }

// DealStatusChanged changes a deal's status; ClosedAt follows (set when
// won or lost, cleared otherwise).
type DealStatusChanged struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// EventType implements Payload.
func (DealStatusChanged) EventType() string { return "deal.status_changed" }

// DealUpdated records changed fields among title, amount (a decimal
// string such as "10.00", as in the API),
// currency, contact_id and owner_id.
type DealUpdated struct {
	Changes map[string]Change `json:"changes"`
}

// EventType implements Payload.
func (DealUpdated) EventType() string { return "deal.updated" }

// DealDeleted removes a deal from lists and analytics; its history stays.
type DealDeleted struct{}

// EventType implements Payload.
func (DealDeleted) EventType() string { return "deal.deleted" }

// DealCommented is a comment on the deal's timeline.
type DealCommented struct {
	CommentID uuid.UUID `json:"comment_id"`
	Text      string    `json:"text"`
}

// EventType implements Payload.
func (DealCommented) EventType() string { return "deal.commented" }

// DealTaskAdded is appended to the deal's stream with a task's creation,
// so a task can never be created on a deal that is concurrently deleted.
type DealTaskAdded struct {
	TaskID uuid.UUID `json:"task_id"`
}

// EventType implements Payload.
func (DealTaskAdded) EventType() string { return "deal.task_added" }

// TaskCreated starts a task's stream. DueDate is YYYY-MM-DD.
type TaskCreated struct {
	TaskID      uuid.UUID `json:"task_id"`
	DealID      uuid.UUID `json:"deal_id"`
	Title       string    `json:"title"`
	Description *string   `json:"description"`
	DueDate     string    `json:"due_date"`
}

// EventType implements Payload.
func (TaskCreated) EventType() string { return "task.created" }

// TaskUpdated records changed fields among title, description, due_date.
type TaskUpdated struct {
	DealID  uuid.UUID         `json:"deal_id"`
	Changes map[string]Change `json:"changes"`
}

// EventType implements Payload.
func (TaskUpdated) EventType() string { return "task.updated" }

// TaskCompleted marks a task done.
type TaskCompleted struct {
	DealID uuid.UUID `json:"deal_id"`
	Title  string    `json:"title"`
}

// EventType implements Payload.
func (TaskCompleted) EventType() string { return "task.completed" }

// TaskReopened marks a done task open again.
type TaskReopened struct {
	DealID uuid.UUID `json:"deal_id"`
	Title  string    `json:"title"`
}

// EventType implements Payload.
func (TaskReopened) EventType() string { return "task.reopened" }

// TaskDeleted ends a task.
type TaskDeleted struct {
	DealID uuid.UUID `json:"deal_id"`
	Title  string    `json:"title"`
}

// EventType implements Payload.
func (TaskDeleted) EventType() string { return "task.deleted" }

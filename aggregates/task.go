package aggregates

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
)

// MaxDescriptionLen is the longest task description, in characters.
const MaxDescriptionLen = 10000

// Task is a to-do on a deal, rebuilt from its "task" stream. A task is
// "own" for a member when its deal is (API.md §3), so every decision takes
// the task's deal.
type Task struct {
	ID, OrgID, DealID uuid.UUID
	Title             string
	Description       *string
	DueDate           string // YYYY-MM-DD
	IsDone            bool
	// CompletedAt is the time of the completion while the task is done.
	CompletedAt          *time.Time
	Deleted              bool
	Version              int
	CreatedAt, UpdatedAt time.Time
}

// TaskInput is the body of "create a task" (its deal is passed apart).
type TaskInput struct {
	Title       string
	Description *string
	DueDate     string
}

// TaskPatch is the body of "update a task": only the fields Set change; a
// nil Description value clears it.
type TaskPatch struct {
	Title       Field[string]
	Description Field[*string]
	DueDate     Field[string]
	IsDone      Field[bool]
}

// Apply implements State.
func (t *Task) Apply(e events.Event) {
	switch p := e.Data.(type) {
	case events.TaskCreated:
		t.ID, t.OrgID, t.DealID = p.TaskID, e.TenantID, p.DealID
		t.Title, t.Description, t.DueDate = p.Title, clonePtr(p.Description), p.DueDate
		t.CreatedAt = e.OccurredAt
	case events.TaskUpdated:
		for field, ch := range p.Changes {
			switch field {
			case "title":
				if s, ok := changedString(ch); ok {
					t.Title = s
				}
			case "description":
				t.Description = changedPtr(ch)
			case "due_date":
				if s, ok := changedString(ch); ok {
					t.DueDate = s
				}
			}
		}
	case events.TaskCompleted:
		at := e.OccurredAt
		t.IsDone, t.CompletedAt = true, &at
	case events.TaskReopened:
		t.IsDone, t.CompletedAt = false, nil
	case events.TaskDeleted:
		t.Deleted = true
	}
	t.Version = e.Version
	t.UpdatedAt = e.OccurredAt
}

// CreateTask decides the creation of task id on deal, which must be live
// (404 DEAL_NOT_FOUND). Managers and up may add tasks to any deal,
// members to their own deals only (403 FORBIDDEN). The due date is a
// YYYY-MM-DD date no earlier than today, the caller's current UTC date in
// the same format (400 DUE_DATE_IN_PAST). The command also appends
// deal.AddTask's event to the deal's stream.
func CreateTask(c Caller, deal *Deal, id uuid.UUID, in TaskInput, today string) ([]events.Payload, error) {
	if id == uuid.Nil {
		return nil, fmt.Errorf("aggregates.CreateTask: task id is required")
	}
	if err := deal.exists(); err != nil {
		return nil, err
	}
	if err := c.mayManageTasksOf(deal); err != nil {
		return nil, err
	}
	var p problems
	title := p.requiredText("title", in.Title, MaxNameLen)
	p.description(in.Description)
	p.date("due_date", in.DueDate)
	if err := p.err(); err != nil {
		return nil, err
	}
	if err := notInPast(in.DueDate, today); err != nil {
		return nil, err
	}
	return []events.Payload{events.TaskCreated{
		TaskID: id, DealID: deal.ID, Title: title, Description: clonePtr(in.Description), DueDate: in.DueDate,
	}}, nil
}

// Update decides a PATCH of the task, whose deal is passed for the role
// rule. A new due date must not be in the past; an unchanged one may be.
// Decided events, in order: task.updated with the changed fields among
// title, description and due_date, then task.completed or task.reopened
// when is_done changes. A patch that changes nothing decides no event.
//
// The deal may have been deleted: its tasks stay reachable by id, and its
// owner still decides who may change them.
func (t *Task) Update(c Caller, deal *Deal, patch TaskPatch, today string) ([]events.Payload, error) {
	if err := t.checkAccess(c, deal); err != nil {
		return nil, err
	}
	var p problems
	title := t.Title
	if patch.Title.Set {
		title = p.requiredText("title", patch.Title.Value, MaxNameLen)
	}
	if patch.Description.Set {
		p.description(patch.Description.Value)
	}
	if patch.DueDate.Set {
		p.date("due_date", patch.DueDate.Value)
	}
	if err := p.err(); err != nil {
		return nil, err
	}

	changes := map[string]events.Change{}
	if title != t.Title {
		changes["title"] = events.Change{Old: t.Title, New: title}
	}
	if patch.Description.Set && !samePtr(patch.Description.Value, t.Description) {
		changes["description"] = events.Change{Old: ptrValue(t.Description), New: ptrValue(patch.Description.Value)}
	}
	if patch.DueDate.Set && patch.DueDate.Value != t.DueDate {
		if err := notInPast(patch.DueDate.Value, today); err != nil {
			return nil, err
		}
		changes["due_date"] = events.Change{Old: t.DueDate, New: patch.DueDate.Value}
	}

	var out []events.Payload
	if len(changes) > 0 {
		out = append(out, events.TaskUpdated{DealID: t.DealID, Changes: changes})
	}
	if patch.IsDone.Set && patch.IsDone.Value != t.IsDone {
		if patch.IsDone.Value {
			out = append(out, events.TaskCompleted{DealID: t.DealID, Title: title})
		} else {
			out = append(out, events.TaskReopened{DealID: t.DealID, Title: title})
		}
	}
	return out, nil
}

// Delete decides the deletion of the task, with the role rule of Update.
func (t *Task) Delete(c Caller, deal *Deal) ([]events.Payload, error) {
	if err := t.checkAccess(c, deal); err != nil {
		return nil, err
	}
	return []events.Payload{events.TaskDeleted{DealID: t.DealID, Title: t.Title}}, nil
}

// checkAccess answers 404 for a missing or deleted task and 403 for a
// member on another member's deal. The deal must be the task's own.
func (t *Task) checkAccess(c Caller, deal *Deal) error {
	if t.ID == uuid.Nil || t.Deleted {
		return crm.Errorf(crm.CodeNotFound, "task not found")
	}
	if deal == nil || deal.ID != t.DealID {
		return fmt.Errorf("aggregates.Task: task %s needs its own deal %s", t.ID, t.DealID)
	}
	return c.mayManageTasksOf(deal)
}

// description checks an optional task description: at most
// MaxDescriptionLen characters, kept as written.
func (p *problems) description(s *string) {
	if s != nil && utf8.RuneCountInString(*s) > MaxDescriptionLen {
		p.add("description", fmt.Sprintf("must be at most %d characters", MaxDescriptionLen))
	}
}

// date checks a calendar date written YYYY-MM-DD.
func (p *problems) date(field, s string) {
	if _, ok := parseDate(s); !ok {
		p.add(field, "must be a date written YYYY-MM-DD")
	}
}

func parseDate(s string) (time.Time, bool) {
	d, err := time.Parse(time.DateOnly, s)
	return d, err == nil && d.Format(time.DateOnly) == s
}

// notInPast answers 400 DUE_DATE_IN_PAST when due (a valid date) is
// before today.
func notInPast(due, today string) error {
	t, ok := parseDate(today)
	if !ok {
		return fmt.Errorf("aggregates: today %q is not a YYYY-MM-DD date", today)
	}
	if d, _ := parseDate(due); d.Before(t) {
		return crm.Errorf(crm.CodeDueDateInPast, "due_date %s is before today (%s, UTC)", due, today)
	}
	return nil
}

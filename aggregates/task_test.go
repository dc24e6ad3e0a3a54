package aggregates_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/aggregates"
	"example.com/crm/events"
)

var taskID = uuid.MustParse("0195a000-0000-7000-8000-0000000000f1")

// today is the UTC date commands pass in.
const today = "2026-03-01"

// memberDeal is a live deal of memberID; othersDeal one of otherID.
func memberDeal(tb testing.TB) *aggregates.Deal {
	tb.Helper()
	return given(tb, &aggregates.Deal{}, dealCreated())
}

func othersDeal(tb testing.TB) *aggregates.Deal {
	tb.Helper()
	d := dealCreated()
	d.OwnerID = otherID
	return given(tb, &aggregates.Deal{}, d)
}

func taskCreated() events.TaskCreated {
	return events.TaskCreated{TaskID: taskID, DealID: dealID, Title: "Call back", DueDate: "2026-03-10"}
}

func TestCreateTask(t *testing.T) {
	t.Parallel()
	in := aggregates.TaskInput{Title: "Call back", DueDate: "2026-03-10"}
	create := func(c aggregates.Caller, deal *aggregates.Deal, in aggregates.TaskInput) func(*aggregates.Task) ([]events.Payload, error) {
		return func(t *aggregates.Task) ([]events.Payload, error) {
			return aggregates.CreateTask(c, deal, taskID, in, today)
		}
	}
	created := []events.Payload{taskCreated()}
	with := func(f func(*aggregates.TaskInput)) aggregates.TaskInput {
		v := in
		f(&v)
		return v
	}
	memberDeal, othersDeal := memberDeal(t), othersDeal(t)
	deletedDeal := given(t, &aggregates.Deal{}, dealCreated(), events.DealDeleted{})
	var noDeal *aggregates.Deal

	checkRules(t, []rule[*aggregates.Task]{
		// Managers and up on any deal, members on their own deals only.
		{name: "owner on any deal", when: create(asOwner, memberDeal, in), then: created},
		{name: "admin on any deal", when: create(asAdmin, memberDeal, in), then: created},
		{name: "manager on any deal", when: create(asManager, memberDeal, in), then: created},
		{name: "member on own deal", when: create(asMember, memberDeal, in), then: created},
		{name: "member on another's deal", when: create(asMember, othersDeal, in), code: crm.CodeForbidden},
		{name: "403 comes before 400", when: create(asMember, othersDeal, aggregates.TaskInput{}), code: crm.CodeForbidden},
		{name: "deleted deal", when: create(asOwner, deletedDeal, in), code: crm.CodeDealNotFound},
		{name: "no deal", when: create(asOwner, noDeal, in), code: crm.CodeDealNotFound},
		// Due today or later, in UTC.
		{name: "due today", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = today })), then: []events.Payload{
			events.TaskCreated{TaskID: taskID, DealID: dealID, Title: "Call back", DueDate: today},
		}},
		{name: "due yesterday", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "2026-02-28" })), code: crm.CodeDueDateInPast},
		{name: "due last year", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "2025-12-31" })), code: crm.CodeDueDateInPast},
		{name: "due date unpadded", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "2026-3-10" })), code: crm.CodeValidation},
		{name: "due date impossible", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "2026-02-30" })), code: crm.CodeValidation},
		{name: "due date a timestamp", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "2026-03-10T00:00:00Z" })), code: crm.CodeValidation},
		{name: "no due date", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "" })), code: crm.CodeValidation},
		{name: "a malformed past date is a validation error", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.DueDate = "1999-1-1" })), code: crm.CodeValidation},
		// Title and description.
		{name: "title trimmed, description kept", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.Title, i.Description = " Call back ", ptr(" notes ") })), then: []events.Payload{
			events.TaskCreated{TaskID: taskID, DealID: dealID, Title: "Call back", Description: ptr(" notes "), DueDate: "2026-03-10"},
		}},
		{name: "empty title", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.Title = "" })), code: crm.CodeValidation},
		{name: "title of 201", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.Title = strings.Repeat("x", 201) })), code: crm.CodeValidation},
		{name: "description of 10001", when: create(asMember, memberDeal, with(func(i *aggregates.TaskInput) { i.Description = ptr(strings.Repeat("x", 10001)) })), code: crm.CodeValidation},
		{name: "internal when today is not a date", when: func(*aggregates.Task) ([]events.Payload, error) {
			return aggregates.CreateTask(asMember, memberDeal, taskID, in, "today")
		}, code: crm.CodeInternal},
	})

	t.Run("every invalid field is named", func(t *testing.T) {
		t.Parallel()
		_, err := aggregates.CreateTask(asMember, memberDeal, taskID, aggregates.TaskInput{Description: ptr(strings.Repeat("é", 10001)), DueDate: "soon"}, today)
		failsWith(t, err, "title", "description", "due_date")
	})
}

func TestUpdateTask(t *testing.T) {
	t.Parallel()
	update := func(c aggregates.Caller, deal *aggregates.Deal, p aggregates.TaskPatch) func(*aggregates.Task) ([]events.Payload, error) {
		return func(t *aggregates.Task) ([]events.Payload, error) { return t.Update(c, deal, p, today) }
	}
	memberDeal, othersTask := memberDeal(t), othersDeal(t)
	anotherDeal := given(t, &aggregates.Deal{}, dealCreated())
	anotherDeal.ID = uuid.MustParse("0195a000-0000-7000-8000-0000000000d9")
	history := []events.Payload{taskCreated()}
	done := append(history[:1:1], events.TaskCompleted{DealID: dealID, Title: "Call back"})
	retitle := aggregates.TaskPatch{Title: aggregates.SetTo("Call again")}
	retitled := []events.Payload{events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{"title": {Old: "Call back", New: "Call again"}}}}
	complete := aggregates.TaskPatch{IsDone: aggregates.SetTo(true)}
	reopen := aggregates.TaskPatch{IsDone: aggregates.SetTo(false)}
	pastDue := append(history[:1:1], events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{"due_date": {Old: "2026-03-10", New: "2026-02-01"}}})

	checkRules(t, []rule[*aggregates.Task]{
		// Roles, through the task's deal.
		{name: "owner on any deal", given: history, when: update(asOwner, memberDeal, retitle), then: retitled},
		{name: "admin on any deal", given: history, when: update(asAdmin, memberDeal, retitle), then: retitled},
		{name: "manager on any deal", given: history, when: update(asManager, memberDeal, retitle), then: retitled},
		{name: "member on own deal", given: history, when: update(asMember, memberDeal, retitle), then: retitled},
		{name: "member on another's deal", given: history, when: update(asMember, othersTask, retitle), code: crm.CodeForbidden},
		{name: "403 comes before 400", given: history, when: update(asMember, othersTask, aggregates.TaskPatch{Title: aggregates.SetTo("")}), code: crm.CodeForbidden},
		{name: "deleted task", given: append(history[:1:1], events.TaskDeleted{DealID: dealID, Title: "Call back"}), when: update(asOwner, memberDeal, retitle), code: crm.CodeNotFound},
		{name: "unknown task", when: update(asOwner, memberDeal, retitle), code: crm.CodeNotFound},
		{name: "another task's deal is a bug", given: history, when: update(asOwner, anotherDeal, retitle), code: crm.CodeInternal},

		// is_done: true completes, false reopens, unchanged decides nothing.
		{name: "complete", given: history, when: update(asMember, memberDeal, complete), then: []events.Payload{events.TaskCompleted{DealID: dealID, Title: "Call back"}}},
		{name: "complete a done task", given: done, when: update(asMember, memberDeal, complete)},
		{name: "reopen", given: done, when: update(asMember, memberDeal, reopen), then: []events.Payload{events.TaskReopened{DealID: dealID, Title: "Call back"}}},
		{name: "reopen an open task", given: history, when: update(asMember, memberDeal, reopen)},
		{
			name: "task.updated comes before task.completed, which carries the new title", given: history,
			when: update(asMember, memberDeal, aggregates.TaskPatch{Title: aggregates.SetTo("Call again"), IsDone: aggregates.SetTo(true)}),
			then: append(retitled[:1:1], events.TaskCompleted{DealID: dealID, Title: "Call again"}),
		},

		// Fields.
		{
			name: "every field", given: history,
			when: update(asMember, memberDeal, aggregates.TaskPatch{
				Title: aggregates.SetTo("Call again"), Description: aggregates.SetTo(ptr("ask for Ada")), DueDate: aggregates.SetTo(today),
			}),
			then: []events.Payload{events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{
				"title":       {Old: "Call back", New: "Call again"},
				"description": {Old: nil, New: "ask for Ada"},
				"due_date":    {Old: "2026-03-10", New: today},
			}}},
		},
		{
			name: "clear the description", given: append(history[:1:1], events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{"description": {Old: nil, New: "x"}}}),
			when: update(asMember, memberDeal, aggregates.TaskPatch{Description: aggregates.SetTo[*string](nil)}),
			then: []events.Payload{events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{"description": {Old: "x", New: nil}}}},
		},
		{name: "due date in the past", given: history, when: update(asMember, memberDeal, aggregates.TaskPatch{DueDate: aggregates.SetTo("2026-02-28")}), code: crm.CodeDueDateInPast},
		{name: "due date malformed", given: history, when: update(asMember, memberDeal, aggregates.TaskPatch{DueDate: aggregates.SetTo("10/03/2026")}), code: crm.CodeValidation},
		{name: "a past due date kept as it is", given: pastDue, when: update(asMember, memberDeal, aggregates.TaskPatch{DueDate: aggregates.SetTo("2026-02-01"), IsDone: aggregates.SetTo(true)}), then: []events.Payload{
			events.TaskCompleted{DealID: dealID, Title: "Call back"},
		}},
		{name: "a past due date does not block other changes", given: pastDue, when: update(asMember, memberDeal, retitle), then: retitled},
		{name: "empty title", given: history, when: update(asMember, memberDeal, aggregates.TaskPatch{Title: aggregates.SetTo(" ")}), code: crm.CodeValidation},

		// No-op.
		{name: "empty patch", given: history, when: update(asMember, memberDeal, aggregates.TaskPatch{})},
		{name: "every field to its value", given: history, when: update(asMember, memberDeal, aggregates.TaskPatch{
			Title: aggregates.SetTo("Call back "), Description: aggregates.SetTo[*string](nil),
			DueDate: aggregates.SetTo("2026-03-10"), IsDone: aggregates.SetTo(false),
		})},
	})
}

func TestDeleteTask(t *testing.T) {
	t.Parallel()
	remove := func(c aggregates.Caller, deal *aggregates.Deal) func(*aggregates.Task) ([]events.Payload, error) {
		return func(t *aggregates.Task) ([]events.Payload, error) { return t.Delete(c, deal) }
	}
	memberDeal, othersDeal := memberDeal(t), othersDeal(t)
	deletedDeal := given(t, &aggregates.Deal{}, dealCreated(), events.DealDeleted{})
	history := []events.Payload{taskCreated()}
	deleted := []events.Payload{events.TaskDeleted{DealID: dealID, Title: "Call back"}}
	checkRules(t, []rule[*aggregates.Task]{
		{name: "owner on any deal", given: history, when: remove(asOwner, memberDeal), then: deleted},
		{name: "admin on any deal", given: history, when: remove(asAdmin, memberDeal), then: deleted},
		{name: "manager on any deal", given: history, when: remove(asManager, memberDeal), then: deleted},
		{name: "member on own deal", given: history, when: remove(asMember, memberDeal), then: deleted},
		{name: "member on another's deal", given: history, when: remove(asMember, othersDeal), code: crm.CodeForbidden},
		{name: "manager on another's deal", given: history, when: remove(asManager, othersDeal), then: deleted},
		{name: "twice", given: append(history[:1:1], deleted...), when: remove(asOwner, memberDeal), code: crm.CodeNotFound},
		{name: "on a deleted deal, by its owner", given: history, when: remove(asMember, deletedDeal), then: deleted},
	})
}

func TestTaskApply(t *testing.T) {
	t.Parallel()
	task := given(t, &aggregates.Task{},
		taskCreated(), // 1
		events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{ // 2
			"title":       {Old: "Call back", New: "Call again"},
			"description": {Old: nil, New: "ask for Ada"},
			"due_date":    {Old: "2026-03-10", New: "2026-03-12"},
		}},
		events.TaskCompleted{DealID: dealID, Title: "Call again"}, // 3
	)
	want := aggregates.Task{
		ID: taskID, OrgID: orgID, DealID: dealID, Title: "Call again", Description: ptr("ask for Ada"),
		DueDate: "2026-03-12", IsDone: true, CompletedAt: ptr(at(3)), Version: 3, CreatedAt: at(1), UpdatedAt: at(3),
	}
	if !reflect.DeepEqual(*task, want) {
		t.Fatalf("state:\n got %+v\nwant %+v", *task, want)
	}

	task.Apply(events.Event{Version: 4, Data: events.TaskReopened{DealID: dealID, Title: "Call again"}, OccurredAt: at(4)})
	if task.IsDone || task.CompletedAt != nil || !task.UpdatedAt.Equal(at(4)) {
		t.Fatalf("reopened: %+v", *task)
	}
	task.Apply(events.Event{Version: 5, Data: events.TaskUpdated{DealID: dealID, Changes: map[string]events.Change{"description": {Old: "ask for Ada", New: nil}}}, OccurredAt: at(5)})
	task.Apply(events.Event{Version: 6, Data: events.TaskDeleted{DealID: dealID, Title: "Call again"}, OccurredAt: at(6)})
	if task.Description != nil || !task.Deleted || task.Version != 6 {
		t.Fatalf("deleted: %+v", *task)
	}
}

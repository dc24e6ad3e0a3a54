package app_test

import (
	"net/http"
	"testing"
	"time"

	"example.com/crm/internal/apitest"
)

func TestTaskLifecycleAndTimeline(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	u := s.Register(t)
	contact := newContact(t, s, u, nil)
	deal := newDeal(t, s, u, contact, nil)
	today := time.Now().UTC().Format(time.DateOnly)
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)

	expect(t, s.As(u, post("/tasks", obj{"deal_id": deal, "title": "Call", "due_date": yesterday})), http.StatusBadRequest, "DUE_DATE_IN_PAST")
	expect(t, s.As(u, post("/tasks", obj{"deal_id": deal, "title": "Call", "due_date": "2026-13-40"})), http.StatusBadRequest, "VALIDATION_ERROR")
	expect(t, s.As(u, post("/tasks", obj{"deal_id": contact, "title": "Call", "due_date": today})), http.StatusNotFound, "DEAL_NOT_FOUND")

	r := s.As(u, post("/tasks", obj{"deal_id": deal, "title": "Call", "due_date": today, "description": "about the pilot"}))
	expect(t, r, http.StatusCreated)
	task := r.JSON(t)
	id := task["id"].(string)
	if task["is_done"] != false || task["completed_at"] != nil || task["due_date"] != today || task["deal_id"] != deal {
		t.Fatalf("new task: %s", r.Body)
	}
	r = s.As(u, patch("/tasks/"+id, obj{"is_done": true}))
	expect(t, r, http.StatusOK)
	if done := r.JSON(t); done["is_done"] != true || done["completed_at"] == nil {
		t.Fatalf("completed task: %s", r.Body)
	}
	expect(t, s.As(u, patch("/tasks/"+id, obj{"due_date": yesterday})), http.StatusBadRequest, "DUE_DATE_IN_PAST")
	r = s.As(u, patch("/tasks/"+id, obj{"is_done": false, "title": "Call back"}))
	expect(t, r, http.StatusOK)
	// A PATCH that changes nothing appends nothing, and answers with the
	// position of the task's last event.
	reopened, changedAt := r.JSON(t)["version"], r.Header.Get("X-Event-Position")
	r = s.As(u, patch("/tasks/"+id, obj{"title": "Call back"}))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["version"] != reopened || r.Header.Get("X-Event-Position") != changedAt || changedAt == "" {
		t.Fatalf("no-op patch (last change at %s, version %v): %v %s", changedAt, reopened, r.Header, r.Body)
	}

	r = s.As(u, get("/tasks?deal_id="+deal+"&only_open=true"))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["total"] != float64(1) {
		t.Fatalf("open tasks of the deal: %s", r.Body)
	}
	r = s.As(u, get("/tasks?due_before="+today+"&due_after="+today))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["total"] != float64(1) {
		t.Fatalf("tasks due today (inclusive bounds): %s", r.Body)
	}

	expect(t, s.As(u, post("/deals/"+deal+"/activities", obj{"type": "comment", "payload": obj{"text": "Looks good"}})), http.StatusCreated)
	expect(t, s.As(u, post("/deals/"+deal+"/activities", obj{"type": "deal_created", "payload": obj{"text": "x"}})), http.StatusBadRequest)
	expect(t, s.As(u, post("/deals/"+deal+"/activities", obj{"type": "comment", "payload": obj{"text": ""}})), http.StatusBadRequest)
	expect(t, s.As(u, del("/tasks/"+id)), http.StatusNoContent)
	expect(t, s.As(u, get("/tasks/"+id)), http.StatusNotFound)

	r = s.As(u, get("/deals/"+deal+"/activities"))
	expect(t, r, http.StatusOK)
	var tl struct {
		Items []struct {
			Type     string         `json:"type"`
			AuthorID string         `json:"author_id"`
			Payload  map[string]any `json:"payload"`
		} `json:"items"`
	}
	r.Decode(t, &tl)
	var types []string
	for _, it := range tl.Items {
		types = append(types, it.Type)
		if it.AuthorID != u.ID {
			t.Fatalf("activity %s has author %q, want %s", it.Type, it.AuthorID, u.ID)
		}
	}
	want := []string{"deal_created", "task_created", "task_completed", "task_updated", "task_reopened", "comment", "task_deleted"}
	if len(types) != len(want) {
		t.Fatalf("timeline %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Fatalf("timeline %v, want %v", types, want)
		}
	}
	r = s.As(u, get("/deals/"+deal+"/activities?type=comment&order=desc"))
	expect(t, r, http.StatusOK)
	if r.JSON(t)["total"] != float64(1) {
		t.Fatalf("comments only: %s", r.Body)
	}
	other := s.Register(t)
	expect(t, s.As(other, get("/deals/"+deal+"/activities")), http.StatusNotFound)
	expect(t, s.As(other, post("/deals/"+deal+"/activities", obj{"type": "comment", "payload": obj{"text": "hi"}})), http.StatusNotFound)
}

// Tasks follow their deal's owner: a member only on own deals.
func TestTaskRoles(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	tm := s.NewTeam(t)
	contact := newContact(t, s, tm.Owner, nil)
	theirs := newDeal(t, s, tm.Owner, contact, nil)
	mine := newDeal(t, s, tm.Member, contact, nil)
	today := time.Now().UTC().Format(time.DateOnly)
	for _, role := range []string{"owner", "admin", "manager", "member"} {
		t.Run(role, func(t *testing.T) {
			s := s.With(t)
			u := tm.ByRole(role)
			allowed := role != "member"
			r := s.As(u, post("/tasks", obj{"deal_id": theirs, "title": "T", "due_date": today}))
			wantStatus(t, r, allowed, http.StatusCreated)
			task := s.As(tm.Owner, post("/tasks", obj{"deal_id": theirs, "title": "T", "due_date": today})).JSON(t)["id"].(string)
			wantStatus(t, s.As(u, patch("/tasks/"+task, obj{"is_done": true})), allowed, http.StatusOK)
			wantStatus(t, s.As(u, del("/tasks/"+task)), allowed, http.StatusNoContent)
		})
	}
	expect(t, s.As(tm.Member, post("/tasks", obj{"deal_id": mine, "title": "Mine", "due_date": today})), http.StatusCreated)
}

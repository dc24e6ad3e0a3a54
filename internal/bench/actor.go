package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// actor is one W1 client: a user in their own organization with the
// contacts, deals and open tasks it created. Each actor is driven by
// exactly one goroutine.
type actor struct {
	s        *Session
	rng      *rand.Rand
	contacts []string
	deals    []*dealRef
	tasks    []string // open tasks, completed later
	n        int
}

type dealRef struct {
	id            string
	stage, status int
	version       int
}

var (
	stages   = []string{"qualification", "proposal", "negotiation", "closed"}
	statuses = []string{"new", "in_progress", "won", "lost"}
)

// prepare gives the actor something to work on: a contact and two deals.
func (a *actor) prepare(ctx context.Context) error {
	if err := a.createContact(ctx); err != nil {
		return err
	}
	for range 2 {
		if _, err := a.createDeal(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (a *actor) createContact(ctx context.Context) error {
	a.n++
	r, err := a.s.Do(ctx, http.MethodPost, "/api/v1/contacts", map[string]any{
		"name": fmt.Sprintf("Bench contact %d", a.n), "email": fmt.Sprintf("c%d-%s@example.com", a.n, a.s.User[24:]),
	}, http.StatusCreated)
	if err != nil {
		return err
	}
	a.contacts = append(a.contacts, r.ID())
	return nil
}

// createDeal creates a deal for one of the actor's contacts, returning
// the response (its X-Event-Position).
func (a *actor) createDeal(ctx context.Context) (Response, error) {
	a.n++
	r, err := a.s.Do(ctx, http.MethodPost, "/api/v1/deals", map[string]any{
		"contact_id": a.contacts[a.rng.IntN(len(a.contacts))], "title": fmt.Sprintf("Bench deal %d", a.n),
		"amount": fmt.Sprintf("%d.00", 100+a.rng.IntN(10000)), "currency": "USD",
	}, http.StatusCreated)
	if err != nil {
		return r, err
	}
	a.deals = append(a.deals, &dealRef{id: r.ID(), version: r.Version()})
	return r, nil
}

// patchDeal moves a deal to its next stage (the owner may also move it
// back to the first) or its next status, alternately.
func (a *actor) patchDeal(ctx context.Context) (*dealRef, Response, error) {
	d := a.deals[a.rng.IntN(len(a.deals))]
	var body map[string]any
	if a.rng.IntN(2) == 0 {
		d.stage = (d.stage + 1) % len(stages)
		body = map[string]any{"stage": stages[d.stage]}
	} else {
		d.status = (d.status + 1) % len(statuses)
		body = map[string]any{"status": statuses[d.status]}
	}
	r, err := a.s.Do(ctx, http.MethodPatch, "/api/v1/deals/"+d.id, body)
	if err == nil {
		d.version = r.Version()
	}
	return d, r, err
}

// step runs one command of the W1 mix: create contact 15 %, create deal
// 15 %, patch deal stage/status 40 %, comment 15 %, create or complete a
// task 15 %.
func (a *actor) step(ctx context.Context) error {
	switch p := a.rng.IntN(100); {
	case p < 15:
		return a.createContact(ctx)
	case p < 30:
		_, err := a.createDeal(ctx)
		return err
	case p < 70:
		_, _, err := a.patchDeal(ctx)
		return err
	case p < 85:
		d := a.deals[a.rng.IntN(len(a.deals))]
		_, err := a.s.Do(ctx, http.MethodPost, "/api/v1/deals/"+d.id+"/activities", map[string]any{
			"type": "comment", "payload": map[string]any{"text": "Called them, follow-up next week."}}, http.StatusCreated)
		return err
	default:
		if len(a.tasks) > 0 && a.rng.IntN(2) == 0 {
			id := a.tasks[len(a.tasks)-1]
			a.tasks = a.tasks[:len(a.tasks)-1]
			_, err := a.s.Do(ctx, http.MethodPatch, "/api/v1/tasks/"+id, map[string]any{"is_done": true})
			return err
		}
		d := a.deals[a.rng.IntN(len(a.deals))]
		r, err := a.s.Do(ctx, http.MethodPost, "/api/v1/tasks", map[string]any{
			"deal_id": d.id, "title": "Follow up", "due_date": time.Now().UTC().AddDate(0, 0, 7).Format(time.DateOnly)}, http.StatusCreated)
		if err == nil {
			a.tasks = append(a.tasks, r.ID())
		}
		return err
	}
}

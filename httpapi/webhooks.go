package httpapi

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"example.com/crm/commands"
	"example.com/crm/events"
	"example.com/crm/feed"
	"example.com/crm/webhooks"
)

// Webhooks serves the webhook subscriptions and their delivery log
// (API.md, Integrations): owner and admin only (403 for the other roles),
// another organization's webhook is 404. Subscriptions are integration
// configuration in plain tables (package webhooks), not events: these
// routes append nothing to the log, so they send no X-Event-Position.
// A subscription carries a version as every entity does: GET, PATCH
// and the POSTs send it as ETag, PATCH and DELETE honour If-Match. Their
// POSTs honour Idempotency-Key as every POST does: the answer is
// recorded in the transaction of the change (webhooks.Record) and
// replayed from there.
type Webhooks struct {
	Store webhooks.Store
	// AllowPrivate accepts http URLs and private addresses
	// (WEBHOOK_ALLOW_PRIVATE).
	AllowPrivate bool
}

// maxEventTypes bounds a subscription's type patterns.
const maxEventTypes = 100

// Mount registers the webhook routes on r (the org-scoped subrouter).
func (h Webhooks) Mount(r *mux.Router) {
	a := func(f HandlerFunc, params ...string) http.Handler { return Accepts(f, params...) }
	r.Handle("/webhooks", a(h.list, listParams()...)).Methods(http.MethodGet)
	r.Handle("/webhooks", a(h.create)).Methods(http.MethodPost)
	r.Handle("/webhooks/{id}", a(h.get)).Methods(http.MethodGet)
	r.Handle("/webhooks/{id}", a(h.update)).Methods(http.MethodPatch)
	r.Handle("/webhooks/{id}", a(h.remove)).Methods(http.MethodDelete)
	r.Handle("/webhooks/{id}/rotate-secret", a(h.rotateSecret)).Methods(http.MethodPost)
	r.Handle("/webhooks/{id}/deliveries", a(h.deliveries, listParams()...)).Methods(http.MethodGet)
	r.Handle("/webhooks/{id}/replay", a(h.replay)).Methods(http.MethodPost)
}

// target resolves /webhooks/{id} in API.md's order of checks: the
// webhook in the caller's organization (404), then the caller's role
// (403).
func (h Webhooks) target(r *http.Request) (org, id uuid.UUID, err error) {
	if org, id, err = orgAndID(r); err != nil {
		return
	}
	if _, err = h.Store.Get(r.Context(), org, id); err != nil {
		return
	}
	_, err = requireOwnerOrAdmin(r)
	return
}

type createWebhookBody struct {
	URL        *string  `json:"url"`
	EventTypes []string `json:"event_types"`
	Active     *bool    `json:"active"`
}

type patchWebhookBody struct {
	URL        Optional[string]   `json:"url"`
	EventTypes Optional[[]string] `json:"event_types"`
	Active     Optional[bool]     `json:"active"`
}

type replayBody struct {
	After *string `json:"after"`
}

// eventTypes validates a subscription's patterns (non-empty, known types
// or prefixes) and returns them normalized.
func eventTypes(p *problems, patterns []string) []string {
	if len(patterns) == 0 {
		p.add("event_types", "must list at least one event type or prefix (e.g. deal.*)")
		return nil
	}
	if len(patterns) > maxEventTypes {
		p.add("event_types", "must list at most 100 patterns")
		return nil
	}
	t, err := feed.ParseTypesField("event_types", patterns)
	if err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
		return nil
	}
	return t.Patterns()
}

func (h Webhooks) validURL(p *problems, u string) {
	if err := webhooks.ValidateURL(u, h.AllowPrivate); err != nil {
		p.fields = append(p.fields, fieldsOf(err)...)
	}
}

func (h Webhooks) create(w http.ResponseWriter, r *http.Request) error {
	org, err := requireOwnerOrAdmin(r)
	if err != nil {
		return err
	}
	var b createWebhookBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	var p problems
	p.required("url", b.URL != nil)
	if b.URL != nil {
		h.validURL(&p, *b.URL)
	}
	in := webhooks.Input{EventTypes: eventTypes(&p, b.EventTypes), Active: b.Active == nil || *b.Active}
	if err := p.err(); err != nil {
		return err
	}
	in.URL = *b.URL
	ctx, send := Respond(r, func(c webhooks.Created) Reply {
		return Reply{Status: http.StatusCreated, Location: BasePath + "/webhooks/" + c.ID.String(), Version: c.Version, Body: c}
	})
	c, err := h.Store.Create(ctx, org, in, recordFor[webhooks.Created](ctx))
	if err != nil {
		return err
	}
	return send(w, c, commands.Result{})
}

// recordFor renders the answer the request's Idempotency-Key replays, as
// Respond left it in ctx, for a webhooks.Store change to store.
func recordFor[T any](ctx context.Context) webhooks.Record[T] {
	return func(v T) (*events.IdempotencyRecord, error) { return commands.IdempotencyRecord(ctx, v) }
}

func (h Webhooks) list(w http.ResponseWriter, r *http.Request) error {
	org, err := requireOwnerOrAdmin(r)
	if err != nil {
		return err
	}
	page, size, err := Paging(r)
	if err != nil {
		return err
	}
	l, err := h.Store.List(r.Context(), org, page, size)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, l)
}

func (h Webhooks) get(w http.ResponseWriter, r *http.Request) error {
	org, id, err := orgAndID(r)
	if err != nil {
		return err
	}
	s, err := h.Store.Get(r.Context(), org, id)
	if err != nil {
		return err
	}
	if _, err := requireOwnerOrAdmin(r); err != nil {
		return err
	}
	return ok(w, s.Version, s)
}

func (h Webhooks) update(w http.ResponseWriter, r *http.Request) error {
	org, id, err := h.target(r)
	if err != nil {
		return err
	}
	var b patchWebhookBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	var p problems
	p.notNull("url", b.URL)
	p.notNull("event_types", b.EventTypes)
	p.notNull("active", b.Active)
	var patch webhooks.Patch
	if b.URL.Set && !b.URL.Null {
		h.validURL(&p, b.URL.Value)
		patch.URL = &b.URL.Value
	}
	if b.EventTypes.Set && !b.EventTypes.Null {
		patch.EventTypes = eventTypes(&p, b.EventTypes.Value)
	}
	if b.Active.Set && !b.Active.Null {
		patch.Active = &b.Active.Value
	}
	if err := p.err(); err != nil {
		return err
	}
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	s, err := h.Store.Update(r.Context(), org, id, patch, ifMatch)
	if err != nil {
		return err
	}
	return ok(w, s.Version, s)
}

func (h Webhooks) remove(w http.ResponseWriter, r *http.Request) error {
	org, id, err := h.target(r)
	if err != nil {
		return err
	}
	ifMatch, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	if err := h.Store.Delete(r.Context(), org, id, ifMatch); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h Webhooks) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	org, id, err := h.target(r)
	if err != nil {
		return err
	}
	ctx, send := Respond(r, func(rt webhooks.Rotated) Reply {
		return Reply{Status: http.StatusOK, Version: rt.Version, Body: map[string]string{"secret": rt.Secret}}
	})
	rt, err := h.Store.RotateSecret(ctx, org, id, recordFor[webhooks.Rotated](ctx))
	if err != nil {
		return err
	}
	return send(w, rt, commands.Result{})
}

func (h Webhooks) deliveries(w http.ResponseWriter, r *http.Request) error {
	org, id, err := h.target(r)
	if err != nil {
		return err
	}
	page, size, err := Paging(r)
	if err != nil {
		return err
	}
	l, err := h.Store.Deliveries(r.Context(), org, id, page, size)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, l)
}

// replay answers 202: the subscription's cursor is moved to after (absent
// or "": the start of the log) and its events after it are delivered
// again, in order, by the dispatcher.
func (h Webhooks) replay(w http.ResponseWriter, r *http.Request) error {
	org, id, err := h.target(r)
	if err != nil {
		return err
	}
	var b replayBody
	if err := Decode(r, &b); err != nil {
		return err
	}
	var after feed.Cursor
	if b.After != nil {
		if after, err = feed.ParseCursor(*b.After); err != nil {
			return err
		}
	}
	ctx, send := Respond(r, func(s webhooks.Subscription) Reply {
		return Reply{Status: http.StatusAccepted, Version: s.Version, Body: s}
	})
	s, err := h.Store.Replay(ctx, org, id, after, recordFor[webhooks.Subscription](ctx))
	if err != nil {
		return err
	}
	return send(w, s, commands.Result{})
}

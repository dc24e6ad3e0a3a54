package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/commands"
	"example.com/crm/events"
)

// memoryIdempotency is an IdempotencyStore in memory; record plays the
// event store's part (saving a record with the events).
type memoryIdempotency struct {
	mu   sync.Mutex
	recs map[string]*events.IdempotencyRecord
}

func (m *memoryIdempotency) Idempotency(_ context.Context, user uuid.UUID, key string) (*events.IdempotencyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recs[user.String()+key], nil
}

// record stores rec unless the key is taken (the store's refusal).
func (m *memoryIdempotency) record(rec *events.IdempotencyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[rec.UserID.String()+rec.Key]; ok {
		return errors.New("key taken")
	}
	rec.Position = 42
	m.recs[rec.UserID.String()+rec.Key] = rec
	return nil
}

// appendStore is an events.Store that keeps the idempotency record of
// each append, refusing a taken key as pgstore does.
type appendStore struct{ idem *memoryIdempotency }

func (appendStore) Load(context.Context, uuid.UUID, uuid.UUID, events.LoadOptions) ([]events.Event, error) {
	return nil, nil
}

func (s appendStore) Append(_ context.Context, b events.Batch) (events.Result, error) {
	if b.Idempotency != nil {
		if err := s.idem.record(b.Idempotency); err != nil {
			return events.Result{}, err
		}
	}
	return events.Result{LastPosition: 42}, nil
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	store := &memoryIdempotency{recs: map[string]*events.IdempotencyRecord{}}
	app := commands.New(commands.Deps{Store: appendStore{idem: store}})
	user := uuid.New()
	created := 0
	// A POST handler as the organization routes write them.
	handler := HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Name string `json:"name"`
		}
		if err := Decode(r, &in); err != nil {
			return err
		}
		ctx, send := Respond(r, organizationReply(http.StatusCreated))
		created++
		res, err := app.CreateOrganization(ctx, in.Name)
		if err != nil {
			return err
		}
		return send(w, res, res.Result)
	})
	h := Idempotent(store)(handler)
	do := func(method, key, body string, u uuid.UUID) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/things", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set(IdempotencyKeyHeader, key)
		}
		req = req.WithContext(crm.WithActor(req.Context(), crm.Actor{UserID: u}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	first := do(http.MethodPost, "k1", `{"name":"a"}`, user)
	if first.Code != 201 || first.Header().Get("Location") == "" || first.Header().Get("ETag") != `"2"` {
		t.Fatalf("first: %d %v %s", first.Code, first.Header(), first.Body)
	}
	again := do(http.MethodPost, "k1", `{"name":"a"}`, user)
	if again.Code != 201 || again.Body.String() != first.Body.String() || again.Header().Get("Idempotent-Replayed") != "true" ||
		again.Header().Get("Location") != first.Header().Get("Location") || again.Header().Get("X-Event-Position") != "42" {
		t.Fatalf("replay: %d %v %s", again.Code, again.Header(), again.Body)
	}
	if created != 1 {
		t.Fatalf("the command ran %d times", created)
	}
	if r := do(http.MethodPost, "k1", `{"name":"b"}`, user); r.Code != 422 || readProblem(t, r).Code != crm.CodeIdempotencyKeyReused {
		t.Fatalf("other body: %d %s", r.Code, r.Body)
	}
	if r := do(http.MethodPost, "k1", `{"name":"a"}`, uuid.New()); r.Code != 201 || r.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("another user: %d %v", r.Code, r.Header())
	}
	if r := do(http.MethodPost, "", `{"name":"a"}`, user); r.Code != 201 || r.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("no key: %d", r.Code)
	}
	if created != 3 {
		t.Fatalf("the command ran %d times, want 3", created)
	}
	for _, bad := range []string{strings.Repeat("x", 256), "a b", "é"} {
		if r := do(http.MethodPost, bad, `{"name":"a"}`, user); r.Code != 400 {
			t.Fatalf("key %q: %d", bad, r.Code)
		}
	}

	// A request that loses the race to another with its key (its record is
	// refused) answers with the winner's response.
	winner := &events.IdempotencyRecord{UserID: user, Key: "k2", Status: 201, Body: []byte(`{"id":"w"}` + "\n"),
		Headers: map[string]string{"Location": "/things/w"}}
	raced := HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in := r.Context().Value(idempotencyCtxKey{}).(*idempotencyIntent)
		winner.RequestHash = in.hash
		_ = store.record(winner) // the winner commits meanwhile
		return errors.New("pgstore: idempotency key already used")
	})
	req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"name":"c"}`))
	req.Header.Set(IdempotencyKeyHeader, "k2")
	req = req.WithContext(crm.WithActor(req.Context(), crm.Actor{UserID: user}))
	rec := httptest.NewRecorder()
	Idempotent(store)(raced).ServeHTTP(rec, req)
	if rec.Code != 201 || rec.Body.String() != `{"id":"w"}`+"\n" || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("loser of the race: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
}

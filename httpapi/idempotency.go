package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/commands"
	"example.com/crm/events"
)

// Idempotency-Key support (API.md §1): the first response to a POST made
// with a key is stored in the same transaction as the events it appended
// (events.Batch.Idempotency), and the same key with the same request
// within 24 h gets that response again, with Idempotent-Replayed: true,
// appending nothing.
//
// Two pieces cooperate:
//
//   - Idempotent, middleware on the authenticated, org-resolved routes
//     (API.OrgScoped applies it already), answers a repeated key from the
//     store, refuses a key reused for another request (422
//     IDEMPOTENCY_KEY_REUSED), and otherwise leaves the key in the
//     request's context;
//   - Respond, called by each POST handler, turns that key into a
//     commands.Idempotency whose Record renders the command's result
//     exactly as the handler will answer it, and returns the function
//     that writes that answer. A POST handler that does not use Respond
//     ignores the key.
//
// When two requests with one key race, the second's append is refused by
// the store (the key is taken); HandlerFunc then answers it with the
// first's stored response instead of the error (replayAfterError).
//
// Auth routes (register, login, refresh) take no Idempotency-Key: they
// run before a user is known, and a repeated login or registration is
// harmless to refuse or answer again.

// IdempotencyKeyHeader is the request header carrying the key.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKeyLen bounds a key (API.md §1: 1–255 visible ASCII).
const maxIdempotencyKeyLen = 255

// IdempotencyStore returns the live stored response of (user, key), or
// nil (events/pgstore.Store).
type IdempotencyStore interface {
	Idempotency(ctx context.Context, userID uuid.UUID, key string) (*events.IdempotencyRecord, error)
}

// idempotencyIntent is a request's key, as Idempotent leaves it for
// Respond and replayAfterError.
type idempotencyIntent struct {
	store IdempotencyStore
	user  uuid.UUID
	key   string
	hash  string
}

type idempotencyCtxKey struct{}

// Idempotent is middleware giving POST requests with an Idempotency-Key
// their replay (see the comment at the top of this file). It must run
// inside Authenticate (keys are per user) and, on org-scoped routes,
// inside the tenancy check (a member who was removed gets 403, not a
// replay). Other methods, and POSTs without the header, pass untouched.
//
// A request is "the same" when its method, path, X-Organization-Id and
// body bytes are: their SHA-256 is stored with the response.
func Idempotent(store IdempotencyStore) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			keys := r.Header.Values(IdempotencyKeyHeader)
			if r.Method != http.MethodPost || len(keys) == 0 {
				next.ServeHTTP(w, r)
				return nil
			}
			if len(keys) > 1 || !validIdempotencyKey(keys[0]) {
				return crm.Invalid(crm.FieldError{Field: IdempotencyKeyHeader, Message: "must be given once, 1 to 255 visible ASCII characters"})
			}
			actor, err := crm.ActorFrom(r.Context())
			if err != nil {
				return err // wiring bug: fail closed
			}
			body, err := readBody(r)
			if err != nil {
				return err
			}
			in := &idempotencyIntent{store: store, user: actor.UserID, key: keys[0], hash: requestHash(r, body)}
			rec, err := store.Idempotency(r.Context(), in.user, in.key)
			if err != nil {
				return err
			}
			if rec != nil {
				return replay(w, rec, in.hash)
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idempotencyCtxKey{}, in)))
			return nil
		})
	}
}

// validIdempotencyKey accepts 1–255 visible ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// readBody reads r's body (bounded by BodyLimit) and puts it back for the
// handler.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err // a *http.MaxBytesError answers 413
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// requestHash identifies a request for "same key, same request?".
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.Header.Get(OrganizationHeader)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// replay answers with a stored response, or 422 IDEMPOTENCY_KEY_REUSED
// when the key was first used for another request.
func replay(w http.ResponseWriter, rec *events.IdempotencyRecord, hash string) error {
	if rec.RequestHash != hash {
		return crm.Errorf(crm.CodeIdempotencyKeyReused,
			"this Idempotency-Key was used for a different request in the last 24 hours")
	}
	h := w.Header()
	for k, v := range rec.Headers {
		h.Set(k, v)
	}
	if len(rec.Body) > 0 {
		h.Set("Content-Type", "application/json")
	}
	if rec.Position > 0 {
		h.Set("X-Event-Position", strconv.FormatInt(rec.Position, 10))
	}
	h.Set("Idempotent-Replayed", "true")
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.Body)
	return nil
}

// replayAfterError answers a failed request that carried an
// Idempotency-Key with the stored response of that key, when another
// request with the same key committed meanwhile (the store refused this
// one's record, or its command then failed on what the first had done).
// It reports whether it answered.
func replayAfterError(w http.ResponseWriter, r *http.Request) bool {
	in, _ := r.Context().Value(idempotencyCtxKey{}).(*idempotencyIntent)
	if in == nil {
		return false
	}
	rec, err := in.store.Idempotency(context.WithoutCancel(r.Context()), in.user, in.key)
	if err != nil || rec == nil {
		return false
	}
	if err := replay(w, rec, in.hash); err != nil {
		WriteError(w, r, err)
	}
	return true
}

// Reply is a success answer decided from a command's result before it is
// written, so that the very same bytes can be sent now and stored for a
// replay.
type Reply struct {
	Status int
	// Location, when set, is sent as the Location header (creates).
	Location string
	// Version, when > 0, is sent as ETag: "<version>".
	Version int
	// Body is encoded as JSON; nil sends no body.
	Body any
}

// header lists the headers of the reply (X-Event-Position apart: a replay
// takes it from the stored record).
func (rp Reply) header() map[string]string {
	h := map[string]string{}
	if rp.Location != "" {
		h["Location"] = rp.Location
	}
	if rp.Version > 0 {
		h["ETag"] = `"` + strconv.Itoa(rp.Version) + `"`
	}
	return h
}

// Respond prepares a POST handler's command for Idempotency-Key: it
// returns the context to run the command with (carrying, when the
// request has a key, a commands.Idempotency whose Record renders the
// command's result through render) and the function that answers with the
// command's result through the same render. T is the type the command
// hands to its idempotency record (its result value); a mismatch is a
// programming error that fails the command.
//
//	ctx, send := httpapi.Respond(r, func(o commands.OrganizationResult) httpapi.Reply {...})
//	res, err := app.CreateOrganization(ctx, name)
//	if err != nil {
//		return err
//	}
//	return send(w, res, res.Result)
func Respond[T any](r *http.Request, render func(T) Reply) (context.Context, func(w http.ResponseWriter, result T, res commands.Result) error) {
	send := func(w http.ResponseWriter, result T, res commands.Result) error {
		rp := render(result)
		body, err := encodeJSON(rp.Body)
		if err != nil {
			return err
		}
		h := w.Header()
		for k, v := range rp.header() {
			h.Set(k, v)
		}
		if res.Position > 0 {
			h.Set("X-Event-Position", strconv.FormatInt(res.Position, 10))
		}
		if body != nil {
			h.Set("Content-Type", "application/json")
		}
		w.WriteHeader(rp.Status)
		_, _ = w.Write(body)
		return nil
	}
	in, _ := r.Context().Value(idempotencyCtxKey{}).(*idempotencyIntent)
	if in == nil {
		return r.Context(), send
	}
	ctx := commands.WithIdempotency(r.Context(), &commands.Idempotency{
		UserID: in.user, Key: in.key, RequestHash: in.hash,
		Record: func(result any) (*events.IdempotencyRecord, error) {
			v, ok := result.(T)
			if !ok {
				return nil, fmt.Errorf("httpapi.Respond: the command recorded a %T, the handler renders a %T", result, *new(T))
			}
			rp := render(v)
			body, err := encodeJSON(rp.Body)
			if err != nil {
				return nil, err
			}
			return &events.IdempotencyRecord{Status: rp.Status, Headers: rp.header(), Body: body}, nil
		},
	})
	return ctx, send
}

// encodeJSON encodes v as WriteJSON does (no HTML escaping, a trailing
// newline); nil gives no body.
func encodeJSON(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("httpapi: encode response: %w", err)
	}
	return buf.Bytes(), nil
}

package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"example.com/crm"
	"github.com/google/uuid"
)

// money stands for a domain type that validates itself.
type money string

func (m *money) UnmarshalJSON(b []byte) error {
	if string(b) == `"-1"` {
		return crm.Invalid(crm.FieldError{Field: "amount", Message: "must not be negative"})
	}
	*m = money(b)
	return nil
}

type decodeInput struct {
	Name    string            `json:"name"`
	Count   int               `json:"count"`
	Ratio   float64           `json:"ratio"`
	Active  bool              `json:"active"`
	Tags    []string          `json:"tags"`
	ID      uuid.UUID         `json:"id"`
	OwnerID *uuid.UUID        `json:"owner_id"`
	At      time.Time         `json:"at"`
	Amount  money             `json:"amount"`
	Owner   struct{ X int }   `json:"owner"`
	Labels  map[string]string `json:"labels"`
	Address *struct {
		City string `json:"city"`
	} `json:"address"`
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		body       string
		wantCode   crm.Code // "" for success
		wantField  string
		wantMsg    string // substring of the field message, or of the detail when no field
		wantStatus int
	}{
		{name: "valid", body: `{"name":"acme","count":2,"tags":["a"]}`},
		{name: "trailing whitespace", body: "{\"name\":\"acme\"}\n\t "},
		{name: "empty body", body: ``, wantCode: crm.CodeMalformedJSON, wantMsg: "empty"},
		{name: "only whitespace", body: "  \n", wantCode: crm.CodeMalformedJSON, wantMsg: "empty"},
		{name: "truncated", body: `{"name":`, wantCode: crm.CodeMalformedJSON, wantMsg: "truncated"},
		{name: "syntax error", body: `{"name" "x"}`, wantCode: crm.CodeMalformedJSON, wantMsg: "byte"},
		{name: "second object", body: `{}{}`, wantCode: crm.CodeMalformedJSON, wantMsg: "single JSON value"},
		{name: "trailing garbage", body: `{} x`, wantCode: crm.CodeMalformedJSON},
		{name: "trailing bracket", body: `{}]`, wantCode: crm.CodeMalformedJSON},
		{name: "array body", body: `[1]`, wantCode: crm.CodeMalformedJSON, wantMsg: "must be a JSON object"},
		{name: "unknown field", body: `{"name":"a","nmae":"b"}`, wantCode: crm.CodeValidation, wantField: "nmae", wantMsg: "unknown field"},
		{name: "unknown nested field", body: `{"address":{"town":"x"}}`, wantCode: crm.CodeValidation, wantField: "town", wantMsg: "unknown field"},
		{name: "string for int", body: `{"count":"2"}`, wantCode: crm.CodeValidation, wantField: "count", wantMsg: "must be an integer"},
		{name: "fraction for int", body: `{"count":1.5}`, wantCode: crm.CodeValidation, wantField: "count", wantMsg: "must be an integer"},
		{name: "number for string", body: `{"name":1}`, wantCode: crm.CodeValidation, wantField: "name", wantMsg: "must be a string"},
		{name: "string for float", body: `{"ratio":"x"}`, wantCode: crm.CodeValidation, wantField: "ratio", wantMsg: "must be a number"},
		{name: "string for bool", body: `{"active":"yes"}`, wantCode: crm.CodeValidation, wantField: "active", wantMsg: "must be a boolean"},
		{name: "object for array", body: `{"tags":{}}`, wantCode: crm.CodeValidation, wantField: "tags", wantMsg: "must be an array"},
		{name: "wrong element type", body: `{"tags":[1]}`, wantCode: crm.CodeValidation, wantField: "tags", wantMsg: "must be a string"},
		{name: "array for object", body: `{"labels":[]}`, wantCode: crm.CodeValidation, wantField: "labels", wantMsg: "must be an object"},
		{name: "nested wrong type", body: `{"address":{"city":3}}`, wantCode: crm.CodeValidation, wantField: "address.city", wantMsg: "must be a string"},
		{name: "number for uuid", body: `{"id":5}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "must be a string"},
		{name: "number for an optional uuid", body: `{"owner_id":5}`, wantCode: crm.CodeValidation, wantField: "owner_id", wantMsg: "must be a string"},
		{name: "malformed uuid", body: `{"id":"abc"}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "canonical"},
		{name: "malformed nested uuid", body: `{"address":{"city":"x"},"id":"x"}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "canonical"},
		{name: "domain error passes through", body: `{"amount":"-1"}`, wantCode: crm.CodeValidation, wantField: "amount", wantMsg: "must not be negative"},
		// What encoding/json accepts and the contract does not (issue 9).
		{name: "key in another case", body: `{"NAME":"acme"}`, wantCode: crm.CodeValidation, wantField: "NAME", wantMsg: "unknown field"},
		{name: "nested key in another case", body: `{"address":{"City":"x"}}`, wantCode: crm.CodeValidation, wantField: "City", wantMsg: "unknown field"},
		{name: "duplicate key", body: `{"name":"a","name":"b"}`, wantCode: crm.CodeValidation, wantField: "name", wantMsg: "twice"},
		{name: "duplicate nested key", body: `{"labels":{"a":"1","a":"2"}}`, wantCode: crm.CodeValidation, wantField: "labels.a", wantMsg: "twice"},
		{name: "NUL in a string", body: `{"name":"a\u0000b"}`, wantCode: crm.CodeValidation, wantField: "name", wantMsg: "NUL"},
		{name: "NUL in a nested string", body: `{"address":{"city":"\u0000"}}`, wantCode: crm.CodeValidation, wantField: "address.city", wantMsg: "NUL"},
		{name: "NUL in an array", body: `{"tags":["x","\u0000"]}`, wantCode: crm.CodeValidation, wantField: "tags", wantMsg: "NUL"},
		{name: "NUL in a map key", body: `{"labels":{"\u0000":"x"}}`, wantCode: crm.CodeValidation, wantField: "labels", wantMsg: "NUL"},
		{name: "escaped backslash then u0000 is text", body: `{"name":"a\\u0000"}`},
		// Bodies are UTF-8 text: encoding/json would store U+FFFD instead.
		{name: "a byte that is not UTF-8", body: "{\"name\":\"a\xffb\"}", wantCode: crm.CodeMalformedJSON, wantMsg: "not UTF-8: invalid byte at offset 10"},
		{name: "an overlong encoding", body: "{\"name\":\"\xc0\xaf\"}", wantCode: crm.CodeMalformedJSON, wantMsg: "not UTF-8"},
		{name: "a lone high surrogate", body: `{"name":"a\ud800"}`, wantCode: crm.CodeMalformedJSON, wantMsg: `\ud800 at offset 10 is half of a surrogate pair`},
		{name: "a high surrogate before another escape", body: `{"name":"\ud800\u0041"}`, wantCode: crm.CodeMalformedJSON, wantMsg: "surrogate"},
		{name: "a lone low surrogate", body: `{"tags":["\uDC00"]}`, wantCode: crm.CodeMalformedJSON, wantMsg: `\udc00 at offset 10`},
		{name: "a pair in the wrong order", body: `{"name":"\udc00\ud800"}`, wantCode: crm.CodeMalformedJSON, wantMsg: "surrogate"},
		{name: "a surrogate pair", body: `{"name":"\ud83d\ude00 \u00e9"}`},
		{name: "UTF-8 beyond ASCII", body: `{"name":"Zoë 😀"}`},
		{name: "escaped backslash then ud800 is text", body: `{"name":"\\ud800"}`},
		{name: "uuid in braces", body: `{"id":"{0193b9a4-0000-7000-8000-000000000001}"}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "canonical"},
		{name: "uuid urn", body: `{"id":"urn:uuid:0193b9a4-0000-7000-8000-000000000001"}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "canonical"},
		{name: "uuid bare hex", body: `{"id":"0193b9a4000070008000000000000001"}`, wantCode: crm.CodeValidation, wantField: "id", wantMsg: "canonical"},
		{name: "uuid upper-case", body: `{"id":"0193B9A4-0000-7000-8000-00000000000A"}`},
		{name: "null body", body: `null`, wantCode: crm.CodeMalformedJSON, wantMsg: "not null"},
		{name: "too large", body: `{"name":"` + strings.Repeat("x", 100) + `"}`, wantCode: crm.CodeBodyTooLarge, wantStatus: 413},
		{name: "trailing data too large", body: `{}` + strings.Repeat(" ", 100) + `1`, wantCode: crm.CodeBodyTooLarge, wantStatus: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 64)
			var in decodeInput
			err := Decode(r, &in)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				return
			}
			var ce *crm.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want a *crm.Error", err, err)
			}
			if ce.Code != tt.wantCode {
				t.Fatalf("code = %s (%v), want %s", ce.Code, err, tt.wantCode)
			}
			if tt.wantStatus != 0 && StatusOf(err) != tt.wantStatus {
				t.Errorf("status %d, want %d", StatusOf(err), tt.wantStatus)
			}
			if tt.wantField != "" {
				if len(ce.Fields) != 1 || ce.Fields[0].Field != tt.wantField || !strings.Contains(ce.Fields[0].Message, tt.wantMsg) {
					t.Errorf("fields = %+v, want %s %q", ce.Fields, tt.wantField, tt.wantMsg)
				}
			} else if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", ce.Message, tt.wantMsg)
			}
		})
	}
}

func TestDecodeProgrammingErrorIsInternal(t *testing.T) {
	t.Parallel()
	var in decodeInput
	err := Decode(httptest.NewRequest("POST", "/", strings.NewReader(`{}`)), in) // not a pointer
	if err == nil || crm.ErrorCode(err) != crm.CodeInternal {
		t.Errorf("err = %v, want an internal error", err)
	}
}

type patchInput struct {
	Name   Optional[string]    `json:"name"`
	Amount Optional[int]       `json:"amount"`
	Owner  Optional[uuid.UUID] `json:"owner_id"`
	Addr   Optional[struct {
		City string `json:"city"`
	}] `json:"address"`
}

func TestOptional(t *testing.T) {
	t.Parallel()
	owner := uuid.MustParse("0193b9a4-0000-7000-8000-000000000001")
	tests := []struct {
		name      string
		body      string
		wantName  Optional[string]
		wantAmt   Optional[int]
		wantOwner Optional[uuid.UUID]
		wantField string // a VALIDATION_ERROR naming this field
	}{
		{name: "absent", body: `{}`},
		{name: "null", body: `{"name":null,"amount":null}`, wantName: Optional[string]{Set: true, Null: true}, wantAmt: Optional[int]{Set: true, Null: true}},
		{name: "values", body: `{"name":"","amount":0,"owner_id":"` + owner.String() + `"}`,
			wantName: Optional[string]{Set: true}, wantAmt: Optional[int]{Set: true}, wantOwner: Optional[uuid.UUID]{Set: true, Value: owner}},
		{name: "wrong type names the field", body: `{"amount":"x"}`, wantField: "amount"},
		{name: "unknown field inside a value", body: `{"address":{"town":"x"}}`, wantField: "town"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in patchInput
			err := Decode(httptest.NewRequest("PATCH", "/", strings.NewReader(tt.body)), &in)
			if tt.wantField != "" {
				var ce *crm.Error
				if !errors.As(err, &ce) || ce.Code != crm.CodeValidation || len(ce.Fields) != 1 || ce.Fields[0].Field != tt.wantField {
					t.Fatalf("err = %#v, want VALIDATION_ERROR on %s", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if in.Name != tt.wantName || in.Amount != tt.wantAmt || in.Owner != tt.wantOwner {
				t.Errorf("got %+v %+v %+v", in.Name, in.Amount, in.Owner)
			}
		})
	}
}

func TestOptionalMarshal(t *testing.T) {
	t.Parallel()
	type out struct {
		A Optional[int] `json:"a,omitzero"`
		B Optional[int] `json:"b,omitzero"`
		C Optional[int] `json:"c"`
	}
	got, err := json.Marshal(out{B: Optional[int]{Set: true, Null: true}, C: Optional[int]{Set: true, Value: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":null,"c":3}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	var back out
	if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, out{B: Optional[int]{Set: true, Null: true}, C: Optional[int]{Set: true, Value: 3}}) {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// TestDecodeStrictOptional checks that PATCH bodies (Optional fields) get
// the same strictness as the rest.
func TestDecodeStrictOptional(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"Name":"x"}`,
		`{"owner_id":"{0193b9a4-0000-7000-8000-000000000001}"}`,
		`{"address":{"CITY":"x"}}`,
		`{"name":"\u0000"}`,
		`{"name":"a","name":null}`,
		`null`,
	} {
		var in patchInput
		err := Decode(httptest.NewRequest("PATCH", "/", strings.NewReader(body)), &in)
		if StatusOf(err) != http.StatusBadRequest {
			t.Errorf("%s: %v (status %d), want 400", body, err, StatusOf(err))
		}
	}
}

package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"unicode/utf8"

	"example.com/crm"
)

// decodeTargets are the request bodies the fuzzer decodes every input
// into, each with the check the handler runs on the decoded value.
var decodeTargets = []struct {
	name  string
	new   func() any
	check func(v any) error
}{
	{"createContact", func() any { return new(createContactBody) }, func(v any) error { _, err := v.(*createContactBody).input(); return err }},
	{"patchContact", func() any { return new(patchContactBody) }, func(v any) error { _, err := v.(*patchContactBody).patch(); return err }},
	{"createDeal", func() any { return new(createDealBody) }, func(v any) error { _, err := v.(*createDealBody).input(); return err }},
	{"patchDeal", func() any { return new(patchDealBody) }, func(v any) error { _, err := v.(*patchDealBody).patch(); return err }},
	{"createTask", func() any { return new(createTaskBody) }, func(v any) error { _, _, err := v.(*createTaskBody).input(); return err }},
	{"patchTask", func() any { return new(patchTaskBody) }, func(v any) error { _, err := v.(*patchTaskBody).patch(); return err }},
	{"comment", func() any { return new(commentBody) }, func(v any) error { _, err := v.(*commentBody).text(); return err }},
	{"register", func() any { return new(registerBody) }, nil},
	{"login", func() any { return new(loginBody) }, nil},
	{"name", func() any { return new(nameBody) }, func(v any) error { _, err := v.(*nameBody).name(); return err }},
	{"addMember", func() any { return new(addMemberBody) }, func(v any) error { _, err := bodyUUID("user_id", v.(*addMemberBody).UserID); return err }},
	{"role", func() any { return new(roleBody) }, nil},
}

// FuzzDecode feeds any body to Decode for every request body type, and
// checks what the edge promises: nothing panics; a refusal is a 4xx with
// a stable code; an accepted body is UTF-8, holds no NUL in its strings, re-encodes,
// and its encoding is accepted again and re-encodes to the same bytes (a
// fixed point); the handler's own checks on it answer 4xx or nothing.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ada","email":"ada@example.com","phone":null,"owner_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`,
		`{"contact_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8","title":"t","amount":"10000.50","currency":"usd"}`,
		`{"amount":1e3,"currency":"uſd"}`, `{"amount":1e999999999,"currency":" USD"}`,
		`{"amount":99999999999999999999999999999999999999,"title":"x"}`, `{"amount":-0}`, `{"amount":"-0"}`,
		`{"NAME":"x"}`, `{"name":"a","name":"b"}`, `{"name":"a","Name":"b"}`, `null`, ` null `, `{}`, `[]`, `""`, ``,
		`{"name":"\u0000"}`, `{"name":"a\u0000b"}`, `{"\u0000":1}`, `{"name":"\ud800"}`, `{"name":"\udc00\ud800"}`,
		"{\"name\":\"\xff\xfe\"}", "{\"name\":\"a\x00b\"}", "{\"na\xffme\":1}", `{"name":"x"} {}`, `{"name":"x"}]`,
		`{"owner_id":"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"}`, `{"owner_id":"urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`,
		`{"owner_id":"6ba7b8109dad11d180b400c04fd430c8"}`, `{"owner_id":"6BA7B810-9DAD-11D1-80B4-00C04FD430C8"}`,
		`{"type":"comment","payload":{"text":"hi","TEXT":"x"}}`, `{"type":"comment","payload":{"text":"a","text":"b"}}`,
		`{"type":"comment","payload":null}`, `{"type":"note","payload":{"text":"x"}}`,
		`{"title":null,"description":null,"due_date":"2026-13-45","is_done":"true"}`, `{"is_done":1}`,
		`{"amount":{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
		`{"amount":[1,2,{"x":"\u0000"}]}`, `{"amount":{"k":1,"k":2}}`, `{"amount":true}`, `{"amount":"1e3"}`,
		`{"title":1e400}`, `{"title":123}`, `{"user_id":"not-a-uuid","role":"member"}`, `{"email":"A@B.C","user_id":null}`,
		`{"name":"x"`, `{"name":`, `{`, `{"a":1,}`, `{'name':'x'}`, "\ufeff{}", "{\"name\":\"x\"}\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range decodeTargets {
			dst := target.new()
			err := Decode(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body)), dst)
			if err != nil {
				if s := StatusOf(err); s < 400 || s > 499 || crm.ErrorCode(err) == "" {
					t.Fatalf("%s: Decode(%q) = %v: status %d, code %q; want a 4xx with a code", target.name, body, err, s, crm.ErrorCode(err))
				}
				continue
			}
			if target.check != nil {
				if err := target.check(dst); err != nil {
					if s := StatusOf(err); s < 400 || s > 499 {
						t.Fatalf("%s: check of %q = %v: status %d, want a 4xx", target.name, body, err, s)
					}
				}
			}
			noNUL(t, target.name, body, reflect.ValueOf(dst))
			if !utf8.Valid(body) {
				t.Fatalf("%s: Decode accepted %q, which is not UTF-8", target.name, body)
			}
			enc, err := json.Marshal(dst)
			if err != nil {
				t.Fatalf("%s: Decode(%q) accepted a value that does not re-encode: %v", target.name, body, err)
			}
			again := target.new()
			if err := Decode(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(enc)), again); err != nil {
				t.Fatalf("%s: %q decodes, but its encoding %s is refused: %v", target.name, body, enc, err)
			}
			enc2, err := json.Marshal(again)
			if err != nil || !bytes.Equal(enc, enc2) {
				t.Fatalf("%s: %q re-encodes as %s, then as %s (%v)", target.name, body, enc, enc2, err)
			}
		}
	})
}

// noNUL fails if a string reachable from v (a raw JSON value included)
// holds a NUL, which PostgreSQL would refuse with a 500.
func noNUL(t *testing.T, target string, body []byte, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			noNUL(t, target, body, v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			noNUL(t, target, body, v.Field(i))
		}
	case reflect.String:
		if bytes.IndexByte([]byte(v.String()), 0) >= 0 {
			t.Fatalf("%s: Decode(%q) accepted a NUL in a string", target, body)
		}
	case reflect.Slice:
		if v.Type() == rawMessageType {
			var x any
			if err := json.Unmarshal(v.Bytes(), &x); err == nil {
				noNUL(t, target, body, reflect.ValueOf(&x))
			}
			return
		}
		for i := range v.Len() {
			noNUL(t, target, body, v.Index(i))
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			noNUL(t, target, body, it.Key())
			noNUL(t, target, body, it.Value())
		}
	}
}

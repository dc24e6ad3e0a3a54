package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"example.com/crm"
)

// Decode reads r's body, a single JSON value, into dst (a non-nil
// pointer), strictly, answering every client mistake with a 4xx the
// client can act on:
//
//   - an empty, truncated or syntactically invalid body, data after the
//     value, or text that is not Unicode (bytes that are not UTF-8, an
//     escaped half of a surrogate pair such as "\ud800": encoding/json
//     would store U+FFFD in their place) → 400 MALFORMED_JSON;
//   - an unknown field → 400 VALIDATION_ERROR naming it (API.md §1);
//   - a value of the wrong type → 400 VALIDATION_ERROR naming the field,
//     "must be a string" and the like;
//   - a body over BodyLimit → 413 BODY_TOO_LARGE;
//   - what encoding/json lets through but the contract does not (see
//     strictCheck): keys in another case, a key given twice, NUL in a
//     string, a non-canonical UUID, a null body → 400.
//
// A *crm.Error returned by a field's own UnmarshalJSON (money, currency)
// is passed through unchanged. Other errors are programming errors (dst
// not a pointer) and become 500s.
func Decode(r *http.Request, dst any) error {
	if r.Body == nil {
		return crm.Errorf(crm.CodeMalformedJSON, "request body is empty")
	}
	body := &readErrRecorder{r: r.Body}
	data, err := io.ReadAll(body)
	if err != nil {
		return decodeError(err, body.err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		derr := decodeError(err, nil)
		if errors.Is(derr, errValueRefused) {
			// encoding/json does not say whose value a field's own
			// UnmarshalText refused; the strict walk names the field of a
			// UUID that is not one.
			if named := strictCheck(data, reflect.TypeOf(dst)); named != nil {
				return named
			}
		}
		return derr
	}
	if _, err := dec.Token(); err != io.EOF {
		return crm.Errorf(crm.CodeMalformedJSON, "request body must hold a single JSON value")
	}
	if err := unicodeText(data); err != nil {
		return err
	}
	return strictCheck(data, reflect.TypeOf(dst))
}

// unicodeText refuses a JSON text (already known to be well formed) that
// is not Unicode: API.md §1 bodies are UTF-8, and encoding/json replaces
// invalid bytes and unpaired surrogate escapes with U+FFFD without a
// word, so "\xff" or "\ud800" would be stored as something the client
// never sent.
func unicodeText(data []byte) error {
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				return crm.Errorf(crm.CodeMalformedJSON, "request body is not UTF-8: invalid byte at offset %d", i)
			}
			i += n
		}
	}
	// Escapes only occur inside strings, and a well-formed text has no
	// backslash elsewhere: walk the escapes, pairing surrogates.
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if data[i] != 'u' {
			continue
		}
		r := hex4(data[i+1 : i+5])
		i += 4
		switch {
		case utf16.IsSurrogate(r) && r < 0xdc00: // a high half: a low one must follow
			if i+6 < len(data) && data[i+1] == '\\' && data[i+2] == 'u' {
				if lo := hex4(data[i+3 : i+7]); lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return crm.Errorf(crm.CodeMalformedJSON, "request body is not Unicode: \\u%04x at offset %d is half of a surrogate pair", r, i-5)
		case utf16.IsSurrogate(r):
			return crm.Errorf(crm.CodeMalformedJSON, "request body is not Unicode: \\u%04x at offset %d is half of a surrogate pair", r, i-5)
		}
	}
	return nil
}

// hex4 reads the four hexadecimal digits of a \u escape of a
// well-formed JSON text.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		default:
			r = r<<4 | rune(c-'A'+10)
		}
	}
	return r
}

// readErrRecorder remembers the error of the body itself, so that a
// failed read (body too large, client gone) is not mistaken for bad JSON.
type readErrRecorder struct {
	r   io.Reader
	err error
}

// Read reads the body, keeping its first non-EOF error.
func (b *readErrRecorder) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// decodeError maps an encoding/json error (or readErr, the body's own
// failure) to the error the client gets.
func decodeError(err, readErr error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(readErr, &tooLarge) || errors.As(err, &tooLarge) {
		return crm.Errorf(crm.CodeBodyTooLarge, "request body exceeds %d bytes", tooLarge.Limit)
	}
	if readErr != nil {
		return crm.Errorf(crm.CodeMalformedJSON, "request body could not be read")
	}
	const unknownFd = `json: unknown field "`
	var (
		ce      *crm.Error
		syntax  *json.SyntaxError
		typ     *json.UnmarshalTypeError
		invalid *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, io.EOF):
		return crm.Errorf(crm.CodeMalformedJSON, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return crm.Errorf(crm.CodeMalformedJSON, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return crm.Errorf(crm.CodeMalformedJSON, "malformed JSON at byte %d: %s",
			syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return crm.Errorf(crm.CodeMalformedJSON, "request body must be a JSON %s", jsonKind(typ.Type))
		}
		return crm.Invalid(crm.FieldError{Field: typ.Field, Message: "must be " + article(jsonKind(typ.Type))})
	case errors.As(err, &invalid):
		return fmt.Errorf("httpapi.Decode: %w", err)
	case strings.HasPrefix(err.Error(), unknownFd):
		// encoding/json has no typed error for unknown fields; its text
		// has been stable since Go 1.10 and this is the one place we read
		// it.
		name := strings.TrimSuffix(strings.TrimPrefix(err.Error(), unknownFd), `"`)
		return crm.Invalid(crm.FieldError{Field: name, Message: "unknown field"})
	default:
		// A field type's own UnmarshalText/UnmarshalJSON refused the value
		// (uuid.UUID, time.Time); encoding/json does not say which field
		// (Decode asks strictCheck).
		return valueRefused{err: &crm.Error{Code: crm.CodeValidation, Message: "invalid value: " + err.Error()}}
	}
}

// errValueRefused marks decodeError's answer to a value a field's own
// type refused without saying which field.
var errValueRefused = errors.New("httpapi: a field's type refused its value")

// valueRefused is that answer: the *crm.Error the client gets, and
// errValueRefused to errors.Is.
type valueRefused struct{ err *crm.Error }

func (v valueRefused) Error() string   { return v.err.Error() }
func (v valueRefused) Unwrap() []error { return []error{v.err, errValueRefused} }

// jsonKind names, in JSON's words, what a Go type expects: "string",
// "integer", "number", "boolean", "array" or "object". A type read from
// text (uuid.UUID, time.Time) expects a string.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
		return "string"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value of another type"
}

// article prefixes a kind with "a" or "an".
func article(kind string) string {
	if strings.HasPrefix(kind, "a") || strings.HasPrefix(kind, "i") || strings.HasPrefix(kind, "o") {
		return "an " + kind
	}
	return "a " + kind
}

// Optional is a PATCH body field that tells apart the three things a
// client can mean: the key is absent (leave the value alone: Set is
// false), the key is null (clear it: Set and Null), or a value (Set,
// Value). A pointer field cannot tell absent from null.
//
// Marshalled, an absent or null Optional is null; with the `omitzero`
// tag option an absent one is left out.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records that the key was present, and whether it was null.
// The value is decoded as strictly as Decode does (unknown fields of an
// object value are refused).
func (o *Optional[T]) UnmarshalJSON(data []byte) error {
	*o = Optional[T]{Set: true}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		o.Null = true
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(&o.Value)
}

// isNull reports an explicit null.
func (o Optional[T]) isNull() bool { return o.Set && o.Null }

// MarshalJSON writes null for an absent or null Optional, else the value.
func (o Optional[T]) MarshalJSON() ([]byte, error) {
	if !o.Set || o.Null {
		return []byte("null"), nil
	}
	return json.Marshal(o.Value)
}

// IsZero reports whether the key was absent, for the `omitzero` option.
func (o Optional[T]) IsZero() bool { return !o.Set }

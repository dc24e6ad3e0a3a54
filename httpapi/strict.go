package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/google/uuid"

	"example.com/crm"
)

// strictCheck walks a JSON document that encoding/json already accepted
// for a value of type t, and refuses what encoding/json lets through but
// the contract does not:
//
//   - keys are matched exactly, case included ({"NAME": …} is an unknown
//     field, not "name");
//   - a key given twice in one object;
//   - NUL (U+0000) anywhere in a string, which PostgreSQL cannot store;
//   - a UUID field in any other form than the canonical 36 characters
//     (uuid.UUID also reads braces, "urn:uuid:" and bare hex);
//   - a null body where an object is expected (a null PATCH body).
//
// Every refusal is a 400 VALIDATION_ERROR naming the field, except the
// null body, which is MALFORMED_JSON like any body of the wrong kind.
func strictCheck(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if top := shapeOf(t); top.kind == shapeObject {
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			return crm.Errorf(crm.CodeMalformedJSON, "request body must be a JSON object, not null")
		}
	}
	return strictValue(dec, t, "")
}

// shapeKind is what a Go type expects of the JSON walked into it.
type shapeKind int

const (
	shapeAny    shapeKind = iota // anything: keys and values are not checked against a type
	shapeObject                  // a struct: its keys are its json names, exactly
	shapeMap                     // a map: any keys, values of elem
	shapeArray                   // a slice or array of elem
	shapeUUID                    // a uuid.UUID: a canonical string
	shapeLeaf                    // a scalar
)

type shape struct {
	kind   shapeKind
	elem   reflect.Type            // of a map or an array
	fields map[string]reflect.Type // of a struct, by exact json name
}

// optionalValue is implemented by Optional[T]: the JSON of the field is
// that of a T.
type optionalValue interface{ valueType() reflect.Type }

func (Optional[T]) valueType() reflect.Type { return reflect.TypeFor[T]() }

var shapes sync.Map // reflect.Type → shape

var (
	uuidType        = reflect.TypeFor[uuid.UUID]()
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
	optionalType    = reflect.TypeFor[optionalValue]()
)

// shapeOf returns what t expects; nil expects anything.
func shapeOf(t reflect.Type) shape {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return shape{kind: shapeAny}
	}
	if s, ok := shapes.Load(t); ok {
		return s.(shape)
	}
	s := computeShape(t)
	shapes.Store(t, s)
	return s
}

func computeShape(t reflect.Type) shape {
	switch {
	case t.Implements(optionalType):
		return shapeOf(reflect.Zero(t).Interface().(optionalValue).valueType())
	case t == uuidType:
		return shape{kind: shapeUUID}
	case t == rawMessageType:
		return shape{kind: shapeAny}
	case reflect.PointerTo(t).Implements(unmarshalerType), reflect.PointerTo(t).Implements(textType):
		// Reads itself (an amount, a time): only NUL and duplicate keys
		// are checked inside it.
		return shape{kind: shapeAny}
	}
	switch t.Kind() {
	case reflect.Struct:
		s := shape{kind: shapeObject, fields: map[string]reflect.Type{}}
		addFields(t, s.fields)
		return s
	case reflect.Map:
		return shape{kind: shapeMap, elem: t.Elem()}
	case reflect.Slice, reflect.Array:
		return shape{kind: shapeArray, elem: t.Elem()}
	case reflect.Interface:
		return shape{kind: shapeAny}
	}
	return shape{kind: shapeLeaf}
}

// addFields collects the json names of t's exported fields, flattening
// embedded structs as encoding/json does.
func addFields(t reflect.Type, into map[string]reflect.Type) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(ft, into)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = f.Type
	}
}

// strictValue checks the next JSON value of dec against t; path names it
// ("" for the body, "payload.text" inside).
func strictValue(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return crm.Errorf(crm.CodeMalformedJSON, "malformed JSON")
	}
	s := shapeOf(t)
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return strictObject(dec, s, path)
		case '[':
			var elem reflect.Type
			if s.kind == shapeArray {
				elem = s.elem
			}
			for dec.More() {
				if err := strictValue(dec, elem, path); err != nil {
					return err
				}
			}
			_, err := dec.Token() // ]
			return err
		}
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return invalidField(path, "must not contain the NUL character (U+0000)")
		}
		if s.kind == shapeUUID && !canonicalUUID(v) {
			return invalidField(path, "must be a UUID in its canonical form (8-4-4-4-12 hexadecimal digits)")
		}
	}
	return nil
}

func strictObject(dec *json.Decoder, s shape, path string) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return crm.Errorf(crm.CodeMalformedJSON, "malformed JSON")
		}
		key, _ := tok.(string)
		name := join(path, key)
		if strings.IndexByte(key, 0) >= 0 {
			return invalidField(path, "keys must not contain the NUL character (U+0000)")
		}
		if seen[key] {
			return invalidField(name, "is given twice")
		}
		seen[key] = true
		var elem reflect.Type
		switch s.kind {
		case shapeObject:
			ft, ok := s.fields[key]
			if !ok {
				// encoding/json matched it case-insensitively.
				return invalidField(key, "unknown field")
			}
			elem = ft
		case shapeMap:
			elem = s.elem
		}
		if err := strictValue(dec, elem, name); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func invalidField(field, msg string) error {
	if field == "" {
		field = "body"
	}
	return crm.Invalid(crm.FieldError{Field: field, Message: msg})
}

// canonicalUUID reports whether s is a UUID in the 36-character
// hyphenated form, in lower- or upper-case hexadecimal.
func canonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

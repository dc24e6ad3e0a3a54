package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
)

// Upcaster turns a payload stored at schema version From into the next
// version (From+1).
type Upcaster struct {
	From int
	Up   func(old json.RawMessage) (json.RawMessage, error)
}

type entry struct {
	version   int
	typ       reflect.Type
	upcasters map[int]Upcaster
}

// Registry knows every event type: its stable name, its current schema
// version, how to make an empty value, and how to upcast old payloads.
// It is a value passed to whoever decodes events, never a global.
type Registry struct {
	byName map[string]entry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: map[string]entry{}}
}

// Register adds the event type of sample (a struct or pointer to struct
// implementing Payload) at schema version `version`, with upcasters from
// every older version. It panics on a duplicate name or a missing
// upcaster: both are programming errors found at start-up.
func (r *Registry) Register(sample Payload, version int, ups ...Upcaster) {
	name := sample.EventType()
	if _, dup := r.byName[name]; dup {
		panic(fmt.Sprintf("events: %q registered twice", name))
	}
	t := reflect.TypeOf(sample)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	e := entry{version: version, typ: t, upcasters: map[int]Upcaster{}}
	for _, u := range ups {
		e.upcasters[u.From] = u
	}
	for v := 1; v < version; v++ {
		if _, ok := e.upcasters[v]; !ok {
			panic(fmt.Sprintf("events: %q v%d has no upcaster from v%d", name, version, v))
		}
	}
	r.byName[name] = e
}

// Names lists the registered event names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Encode returns the stable name, the current schema version and the JSON
// body of p. It refuses unregistered types, so nothing unnamed is stored.
func (r *Registry) Encode(p Payload) (name string, version int, body []byte, err error) {
	name = p.EventType()
	e, ok := r.byName[name]
	if !ok {
		return "", 0, nil, fmt.Errorf("events: encode: %q is not registered", name)
	}
	body, err = json.Marshal(p)
	if err != nil {
		return "", 0, nil, fmt.Errorf("events: encode %q: %w", name, err)
	}
	return name, e.version, body, nil
}

// Decode turns a stored payload into its Go value, upcasting it from
// schemaVersion to the current version first. The returned Payload is a
// value of the registered struct type (never a pointer), the same shape
// an aggregate produces when it decides an event.
func (r *Registry) Decode(name string, schemaVersion int, body []byte) (Payload, error) {
	e, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("events: decode: %q is not registered", name)
	}
	if schemaVersion < 1 {
		// Versions start at 1; a zero or negative one (a corrupt row, a
		// writer that forgot to set it) has no upcaster to run and would
		// otherwise call a nil function.
		return nil, fmt.Errorf("events: decode %q: stored v%d is not a schema version (they start at 1)", name, schemaVersion)
	}
	if schemaVersion > e.version {
		return nil, fmt.Errorf("events: decode %q: stored v%d is newer than this binary's v%d", name, schemaVersion, e.version)
	}
	raw := json.RawMessage(body)
	for v := schemaVersion; v < e.version; v++ {
		var err error
		raw, err = e.upcasters[v].Up(raw)
		if err != nil {
			return nil, fmt.Errorf("events: upcast %q v%d: %w", name, v, err)
		}
	}
	ptr := reflect.New(e.typ)
	if err := json.Unmarshal(raw, ptr.Interface()); err != nil {
		return nil, fmt.Errorf("events: decode %q: %w", name, err)
	}
	p, ok := ptr.Elem().Interface().(Payload)
	if !ok {
		return nil, fmt.Errorf("events: %q: %s does not implement Payload", name, e.typ)
	}
	return p, nil
}

// New returns a pointer to a zero value of the registered type name.
func (r *Registry) New(name string) (any, bool) {
	e, ok := r.byName[name]
	if !ok {
		return nil, false
	}
	return reflect.New(e.typ).Interface(), true
}

package projections

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"example.com/crm/events"
)

// marshaler is the cqrs.CommandEventMarshaler for stored events: names
// come from the registry's stable strings (never Go type names) and
// payloads are upcast on the way in.
type marshaler struct {
	reg *events.Registry
}

func (m marshaler) Marshal(any) (*message.Message, error) {
	return nil, errors.New("projections: events are appended by the event store, not marshalled")
}

func (m marshaler) Name(v any) string {
	if p, ok := v.(events.Payload); ok {
		return p.EventType()
	}
	// handlers hand in *T; EventType has a value receiver
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if p, ok := rv.Elem().Interface().(events.Payload); ok {
			return p.EventType()
		}
	}
	return fmt.Sprintf("unregistered:%T", v)
}

func (m marshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(mdName)
}

func (m marshaler) Unmarshal(msg *message.Message, v any) error {
	sv, err := strconv.Atoi(msg.Metadata.Get(mdSchemaVersion))
	if err != nil {
		return fmt.Errorf("projections: schema version: %w", err)
	}
	p, err := m.reg.Decode(msg.Metadata.Get(mdName), sv, msg.Payload)
	if err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Type() != reflect.TypeOf(p) {
		return fmt.Errorf("projections: cannot decode %s into %T", msg.Metadata.Get(mdName), v)
	}
	rv.Elem().Set(reflect.ValueOf(p))
	return nil
}

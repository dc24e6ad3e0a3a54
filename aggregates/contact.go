package aggregates

import (
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
)

// Contact is a person or company the organization sells to, rebuilt from
// its "contact" stream.
type Contact struct {
	ID, OrgID, OwnerID uuid.UUID
	Name               string
	Email, Phone       *string
	// Deals holds the non-deleted deals that reference the contact. Deals
	// link and unlink themselves by appending to this stream in the same
	// transaction as their own event, so "delete the contact" and "create
	// a deal for it" can never both succeed.
	Deals   map[uuid.UUID]bool
	Deleted bool
	Version int
	// UpdatedAt moves with the contact's own fields (created, updated,
	// deleted), not when a deal links or unlinks: those change no field a
	// client sees, though they do bump Version.
	CreatedAt, UpdatedAt time.Time
}

// Limits of a contact's fields (API.md §4 Contacts).
const (
	MaxNameLen  = 200
	MaxEmailLen = 254
	MaxPhoneLen = 32
)

// ContactInput is the body of "create a contact". OwnerID nil means the
// caller.
type ContactInput struct {
	Name         string
	Email, Phone *string
	OwnerID      *uuid.UUID
}

// ContactPatch is the body of "update a contact": only the fields Set are
// changed; a nil Email or Phone value clears it.
type ContactPatch struct {
	Name         Field[string]
	Email, Phone Field[*string]
	OwnerID      Field[uuid.UUID]
}

// Apply implements State.
func (ct *Contact) Apply(e events.Event) {
	switch d := e.Data.(type) {
	case events.ContactCreated:
		ct.ID, ct.OrgID, ct.OwnerID = d.ContactID, e.TenantID, d.OwnerID
		ct.Name, ct.Email, ct.Phone = d.Name, clonePtr(d.Email), clonePtr(d.Phone)
		ct.Deals = map[uuid.UUID]bool{}
		ct.CreatedAt, ct.UpdatedAt = e.OccurredAt, e.OccurredAt
	case events.ContactUpdated:
		for field, ch := range d.Changes {
			switch field {
			case "name":
				if s, ok := changedString(ch); ok {
					ct.Name = s
				}
			case "email":
				ct.Email = changedPtr(ch)
			case "phone":
				ct.Phone = changedPtr(ch)
			case "owner_id":
				if id, ok := changedID(ch); ok {
					ct.OwnerID = id
				}
			}
		}
		ct.UpdatedAt = e.OccurredAt
	case events.ContactDeleted:
		ct.Deleted = true
		ct.UpdatedAt = e.OccurredAt
	case events.ContactDealLinked:
		if ct.Deals == nil {
			ct.Deals = map[uuid.UUID]bool{}
		}
		ct.Deals[d.DealID] = true
	case events.ContactDealUnlinked:
		delete(ct.Deals, d.DealID)
	}
	ct.Version = e.Version
}

// CreateContact decides the creation of contact id in organization orgID.
// A contact owned by someone other than the caller needs a manager or up
// (403 FORBIDDEN); whether that owner is a member is the command's check.
func CreateContact(c Caller, id, orgID uuid.UUID, in ContactInput) ([]events.Payload, error) {
	if c.UserID == uuid.Nil || id == uuid.Nil || orgID == uuid.Nil {
		return nil, fmt.Errorf("aggregates.CreateContact: caller, id and organization are required")
	}
	owner := c.UserID
	if in.OwnerID != nil {
		owner = *in.OwnerID
	}
	if err := c.MayAssignTo(owner, "contact"); err != nil {
		return nil, err
	}
	var p problems
	name := p.requiredText("name", in.Name, MaxNameLen)
	email := p.email(in.Email)
	phone := p.phone(in.Phone)
	p.requiredID("owner_id", owner)
	if err := p.err(); err != nil {
		return nil, err
	}
	return []events.Payload{events.ContactCreated{
		ContactID: id, OwnerID: owner, Name: name, Email: email, Phone: phone,
	}}, nil
}

// Update decides a PATCH. Members may update only their own contacts, and
// only managers and up may hand one to another member (403 FORBIDDEN).
// Only the fields whose value changes go into the event; a patch that
// changes nothing decides no event.
func (ct *Contact) Update(c Caller, patch ContactPatch) ([]events.Payload, error) {
	if err := ct.exists(); err != nil {
		return nil, err
	}
	if err := c.mayActOn(ct.OwnerID, "contacts"); err != nil {
		return nil, err
	}
	if patch.OwnerID.Set && patch.OwnerID.Value != ct.OwnerID {
		if err := c.MayAssignTo(patch.OwnerID.Value, "contact"); err != nil {
			return nil, err
		}
	}

	var p problems
	var name string
	var email, phone *string
	if patch.Name.Set {
		name = p.requiredText("name", patch.Name.Value, MaxNameLen)
	}
	if patch.Email.Set {
		email = p.email(patch.Email.Value)
	}
	if patch.Phone.Set {
		phone = p.phone(patch.Phone.Value)
	}
	if patch.OwnerID.Set {
		p.requiredID("owner_id", patch.OwnerID.Value)
	}
	if err := p.err(); err != nil {
		return nil, err
	}

	changes := map[string]events.Change{}
	if patch.Name.Set && name != ct.Name {
		changes["name"] = events.Change{Old: ct.Name, New: name}
	}
	if patch.Email.Set && !samePtr(email, ct.Email) {
		changes["email"] = events.Change{Old: ptrValue(ct.Email), New: ptrValue(email)}
	}
	if patch.Phone.Set && !samePtr(phone, ct.Phone) {
		changes["phone"] = events.Change{Old: ptrValue(ct.Phone), New: ptrValue(phone)}
	}
	if patch.OwnerID.Set && patch.OwnerID.Value != ct.OwnerID {
		changes["owner_id"] = events.Change{Old: ct.OwnerID.String(), New: patch.OwnerID.Value.String()}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	return []events.Payload{events.ContactUpdated{Changes: changes}}, nil
}

// Delete decides the deletion. A contact that any non-deleted deal still
// references cannot go (409 CONTACT_HAS_DEALS), whatever the deals'
// status.
func (ct *Contact) Delete(c Caller) ([]events.Payload, error) {
	if err := ct.exists(); err != nil {
		return nil, err
	}
	if err := c.mayActOn(ct.OwnerID, "contacts"); err != nil {
		return nil, err
	}
	if n := len(ct.Deals); n > 0 {
		noun := "deals"
		if n == 1 {
			noun = "deal"
		}
		return nil, crm.Errorf(crm.CodeContactHasDeals, "contact %s still has %d %s", ct.ID, n, noun)
	}
	return []events.Payload{events.ContactDeleted{}}, nil
}

// LinkDeal decides that deal dealID now references the contact. The
// command appends it in the same transaction as the deal's own event
// (creation, or a move from another contact). A deleted or unknown
// contact answers 404 CONTACT_NOT_FOUND; a deal already linked decides
// nothing.
func (ct *Contact) LinkDeal(dealID uuid.UUID) ([]events.Payload, error) {
	if err := ct.exists(); err != nil {
		return nil, err
	}
	if ct.Deals[dealID] {
		return nil, nil
	}
	return []events.Payload{events.ContactDealLinked{DealID: dealID}}, nil
}

// UnlinkDeal decides that deal dealID no longer references the contact
// (the deal was deleted or moved to another contact). It cannot fail: a
// deal that is not linked decides nothing.
func (ct *Contact) UnlinkDeal(dealID uuid.UUID) []events.Payload {
	if !ct.Deals[dealID] {
		return nil
	}
	return []events.Payload{events.ContactDealUnlinked{DealID: dealID}}
}

// exists answers 404 CONTACT_NOT_FOUND for a contact that was never
// created or was deleted.
func (ct *Contact) exists() error {
	if ct.ID == uuid.Nil || ct.Deleted {
		return crm.Errorf(crm.CodeContactNotFound, "contact not found")
	}
	return nil
}

// email checks an optional e-mail address: a bare address (no display
// name, no angle brackets) of at most MaxEmailLen characters. It returns
// the trimmed address, kept as given otherwise.
func (p *problems) email(e *string) *string {
	if e == nil {
		return nil
	}
	s := strings.TrimSpace(*e)
	if len(s) > MaxEmailLen {
		p.add("email", fmt.Sprintf("must be at most %d characters", MaxEmailLen))
		return nil
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Name != "" || a.Address != s {
		p.add("email", "must be a valid e-mail address")
		return nil
	}
	return &s
}

// CheckEmail is the VALIDATION_ERROR, naming field "email", of an
// address that is not one (the rule contacts and registrations use), or
// nil.
func CheckEmail(e string) error {
	var p problems
	p.email(&e)
	return p.err()
}

// phoneChars are the characters a phone number may hold.
const phoneChars = "0123456789 +-()."

// phone checks an optional phone number: 1 to MaxPhoneLen characters of
// digits, spaces and + - ( ) ., with at least one digit. It returns the
// trimmed number.
func (p *problems) phone(ph *string) *string {
	if ph == nil {
		return nil
	}
	s := strings.TrimSpace(*ph)
	switch {
	case s == "":
		p.add("phone", "must not be empty (send null to clear it)")
	case len(s) > MaxPhoneLen:
		p.add("phone", fmt.Sprintf("must be at most %d characters", MaxPhoneLen))
	case strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune(phoneChars, r) }):
		p.add("phone", "may hold only digits, spaces and + - ( ) .")
	case !strings.ContainsAny(s, "0123456789"):
		p.add("phone", "must hold at least one digit")
	default:
		return &s
	}
	return nil
}

func clonePtr(s *string) *string {
	if s == nil {
		return nil
	}
	v := *s
	return &v
}

package httpapi

import (
	"encoding/json"
	"time"

	"example.com/crm/aggregates"
	"example.com/crm/commands"
	"example.com/crm/readapi"
)

// The views turn a command's resulting aggregate state into the same wire
// shape the read side serves (readapi's types), so a POST or PATCH answers
// exactly what a GET right after it returns.

// ContactView renders a contact as API.md §4 shows it.
func ContactView(c aggregates.Contact) readapi.Contact {
	return readapi.Contact{
		ID: c.ID, OrganizationID: c.OrgID, OwnerID: c.OwnerID, Name: c.Name, Email: c.Email, Phone: c.Phone,
		Version: c.Version, CreatedAt: readapi.NewTime(c.CreatedAt), UpdatedAt: readapi.NewTime(c.UpdatedAt),
	}
}

// DealView renders a deal as API.md §4 shows it.
func DealView(d aggregates.Deal) readapi.Deal {
	return readapi.Deal{
		ID: d.ID, OrganizationID: d.OrgID, ContactID: d.ContactID, OwnerID: d.OwnerID, Title: d.Title,
		Amount: d.Amount, Currency: d.Currency, Status: d.Status, Stage: d.Stage, ClosedAt: timePtr(d.ClosedAt),
		Version: d.Version, CreatedAt: readapi.NewTime(d.CreatedAt), UpdatedAt: readapi.NewTime(d.UpdatedAt),
	}
}

// TaskView renders a task as API.md §4 shows it.
func TaskView(t aggregates.Task) readapi.Task {
	return readapi.Task{
		ID: t.ID, DealID: t.DealID, Title: t.Title, Description: t.Description, DueDate: t.DueDate,
		IsDone: t.IsDone, CompletedAt: timePtr(t.CompletedAt), Version: t.Version,
		CreatedAt: readapi.NewTime(t.CreatedAt), UpdatedAt: readapi.NewTime(t.UpdatedAt),
	}
}

// CommentView renders a posted comment as its timeline entry.
func CommentView(c commands.Comment) readapi.Activity {
	payload, _ := json.Marshal(map[string]string{"text": c.Text})
	author := c.AuthorID
	return readapi.Activity{
		ID: c.ID, DealID: c.DealID, AuthorID: &author, Type: readapi.ActivityComment,
		Payload: payload, CreatedAt: readapi.NewTime(c.CreatedAt),
	}
}

func timePtr(t *time.Time) *readapi.Time {
	if t == nil {
		return nil
	}
	v := readapi.NewTime(*t)
	return &v
}

package aggregates

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"example.com/crm"
	"example.com/crm/events"
)

// Deal statuses (API.md §4 Deals). Won and lost are closed: a deal's
// ClosedAt is set while it is in one of them.
const (
	StatusNew        = "new"
	StatusInProgress = "in_progress"
	StatusWon        = "won"
	StatusLost       = "lost"
)

// Deal stages, in pipeline order.
const (
	StageQualification = "qualification"
	StageProposal      = "proposal"
	StageNegotiation   = "negotiation"
	StageClosed        = "closed"
)

// DealStatuses returns the four statuses in API order.
func DealStatuses() []string {
	return []string{StatusNew, StatusInProgress, StatusWon, StatusLost}
}

// DealStages returns the four stages in pipeline order.
func DealStages() []string {
	return []string{StageQualification, StageProposal, StageNegotiation, StageClosed}
}

// ValidStatus reports whether s is a deal status.
func ValidStatus(s string) bool { return slices.Contains(DealStatuses(), s) }

// ValidStage reports whether s is a deal stage.
func ValidStage(s string) bool { return StageRank(s) >= 0 }

// StageRank is a stage's position in the pipeline, from 0 (qualification)
// to 3 (closed), or -1 for an unknown stage.
func StageRank(s string) int { return slices.Index(DealStages(), s) }

// IsClosedStatus reports whether status closes a deal (won or lost).
func IsClosedStatus(status string) bool { return status == StatusWon || status == StatusLost }

// MaxCommentLen is the longest comment, in characters.
const MaxCommentLen = 10000

// Deal is a sales opportunity with a contact, rebuilt from its "deal"
// stream.
type Deal struct {
	ID, OrgID, ContactID, OwnerID uuid.UUID
	Title                         string
	Amount                        crm.Amount
	Currency, Status, Stage       string
	// ClosedAt is the time of the status change that made the deal won or
	// lost; nil while it is new or in progress.
	ClosedAt *time.Time
	Deleted  bool
	Version  int
	// UpdatedAt moves with every change of the deal's fields (API.md Deal
	// rule 6), deletion included. Comments and task additions bump
	// Version but not UpdatedAt: they change no field of the deal.
	CreatedAt, UpdatedAt time.Time
	// FurthestStage is the latest stage the deal ever reached, for the
	// funnel's "reached" counts (a rollback does not lower it).
	FurthestStage string
}

// DealInput is the body of "create a deal". Currency is expected
// normalized by crm.NormalizeCurrency, and is checked again. OwnerID nil
// means the caller.
type DealInput struct {
	ContactID uuid.UUID
	Title     string
	Amount    crm.Amount
	Currency  string
	OwnerID   *uuid.UUID
}

// DealPatch is the body of "update a deal": only the fields Set change.
type DealPatch struct {
	Title              Field[string]
	Amount             Field[crm.Amount]
	Currency           Field[string]
	Status             Field[string]
	Stage              Field[string]
	ContactID, OwnerID Field[uuid.UUID]
}

// Apply implements State.
func (d *Deal) Apply(e events.Event) {
	switch p := e.Data.(type) {
	case events.DealCreated:
		d.ID, d.OrgID, d.ContactID, d.OwnerID = p.DealID, e.TenantID, p.ContactID, p.OwnerID
		d.Title, d.Amount, d.Currency = p.Title, p.Amount, p.Currency
		d.Status, d.Stage, d.FurthestStage = p.Status, p.Stage, p.Stage
		d.CreatedAt, d.UpdatedAt = e.OccurredAt, e.OccurredAt
	case events.DealStageChanged:
		d.Stage = p.New
		if StageRank(p.New) > StageRank(d.FurthestStage) {
			d.FurthestStage = p.New
		}
		d.UpdatedAt = e.OccurredAt
	case events.DealStatusChanged:
		d.Status = p.New
		d.ClosedAt = nil
		if IsClosedStatus(p.New) {
			at := e.OccurredAt
			d.ClosedAt = &at
		}
		d.UpdatedAt = e.OccurredAt
	case events.DealUpdated:
		for field, ch := range p.Changes {
			switch field {
			case "title":
				if s, ok := changedString(ch); ok {
					d.Title = s
				}
			case "amount":
				if a, ok := changedAmount(ch); ok {
					d.Amount = a
				}
			case "currency":
				if s, ok := changedString(ch); ok {
					d.Currency = s
				}
			case "contact_id":
				if id, ok := changedID(ch); ok {
					d.ContactID = id
				}
			case "owner_id":
				if id, ok := changedID(ch); ok {
					d.OwnerID = id
				}
			}
		}
		d.UpdatedAt = e.OccurredAt
	case events.DealDeleted:
		d.Deleted = true
		d.UpdatedAt = e.OccurredAt
	case events.DealCommented, events.DealTaskAdded:
		// Timeline entries: they change no field of the deal.
	}
	d.Version = e.Version
}

// changedAmount reads a new amount from a Change: a decimal string
// ("10.00"), as Update writes it.
func changedAmount(ch events.Change) (crm.Amount, bool) {
	switch v := ch.New.(type) {
	case string:
		a, err := crm.ParseAmountString(v)
		return a, err == nil
	case crm.Amount:
		return v, true
	}
	return 0, false
}

// CreateDeal decides the creation of deal id in organization orgID, new
// and in qualification. A deal owned by someone other than the caller
// needs a manager or up (403 FORBIDDEN). That the contact exists in the
// organization, and that the owner is a member, are the command's checks
// (the command also appends the contact's LinkDeal).
func CreateDeal(c Caller, id, orgID uuid.UUID, in DealInput) ([]events.Payload, error) {
	if c.UserID == uuid.Nil || id == uuid.Nil || orgID == uuid.Nil {
		return nil, fmt.Errorf("aggregates.CreateDeal: caller, id and organization are required")
	}
	owner := c.UserID
	if in.OwnerID != nil {
		owner = *in.OwnerID
	}
	if err := c.MayAssignTo(owner, "deal"); err != nil {
		return nil, err
	}
	var p problems
	p.requiredID("contact_id", in.ContactID)
	title := p.requiredText("title", in.Title, MaxNameLen)
	p.amount(in.Amount)
	currency := p.currency(in.Currency)
	p.requiredID("owner_id", owner)
	if err := p.err(); err != nil {
		return nil, err
	}
	return []events.Payload{events.DealCreated{
		DealID: id, ContactID: in.ContactID, OwnerID: owner, Title: title,
		Amount: in.Amount, Currency: currency, Status: StatusNew, Stage: StageQualification,
	}}, nil
}

// Update decides a PATCH, following API.md's Deal rules:
//   - members may update only their own deals, and only managers and up
//     may hand one to another member (403 FORBIDDEN);
//   - invalid values → 400 VALIDATION_ERROR naming every field at fault;
//   - the stage moves forward for everyone, backwards only for the owner
//     and admins (403 STAGE_ROLLBACK_FORBIDDEN);
//   - a deal cannot end up won with an amount ≤ 0, whether the patch sets
//     the status, the amount or both (400 WON_REQUIRES_POSITIVE_AMOUNT);
//   - only what changes is recorded, in this order: deal.stage_changed,
//     deal.status_changed, then one deal.updated holding every other
//     changed field (amount as a decimal string); a patch that changes
//     nothing decides no event.
//
// A new contact_id must be a live contact of the organization: the
// command checks it, and moves the link (see ContactChange).
func (d *Deal) Update(c Caller, patch DealPatch) ([]events.Payload, error) {
	if err := d.exists(); err != nil {
		return nil, err
	}
	if err := c.mayActOn(d.OwnerID, "deals"); err != nil {
		return nil, err
	}
	if patch.OwnerID.Set && patch.OwnerID.Value != d.OwnerID {
		if err := c.MayAssignTo(patch.OwnerID.Value, "deal"); err != nil {
			return nil, err
		}
	}

	// The deal as it would be after the patch.
	next := *d
	var p problems
	if patch.Title.Set {
		next.Title = p.requiredText("title", patch.Title.Value, MaxNameLen)
	}
	if patch.Amount.Set {
		next.Amount = patch.Amount.Value
		p.amount(next.Amount)
	}
	if patch.Currency.Set {
		next.Currency = p.currency(patch.Currency.Value)
	}
	if patch.Status.Set {
		next.Status = patch.Status.Value
		if !ValidStatus(next.Status) {
			p.add("status", "must be one of "+strings.Join(DealStatuses(), ", "))
		}
	}
	if patch.Stage.Set {
		next.Stage = patch.Stage.Value
		if !ValidStage(next.Stage) {
			p.add("stage", "must be one of "+strings.Join(DealStages(), ", "))
		}
	}
	if patch.ContactID.Set {
		next.ContactID = patch.ContactID.Value
		p.requiredID("contact_id", next.ContactID)
	}
	if patch.OwnerID.Set {
		next.OwnerID = patch.OwnerID.Value
		p.requiredID("owner_id", next.OwnerID)
	}
	if err := p.err(); err != nil {
		return nil, err
	}

	stageChanged := next.Stage != d.Stage
	statusChanged := next.Status != d.Status
	amountChanged := next.Amount != d.Amount
	if stageChanged && StageRank(next.Stage) < StageRank(d.Stage) && !c.IsAdmin() {
		return nil, crm.Errorf(crm.CodeStageRollback,
			"only the owner or an admin may move a deal back from %s to %s", d.Stage, next.Stage)
	}
	if (statusChanged || amountChanged) && next.Status == StatusWon && next.Amount <= 0 {
		return nil, crm.Errorf(crm.CodeWonRequiresAmount, "a won deal needs an amount above 0, not %s", next.Amount)
	}

	var out []events.Payload
	if stageChanged {
		out = append(out, events.DealStageChanged{Old: d.Stage, New: next.Stage})
	}
	if statusChanged {
		out = append(out, events.DealStatusChanged{Old: d.Status, New: next.Status})
	}
	changes := map[string]events.Change{}
	if next.Title != d.Title {
		changes["title"] = events.Change{Old: d.Title, New: next.Title}
	}
	if amountChanged {
		changes["amount"] = events.Change{Old: d.Amount.String(), New: next.Amount.String()}
	}
	if next.Currency != d.Currency {
		changes["currency"] = events.Change{Old: d.Currency, New: next.Currency}
	}
	if next.ContactID != d.ContactID {
		changes["contact_id"] = events.Change{Old: d.ContactID.String(), New: next.ContactID.String()}
	}
	if next.OwnerID != d.OwnerID {
		changes["owner_id"] = events.Change{Old: d.OwnerID.String(), New: next.OwnerID.String()}
	}
	if len(changes) > 0 {
		out = append(out, events.DealUpdated{Changes: changes})
	}
	return out, nil
}

// ContactChange tells the command whether patch moves the deal to another
// contact, and from which to which: it must then append UnlinkDeal to the
// old contact's stream and LinkDeal to the new one's, in the same
// transaction as the deal's events.
func (d *Deal) ContactChange(patch DealPatch) (from, to uuid.UUID, changed bool) {
	if !patch.ContactID.Set || patch.ContactID.Value == d.ContactID {
		return d.ContactID, d.ContactID, false
	}
	return d.ContactID, patch.ContactID.Value, true
}

// Delete decides the deletion: the deal leaves lists and analytics, its
// history stays. The command also appends the contact's UnlinkDeal.
func (d *Deal) Delete(c Caller) ([]events.Payload, error) {
	if err := d.exists(); err != nil {
		return nil, err
	}
	if err := c.mayActOn(d.OwnerID, "deals"); err != nil {
		return nil, err
	}
	return []events.Payload{events.DealDeleted{}}, nil
}

// Comment decides a comment on the deal's timeline. Every role may
// comment. The text is kept as written; it must hold 1 to MaxCommentLen
// characters and not only spaces. The field is named as in the request
// body of POST /deals/{id}/activities: payload.text.
func (d *Deal) Comment(c Caller, commentID uuid.UUID, text string) ([]events.Payload, error) {
	if commentID == uuid.Nil {
		return nil, fmt.Errorf("aggregates.Deal.Comment: comment id is required")
	}
	if err := d.exists(); err != nil {
		return nil, err
	}
	if !c.Role.Valid() {
		return nil, crm.Errorf(crm.CodeForbidden, "only members of the organization may comment")
	}
	var p problems
	switch n := utf8.RuneCountInString(text); {
	case strings.TrimSpace(text) == "":
		p.add("payload.text", "must not be empty")
	case n > MaxCommentLen:
		p.add("payload.text", fmt.Sprintf("must be at most %d characters", MaxCommentLen))
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return []events.Payload{events.DealCommented{CommentID: commentID, Text: text}}, nil
}

// AddTask decides that task taskID is created on the deal. The command
// appends it with the task's own TaskCreated (see CreateTask), so a task
// can never be created on a deal that is concurrently deleted.
func (d *Deal) AddTask(c Caller, taskID uuid.UUID) ([]events.Payload, error) {
	if taskID == uuid.Nil {
		return nil, fmt.Errorf("aggregates.Deal.AddTask: task id is required")
	}
	if err := d.exists(); err != nil {
		return nil, err
	}
	if err := c.mayManageTasksOf(d); err != nil {
		return nil, err
	}
	return []events.Payload{events.DealTaskAdded{TaskID: taskID}}, nil
}

// exists answers 404 DEAL_NOT_FOUND for a deal that was never created or
// was deleted.
func (d *Deal) exists() error {
	if d == nil || d.ID == uuid.Nil || d.Deleted {
		return crm.Errorf(crm.CodeDealNotFound, "deal not found")
	}
	return nil
}

// mayManageTasksOf answers 403 FORBIDDEN when the caller may not create,
// update or delete tasks of deal: members only on their own deals.
func (c Caller) mayManageTasksOf(d *Deal) error {
	if !c.CanActOn(d.OwnerID) {
		return crm.Errorf(crm.CodeForbidden, "a %s may only manage tasks of their own deals", c.roleName())
	}
	return nil
}

// amount checks a deal amount: 0 to crm.MaxAmount.
func (p *problems) amount(a crm.Amount) {
	switch {
	case a < 0:
		p.add("amount", "must not be negative")
	case a > crm.MaxAmount:
		p.add("amount", "must be at most "+crm.MaxAmount.String())
	}
}

// currency checks and upper-cases an ISO 4217 code.
func (p *problems) currency(s string) string {
	code, err := crm.NormalizeCurrency(s)
	if err != nil {
		p.add("currency", "must be an ISO 4217 currency code")
		return s
	}
	return code
}

package apiclient_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"example.com/crm/internal/apiclient"
	"example.com/crm/internal/apitest"
)

// TestClientDrivesTheServer walks a newcomer's first requests through the
// generated client against a real server: register, create a contact and
// a deal, move the deal's stage, read its timeline. A document change that
// makes the generated code wrong for the server (a renamed field, a
// response a generator reads as another shape) fails here.
func TestClientDrivesTheServer(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	ctx := context.Background()

	anon, err := apiclient.NewClientWithResponses(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := anon.RegisterWithResponse(ctx, nil, apiclient.RegisterRequest{
		Email: "newcomer@example.com", Password: "correct horse battery", Name: "New Comer",
		OrganizationName: "Acme",
	})
	if err != nil {
		t.Fatal(err)
	}
	if reg.JSON201 == nil {
		t.Fatalf("register: %d %s", reg.StatusCode(), reg.Body)
	}
	org := reg.JSON201.Organization.Id.String()
	c, err := apiclient.NewClientWithResponses(s.URL,
		apiclient.WithRequestEditorFn(apiclient.Auth(reg.JSON201.AccessToken, org)))
	if err != nil {
		t.Fatal(err)
	}

	// X-Organization-Id is a security scheme, not a parameter: the request
	// editor sends it. Without it the server refuses the request.
	bare, err := apiclient.NewClientWithResponses(s.URL,
		apiclient.WithRequestEditorFn(apiclient.Auth(reg.JSON201.AccessToken, "")))
	if err != nil {
		t.Fatal(err)
	}
	missing, err := bare.CreateContactWithResponse(ctx, nil, apiclient.CreateContactRequest{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if missing.StatusCode() != http.StatusBadRequest || missing.ApplicationproblemJSON400 == nil {
		t.Fatalf("contact without X-Organization-Id: %d %s, want 400 ORGANIZATION_REQUIRED", missing.StatusCode(), missing.Body)
	}

	contact, err := c.CreateContactWithResponse(ctx, nil, apiclient.CreateContactRequest{Name: "Ada Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if contact.JSON201 == nil {
		t.Fatalf("create contact: %d %s", contact.StatusCode(), contact.Body)
	}

	var amount apiclient.AmountInput
	if err := amount.FromAmountInput1("1500.00"); err != nil {
		t.Fatal(err)
	}
	deal, err := c.CreateDealWithResponse(ctx, nil, apiclient.CreateDealRequest{
		ContactId: contact.JSON201.Id, Title: "Analytical engine", Amount: amount, Currency: "usd",
	})
	if err != nil {
		t.Fatal(err)
	}
	if deal.JSON201 == nil {
		t.Fatalf("create deal: %d %s", deal.StatusCode(), deal.Body)
	}
	d := deal.JSON201
	if d.Amount != "1500.00" || d.Currency != "USD" || d.Stage != apiclient.DealStageQualification {
		t.Errorf("created deal = %+v, want 1500.00 USD at qualification", d)
	}

	stage := apiclient.DealStageProposal
	ifMatch := strconv.Quote(strconv.Itoa(d.Version))
	moved, err := c.UpdateDealWithResponse(ctx, d.Id, &apiclient.UpdateDealParams{IfMatch: &ifMatch},
		apiclient.UpdateDealRequest{Stage: &stage})
	if err != nil {
		t.Fatal(err)
	}
	if moved.JSON200 == nil {
		t.Fatalf("move stage: %d %s", moved.StatusCode(), moved.Body)
	}
	if moved.JSON200.Stage != apiclient.DealStageProposal || moved.JSON200.Version != d.Version+1 {
		t.Errorf("moved deal: stage %s version %d, want proposal %d", moved.JSON200.Stage, moved.JSON200.Version, d.Version+1)
	}

	order := apiclient.ListActivitiesParamsOrderAsc
	timeline, err := c.ListActivitiesWithResponse(ctx, d.Id, &apiclient.ListActivitiesParams{Order: &order})
	if err != nil {
		t.Fatal(err)
	}
	if timeline.JSON200 == nil {
		t.Fatalf("timeline: %d %s", timeline.StatusCode(), timeline.Body)
	}
	items := timeline.JSON200.Items
	if len(items) != 2 || timeline.JSON200.Total != 2 {
		t.Fatalf("timeline has %d items (total %d), want deal_created and stage_changed: %s", len(items), timeline.JSON200.Total, timeline.Body)
	}
	created, changed := items[0], items[1]
	if created.Type != apiclient.ActivityTypeDealCreated || created.Payload.Title == nil || *created.Payload.Title != "Analytical engine" {
		t.Errorf("first activity = %s %+v, want deal_created with the title", created.Type, created.Payload)
	}
	if changed.Type != apiclient.ActivityTypeStageChanged || changed.Payload.Old == nil || changed.Payload.New == nil ||
		*changed.Payload.Old != "qualification" || *changed.Payload.New != "proposal" {
		t.Errorf("second activity = %s %+v, want stage_changed qualification → proposal", changed.Type, changed.Payload)
	}
	if changed.AuthorId == nil || *changed.AuthorId != reg.JSON201.User.Id {
		t.Errorf("stage change author = %v, want the registered user %s", changed.AuthorId, reg.JSON201.User.Id)
	}
}

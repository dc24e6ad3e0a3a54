package app_test

import (
	"fmt"
	"net/http"
	"testing"

	"example.com/crm/internal/apitest"
)

// Two server processes on one database: a query on one reflects every
// command acknowledged by the other before it began, whichever process
// runs the projectors (each projector is active in one of them at a time,
// woken across processes by NOTIFY).
func TestReadYourWritesAcrossServerProcesses(t *testing.T) {
	t.Parallel()
	a := apitest.Start(t, apitest.Options{})
	b := apitest.Start(t, apitest.Options{DatabaseURL: a.DatabaseURL})
	u := a.Register(t)
	for i := range 20 {
		writer, reader := a, b
		if i%2 == 1 {
			writer, reader = b, a
		}
		r := writer.As(u, post("/contacts", obj{"name": fmt.Sprintf("contact %d", i)}))
		expect(t, r, http.StatusCreated)
		id := r.JSON(t)["id"].(string)
		r = reader.As(u, get("/contacts?page_size=1"))
		expect(t, r, http.StatusOK)
		body := r.JSON(t)
		if body["total"] != float64(i+1) || body["items"].([]any)[0].(obj)["id"] != id {
			t.Fatalf("round %d: the other process does not show the new contact first: %s", i, r.Body)
		}
	}
}

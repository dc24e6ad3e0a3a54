package app_test

import (
	"net/http"
	"testing"

	"example.com/crm/httpapi/openapi"
	"example.com/crm/internal/apitest"
)

// The OpenAPI document describes exactly the routes the server serves.
func TestOpenAPIDocumentMatchesTheServer(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{})
	openapi.CheckRoutes(t, s.App.Router())

	r := s.Do(apitest.Request{Method: http.MethodGet, Path: "/openapi.json"})
	expect(t, r, http.StatusOK)
	if r.JSON(t)["openapi"] == nil {
		t.Fatalf("/openapi.json: %s", r.Body)
	}
	expect(t, s.Do(apitest.Request{Method: http.MethodGet, Path: "/docs"}), http.StatusOK)
}

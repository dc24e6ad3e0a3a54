package app_test

import (
	"net/http"
	"testing"

	"example.com/crm/internal/apitest"
)

// obj is a decoded JSON object.
type obj = map[string]any

func post(path string, body any) apitest.Request {
	return apitest.Request{Method: http.MethodPost, Path: "/api/v1" + path, Body: body}
}

func patch(path string, body any) apitest.Request {
	return apitest.Request{Method: http.MethodPatch, Path: "/api/v1" + path, Body: body}
}

func get(path string) apitest.Request {
	return apitest.Request{Method: http.MethodGet, Path: "/api/v1" + path}
}

func del(path string) apitest.Request {
	return apitest.Request{Method: http.MethodDelete, Path: "/api/v1" + path}
}

// header returns req with one more header.
func header(req apitest.Request, k, v string) apitest.Request {
	h := map[string]string{}
	for hk, hv := range req.Header {
		h[hk] = hv
	}
	h[k] = v
	req.Header = h
	return req
}

// expect fails the test unless r has status (and, for errors, code).
func expect(t testing.TB, r *apitest.Response, status int, code ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	if len(code) > 0 && r.Code() != code[0] {
		t.Fatalf("code %q, want %q: %s", r.Code(), code[0], r.Body)
	}
}

// newContact creates a contact as u and returns its id.
func newContact(t testing.TB, s *apitest.Server, u apitest.User, body obj) string {
	t.Helper()
	if body == nil {
		body = obj{"name": "Ada Lovelace", "email": "ada@example.com"}
	}
	r := s.As(u, post("/contacts", body))
	expect(t, r, http.StatusCreated)
	return r.JSON(t)["id"].(string)
}

// newDeal creates a deal as u for contact and returns its id.
func newDeal(t testing.TB, s *apitest.Server, u apitest.User, contact string, extra obj) string {
	t.Helper()
	body := obj{"contact_id": contact, "title": "Big deal", "amount": "100.00", "currency": "USD"}
	for k, v := range extra {
		body[k] = v
	}
	r := s.As(u, post("/deals", body))
	expect(t, r, http.StatusCreated)
	return r.JSON(t)["id"].(string)
}

// Package apiclient is a Go client of the API generated from its OpenAPI
// document (httpapi/openapi/openapi.json) by oapi-codegen, with the types
// and the client (client.gen.go, never edited by hand):
//
//	go generate ./internal/apiclient
//
// which runs
//
//	go tool oapi-codegen -config oapi-codegen.yaml ../../httpapi/openapi/openapi.json
//
// with the oapi-codegen version pinned in go.mod (a `tool` line).
//
// It exists so that a schema or operation name that breaks code generators
// fails CI: TestGeneratedClientIsUpToDate regenerates the code from the
// embedded document and compares, and the package's end-to-end test drives
// a server through the client. Applications may use it too.
//
// Authentication is a request editor, since the document declares it as
// security schemes, not parameters: the bearer token on every
// authenticated request, X-Organization-Id as well on org-scoped ones (see
// Auth).
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../httpapi/openapi/openapi.json

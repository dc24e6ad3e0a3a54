package httpapi

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"

	"example.com/crm"
)

// ProblemListener wraps the server's listener so that the few answers
// net/http writes by itself, before any handler runs, are problems like
// every other error: a request whose headers hold control bytes or are
// malformed (400), headers too large (431), an unknown transfer coding
// (501). net/http writes each of those as one plain-text write of a fixed
// shape on the raw connection and closes it; the connection returned
// here recognizes exactly that shape and writes the same status as
// application/problem+json instead. Responses of handlers never have that
// shape (net/http sorts their headers: Connection comes before
// Content-Type), so they pass untouched.
func ProblemListener(ln net.Listener) net.Listener { return problemListener{ln} }

type problemListener struct{ net.Listener }

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return problemConn{c}, nil
}

type problemConn struct{ net.Conn }

// serverErrorHeaders is what net/http's own error answers carry between
// their status line and their plain-text body.
const serverErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c problemConn) Write(p []byte) (int, error) {
	if body, ok := problemFromServerError(p); ok {
		if _, err := c.Conn.Write(body); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// serverErrorCode is the code of a status net/http answers by itself
// (each listed at /docs/errors, like every code); ok is false for others.
func serverErrorCode(status int) (code crm.Code, ok bool) {
	switch status {
	case http.StatusBadRequest:
		return crm.CodeValidation, true
	case http.StatusRequestHeaderFieldsTooLarge:
		return crm.CodeHeadersTooLarge, true
	case http.StatusNotImplemented:
		return crm.CodeNotImplemented, true
	}
	return "", false
}

// problemFromServerError rewrites one of net/http's own error answers
// ("HTTP/1.1 400 Bad Request" + serverErrorHeaders + text) as a problem
// answer; ok is false for anything else.
func problemFromServerError(p []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) || len(p) < len(proto)+3 {
		return nil, false
	}
	head, text, found := bytes.Cut(p, []byte(serverErrorHeaders))
	if !found || bytes.Contains(head, []byte("\r\n")) {
		return nil, false // the shape is the status line, then these headers
	}
	status, err := strconv.Atoi(string(head[len(proto) : len(proto)+3]))
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	code, ok := serverErrorCode(status)
	if !ok {
		return nil, false
	}
	detail := string(text)
	if _, after, ok := strings.Cut(detail, ": "); ok {
		detail = after // "400 Bad Request: invalid header value" → the reason
	}
	prob, err := json.Marshal(Problem{
		Type: "/docs/errors#" + string(code), Title: http.StatusText(status), Status: status,
		Detail: detail, Code: code, RequestID: newRequestID(),
	})
	if err != nil {
		return nil, false
	}
	prob = append(prob, '\n')
	out := proto + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(prob)) + "\r\n" +
		"Content-Type: application/problem+json\r\n" +
		"X-Content-Type-Options: nosniff\r\n\r\n"
	return append([]byte(out), prob...), true
}

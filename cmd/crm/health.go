package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthCommand is `crm health`: GET /health on the server this
// configuration describes (HTTP_ADDR, on the loopback interface when the
// address names no host) and succeed only on 200. It is the container's
// healthcheck, since the image has no curl.
func healthCommand(ctx context.Context, httpAddr string, out io.Writer) error {
	u, err := healthURL(httpAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %s", u, resp.Status, body)
	}
	fmt.Fprintf(out, "healthy: %s\n", u)
	return nil
}

// healthURL turns a listen address (":8000", "0.0.0.0:8000",
// "127.0.0.1:8000", "[::]:8000") into the URL of its /health.
func healthURL(httpAddr string) (string, error) {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return "", fmt.Errorf("health: HTTP_ADDR %q: %w", httpAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}

package sdk

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

// listen serves the socket with handle, one goroutine per connection.
func listen(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return sock
}

// TestRequestsGetAConnectionEachAndAnswersDecode: the client writes one
// HTTP/1.1 request per connection, asks the agent to close it, and decodes
// both answers and the agent's errors.
func TestRequestsGetAConnectionEachAndAnswersDecode(t *testing.T) {
	seen := make(chan string, 4)
	sock := listen(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		seen <- req.Method + " " + req.URL.Path + " close=" + map[bool]string{true: "yes", false: "no"}[req.Close]
		body := `{"error":{"code":"no_seat","message":"all 3 seats are in use"}}`
		status := "409 Conflict"
		if req.URL.Path == "/v1/status" {
			body, status = `{"enrolled":true,"device":"AAAA-BBBB"}`, "200 OK"
		}
		c.Write([]byte("HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
			strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	})
	c := New(sock)
	st, err := c.Status(context.Background())
	if err != nil || !st.Enrolled {
		t.Fatalf("status: %+v, %v", st, err)
	}
	_, err = c.Checkout(context.Background(), "cad")
	if protocol.CodeOf(err) != protocol.CodeNoSeat || !strings.Contains(err.Error(), "all 3 seats") {
		t.Fatalf("checkout: %v, want the agent's no_seat", err)
	}
	for _, want := range []string{"GET /v1/status close=yes", "POST /v1/checkout close=yes"} {
		if got := <-seen; got != want {
			t.Fatalf("agent saw %q, want %q", got, want)
		}
	}
}

// TestCancelEndsAWaitingRequest: an agent that has not answered yet (a
// checkout waiting for a seat) is left as soon as the context ends.
func TestCancelEndsAWaitingRequest(t *testing.T) {
	sock := listen(t, func(c net.Conn) {
		defer c.Close()
		http.ReadRequest(bufio.NewReader(c))
		c.Read(make([]byte, 1)) // never answers; returns when the client closes
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := New(sock).Checkout(ctx, "cad", WithWait(time.Hour))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled checkout did not return")
	}
}

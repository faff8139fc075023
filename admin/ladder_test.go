package admin

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLadderMarksRetransmissions: a request sent twice (same branch, same
// socket) shows as two arrows, the second marked, and the server's
// re-sent answer too; columns are the phone and Parley.
func TestLadderMarksRetransmissions(t *testing.T) {
	e := startEnv(t, testConfig(t))
	c, err := net.Dial("udp", e.sipAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.ReplaceAll(strings.ReplaceAll(options("retrans-1"), "LOCAL", c.LocalAddr().String()), "\n", "\r\n")
	buf := make([]byte, 4096)
	for range 2 {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("no answer: %v", err)
		}
	}
	var d ladderDoc
	e.getJSON("/api/calls/retrans-1/messages", &d)
	if len(d.Parties) != 2 || d.Parties[0] != "udp:"+c.LocalAddr().String() || d.Parties[1] != "parley" {
		t.Errorf("parties %q", d.Parties)
	}
	var got []string
	for _, m := range d.Messages {
		l := m.Label
		if m.Retransmission {
			l += "*"
		}
		got = append(got, l)
		if m.Method != "" && (m.From != 0 || m.To != 1) || m.Status != 0 && (m.From != 1 || m.To != 0) {
			t.Errorf("message %d %s goes %d→%d", m.Index, m.Label, m.From, m.To)
		}
	}
	if strings.Join(got, ",") != "OPTIONS,200 OK,OPTIONS*,200 OK*" {
		t.Errorf("ladder %q, want OPTIONS, 200 OK, then both again marked", got)
	}
	var list struct{ Calls []callDoc }
	e.getJSON("/api/calls/recent?q=retrans", &list)
	if len(list.Calls) != 1 || list.Calls[0].Method != "OPTIONS" || list.Calls[0].Status != 200 || list.Calls[0].From != "sip:probe@example.test" {
		t.Errorf("recent calls: %+v", list.Calls)
	}
	if code, _ := e.do("GET", "/api/calls/nope/messages", ""); code != 404 {
		t.Errorf("unknown call: %d, want 404", code)
	}
}

// TestEventsStream: /api/events sends the counts at once and again when a
// registration appears.
func TestEventsStream(t *testing.T) {
	e := startEnv(t, testConfig(t))
	req, _ := http.NewRequest("GET", e.base+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan eventStatus, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var st eventStatus
				if json.Unmarshal([]byte(data), &st) == nil {
					events <- st
				}
			}
		}
		close(events)
	}()
	next := func() eventStatus {
		t.Helper()
		select {
		case st, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			return st
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
		}
		return eventStatus{}
	}
	if st := next(); st.Registrations != 0 {
		t.Fatalf("first event %+v", st)
	}
	putBinding(t, e, "alice", "sip:alice@127.0.0.9:4000")
	if st := next(); st.Registrations != 1 {
		t.Fatalf("after a registration: %+v", st)
	}
}
